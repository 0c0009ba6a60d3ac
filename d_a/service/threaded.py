"""Async faces of the blocking clients, so the thread-based service runs the same engine.

Each blocking call runs in a worker thread (`asyncio.to_thread`); the kafka-python consumer is
itself thread-safe behind this adapter because only its own fetcher threads touch the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ..kafka.message import KafkaMessage, TopicPartition
from ..kafka.transport import Consumer, Producer

__all__ = ["ThreadedConsumer", "ThreadedProducer"]


class ThreadedConsumer:
    """An AsyncConsumer over a blocking Consumer (created on `start`, in a worker thread)."""

    def __init__(self, make: Any, topics: list[str]) -> None:
        self._make = make
        self.topics = topics
        self._consumer: Consumer | None = None

    @property
    def connected(self) -> bool:
        return self._consumer is not None and self._consumer.connected

    async def start(self) -> None:
        self._consumer = await asyncio.to_thread(self._make)

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

    async def send(self, topic: str, value: Any, key: bytes | str | None = None) -> None:
        assert self._producer is not None
        await asyncio.to_thread(self._producer.send, topic, value, key)

    async def send_many(self, topic: str, items: Sequence[tuple[bytes | str | None, Any]]) -> None:
        for key, value in items:
            await self.send(topic, value, key)
