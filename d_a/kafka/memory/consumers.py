"""The in-memory consumers: the sync and async faces of one consumer core."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ...errors import KafkaConnectionError
from ..assignment import AssignedPartition, StartChooser, choose_starts
from ..connection import ConnectionState
from ..message import KafkaMessage, TopicPartition
from .broker import OFFSET_RESETS, InMemoryBroker, as_message, deadline_after

__all__ = ["AsyncMemoryConsumer", "MemoryConsumer"]

logger = logging.getLogger("d_a.kafka.memory")

_Client = TypeVar("_Client", bound="_AsyncFace")


class _ConsumerCore:
    """What the sync and the async consumer share: membership, positions, fetching, commits."""

    def __init__(
        self,
        topics: Sequence[str],
        broker: InMemoryBroker,
        group_id: str,
        auto_offset_reset: str,
        max_poll_records: int,
    ) -> None:
        if auto_offset_reset not in OFFSET_RESETS:
            raise ValueError(f"auto_offset_reset must be one of {OFFSET_RESETS}, got {auto_offset_reset!r}")
        if max_poll_records < 1:
            raise ValueError(f"max_poll_records must be >= 1, got {max_poll_records}")
        self.topics = list(dict.fromkeys(topics))
        self.broker = broker
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.max_poll_records = max_poll_records
        self.positions: dict[TopicPartition, int] = {}
        self.choose_start: StartChooser | None = None
        self.started = False
        self.closed = False
        self._unclaimed = list(self.topics)
        self._rotation = 0
        self.state = ConnectionState(f"in-memory consumer of {', '.join(self.topics)}")

    @property
    def connected(self) -> bool:
        return self.started and not self.closed and self.broker.available

    def start(self) -> None:
        """Join the group: become the active member of every topic no other member holds."""
        if self.closed:
            raise KafkaConnectionError("the consumer is closed")
        if self.started:
            return
        self.broker._check_available()
        self._claim_free_topics()
        self.started = True

    def stop(self) -> None:
        """Leave the group; the group's other members can then take the topics over."""
        if self.started and not self.closed:
            self.broker._release(self.group_id, self)
        self.closed = True

    def fetch(
        self, max_records: int | None, deadline: float
    ) -> tuple[list[tuple[TopicPartition, list[KafkaMessage]]], int, float]:
        """Decoded messages per partition (possibly none), the broker's change number to wait on
        (read first, so a change during this fetch ends the wait at once), and the seconds left."""
        self._check_open()
        seq = self.broker._seq
        if not self.broker.available:
            self.state.down(KafkaConnectionError("in-memory broker unavailable"))
            return [], seq, deadline - time.monotonic()
        self.state.up()
        if self._unclaimed:
            self._claim_free_topics()
        order = list(self.positions.items())
        if order:
            self._rotation = (self._rotation + 1) % len(order)
            order = order[self._rotation :] + order[: self._rotation]
        batches = self.broker._fetch(order, max_records or self.max_poll_records)
        for tp, records in batches:
            self.positions[tp] = records[-1][0] + 1
        decoded = [(tp, [as_message(tp, record) for record in records]) for tp, records in batches]
        return decoded, seq, deadline - time.monotonic()

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` (next offsets to read) for the group."""
        self._check_open()
        if offsets:
            self.broker.commit(self.group_id, offsets)

    def partition_counts(self) -> dict[str, int]:
        """Per topic, its partition count."""
        return {topic: self.broker.partition_count(topic) for topic in self.topics}

    def lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        """Per topic and owned partition: position, committed, end offset and lag (end - position)."""
        info: dict[str, dict[int, dict[str, int | None]]] = {topic: {} for topic in self.topics}
        for tp, position in sorted(self.positions.items()):
            end = self.broker.end_offsets(tp.topic)[tp.partition]
            info[tp.topic][tp.partition] = {
                "position": position,
                "committed": self.broker.committed(self.group_id, tp),
                "end_offset": end,
                "lag": max(0, end - position),
            }
        return info

    def _claim_free_topics(self) -> None:
        for topic in list(self._unclaimed):
            positions = self.broker._claim(self.group_id, topic, self, self.auto_offset_reset)
            if positions is not None:
                since_ms = None if self.choose_start is None else self.choose_start.since_ms()
                assigned = {
                    tp: AssignedPartition(
                        self.broker.committed(self.group_id, tp),
                        0,
                        position,
                        None if since_ms is None else self.broker.offset_for_time(tp, since_ms),
                    )
                    for tp, position in positions.items()
                }
                chosen = choose_starts(self.choose_start, assigned)
                self.positions.update({tp: chosen.get(tp, position) for tp, position in positions.items()})
                self._unclaimed.remove(topic)
                logger.debug("group %s: consumer takes topic %s (%d partitions)", self.group_id, topic, len(positions))

    def _check_open(self) -> None:
        if self.closed or not self.started:
            raise KafkaConnectionError("the consumer is closed" if self.closed else "the consumer is not started")


class MemoryConsumer:
    """Sync consumer (kafka-python style): `poll` returns messages per partition.

    It joins its group when created (KafkaConnectionError if the broker is unavailable then).
    """

    def __init__(
        self,
        topics: Sequence[str],
        broker: InMemoryBroker,
        *,
        group_id: str = "data_analysis_group",
        auto_offset_reset: str = "latest",
        max_poll_records: int = 500,
        start_from: StartChooser | None = None,
    ) -> None:
        self._core = _ConsumerCore(topics, broker, group_id, auto_offset_reset, max_poll_records)
        self._core.choose_start = start_from
        self.topics = self._core.topics
        self._core.start()

    @property
    def connected(self) -> bool:
        return self._core.connected

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None) -> dict[TopicPartition, list[KafkaMessage]]:
        """Messages per partition, as soon as there are any, or {} after `timeout_ms`."""
        deadline = deadline_after(timeout_ms)
        while True:
            batches, seq, remaining = self._core.fetch(max_records, deadline)
            if batches or remaining <= 0:
                return dict(batches)
            self._core.broker._wait(seq, remaining)

    def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._core.commit(offsets)

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        return self._core.lag_info()

    def partition_counts(self) -> dict[str, int]:
        return self._core.partition_counts()

    def close(self) -> None:
        self._core.stop()


class _AsyncFace:
    """The async face of a client core: start, stop, connected, and `async with client:` (which
    starts and stops it, as the aiokafka-based clients allow)."""

    _core: Any

    @property
    def connected(self) -> bool:
        return bool(self._core.connected)

    async def start(self) -> None:
        self._core.start()

    async def stop(self) -> None:
        self._core.stop()

    async def __aenter__(self: _Client) -> _Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class AsyncMemoryConsumer(_AsyncFace):
    """Async consumer (aiokafka style): `getmany` returns a flat list; `getone` buffers the rest."""

    def __init__(
        self,
        topics: Sequence[str],
        broker: InMemoryBroker,
        *,
        group_id: str = "data_analysis_group",
        auto_offset_reset: str = "latest",
        max_poll_records: int = 500,
    ) -> None:
        self._core = _ConsumerCore(topics, broker, group_id, auto_offset_reset, max_poll_records)
        self.topics = self._core.topics
        self._pending: deque[KafkaMessage] = deque()

    def start_from(self, chooser: StartChooser) -> None:
        """Before `start`: `chooser` may name the offsets to read partitions from when they are assigned."""
        self._core.choose_start = chooser

    async def getmany(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[KafkaMessage]:
        """Messages fetched earlier by `getone` first; otherwise new ones as soon as there are any,
        or [] after `timeout_ms`."""
        await asyncio.sleep(0)  # like a network client, let other tasks run between fetches
        if self._pending:
            count = min(len(self._pending), max_records or self._core.max_poll_records)
            return [self._pending.popleft() for _ in range(count)]
        deadline = deadline_after(timeout_ms)
        while True:
            batches, seq, remaining = self._core.fetch(max_records, deadline)
            if batches or remaining <= 0:
                return [msg for _, messages in batches for msg in messages]
            await self._core.broker._wait_async(seq, remaining)

    async def getone(self, timeout_ms: int = 1000) -> KafkaMessage | None:
        """The next message, or None when none came within `timeout_ms`; the others of its fetch
        are kept for the next calls."""
        if not self._pending:
            self._pending.extend(await self.getmany(timeout_ms=timeout_ms))
        return self._pending.popleft() if self._pending else None

    async def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._core.commit(offsets)

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        return self._core.lag_info()

    def partition_counts(self) -> dict[str, int]:
        return self._core.partition_counts()
