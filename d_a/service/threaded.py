"""Async faces of the blocking clients, so the thread-based service runs the same engine.

Each blocking call runs in a worker thread (`asyncio.to_thread`); the kafka-python consumer is
itself thread-safe behind this adapter because only its own fetcher threads touch the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import KafkaConnectionError
from ..kafka.assignment import StartChooser
from ..kafka.message import Headers, KafkaMessage, TopicPartition
from ..kafka.transport import Consumer, GlobalReader, Producer

__all__ = ["ThreadedConsumer", "ThreadedGlobalReader", "ThreadedProducer"]


class ThreadedConsumer:
    """An AsyncConsumer over a blocking Consumer (created on `start`, in a worker thread, by
    `make(start_from)`)."""

    def __init__(self, make: Callable[[StartChooser | None], Consumer], topics: list[str]) -> None:
        self._make = make
        self.topics = topics
        self._consumer: Consumer | None = None
        self._choose_start: StartChooser | None = None

    def start_from(self, chooser: StartChooser) -> None:
        self._choose_start = chooser

    @property
    def connected(self) -> bool:
        return self._consumer is not None and self._consumer.connected

    async def start(self) -> None:
        self._consumer = await asyncio.to_thread(self._make, self._choose_start)

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await asyncio.to_thread(consumer.close)

    async def getmany(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[KafkaMessage]:
        assert self._consumer is not None
        batches = await asyncio.to_thread(self._consumer.poll, timeout_ms, max_records)
        return [message for messages in batches.values() for message in messages]

    async def getone(self, timeout_ms: int = 1000) -> KafkaMessage | None:
        messages = await self.getmany(timeout_ms=timeout_ms, max_records=1)
        return messages[0] if messages else None

    async def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        assert self._consumer is not None
        await asyncio.to_thread(self._consumer.commit_offsets, offsets)

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        return self._consumer.get_lag_info() if self._consumer is not None else {}

    def partition_counts(self) -> dict[str, int]:
        return self._consumer.partition_counts() if self._consumer is not None else {}


class ThreadedGlobalReader:
    """An AsyncGlobalReader over a blocking GlobalReader (created on `start`, in a worker thread).

    `positions` are those of the latest poll that returned, so they never run ahead of the
    messages handed over."""

    def __init__(self, make: Callable[[], GlobalReader], topics: list[str]) -> None:
        self._make = make
        self.topics = topics
        self._reader: GlobalReader | None = None
        self._positions: dict[TopicPartition, int] = {}

    @property
    def connected(self) -> bool:
        return self._reader is not None and self._reader.connected

    async def start(self) -> None:
        self._reader = await asyncio.to_thread(self._make)
        self._positions = self._reader.positions()

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.to_thread(reader.close)

    async def getmany(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        reader = self._started()
        messages = await asyncio.to_thread(reader.poll, timeout_ms)
        self._positions = reader.positions()
        return messages

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return await asyncio.to_thread(self._started().end_offsets)

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    def _started(self) -> GlobalReader:
        if self._reader is None:
            raise KafkaConnectionError("the global reader is not started")
        return self._reader


class ThreadedProducer:
    """An AsyncProducer over a blocking Producer (created on `start`, in a worker thread)."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._producer: Producer | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None and self._producer.connected

    async def start(self) -> None:
        self._producer = await asyncio.to_thread(self._make)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.close)

    async def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        producer = self._producer
        assert producer is not None
        await asyncio.to_thread(producer.send, topic, value, key, headers=headers)

    async def send_many(
        self, topic: str, items: Sequence[tuple[bytes | str | None, Any]], *, headers: Headers = ()
    ) -> None:
        for key, value in items:
            await self.send(topic, value, key, headers=headers)
