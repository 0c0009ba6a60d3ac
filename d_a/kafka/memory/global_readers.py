"""The in-memory global readers: global topics read without a consumer group."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ...errors import KafkaConnectionError
from ..connection import ConnectionState
from ..message import KafkaMessage, TopicPartition
from .broker import InMemoryBroker, as_message, deadline_after
from .consumers import _AsyncFace

__all__ = ["AsyncMemoryGlobalReader", "MemoryGlobalReader"]

GLOBAL_POLL_RECORDS = 10_000  # a fetch: global topics are small, read them in few fetches


class _GlobalReaderCore:
    """What the sync and the async global reader share: every partition of the topics, read from
    offset 0 without a group (nothing is committed), and partitions that appear later."""

    def __init__(self, topics: Sequence[str], broker: InMemoryBroker, max_poll_records: int) -> None:
        self.topics = list(dict.fromkeys(topics))
        self.broker = broker
        self.max_poll_records = max_poll_records
        self.positions: dict[TopicPartition, int] = {}
        self.started = False
        self.closed = False
        self.state = ConnectionState(f"in-memory global reader of {', '.join(self.topics)}")

    @property
    def connected(self) -> bool:
        return self.started and not self.closed and self.broker.available

    def stop(self) -> None:
        self.closed = True

    def start(self) -> None:
        if self.closed:
            raise KafkaConnectionError("the global reader is closed")
        self.broker._check_available()
        self._assign_new()
        self.started = True

    def end_offsets(self) -> dict[TopicPartition, int]:
        self._check_open()
        self.broker._check_available()
        self._assign_new()
        ends = {topic: self.broker.end_offsets(topic) for topic in self.topics}
        return {tp: ends[tp.topic][tp.partition] for tp in self.positions}

    def fetch(self, deadline: float) -> tuple[list[KafkaMessage], int, float]:
        """Decoded messages (possibly none), the broker's change number to wait on, seconds left."""
        self._check_open()
        seq = self.broker._seq
        if not self.broker.available:
            self.state.down(KafkaConnectionError("in-memory broker unavailable"))
            return [], seq, deadline - time.monotonic()
        self.state.up()
        batches = self.broker._fetch(list(self.positions.items()), self.max_poll_records)
        messages = []
        for tp, records in batches:
            self.positions[tp] = records[-1][0] + 1
            messages += [as_message(tp, record) for record in records]
        return messages, seq, deadline - time.monotonic()

    def _assign_new(self) -> None:
        for topic in self.topics:
            for partition in range(self.broker.partition_count(topic)):
                self.positions.setdefault(TopicPartition(topic, partition), 0)

    def _check_open(self) -> None:
        if self.closed or not self.started:
            raise KafkaConnectionError(
                "the global reader is closed" if self.closed else "the global reader is not started"
            )


class MemoryGlobalReader:
    """Blocking global reader (see transport.GlobalReader); starts when created."""

    def __init__(
        self, topics: Sequence[str], broker: InMemoryBroker, *, max_poll_records: int = GLOBAL_POLL_RECORDS
    ) -> None:
        self._core = _GlobalReaderCore(topics, broker, max_poll_records)
        self.topics = self._core.topics
        self._lock = threading.Lock()
        self._core.start()

    @property
    def connected(self) -> bool:
        return self._core.connected

    def poll(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        deadline = deadline_after(timeout_ms)
        while True:
            with self._lock:
                messages, seq, remaining = self._core.fetch(deadline)
            if messages or remaining <= 0:
                return messages
            self._core.broker._wait(seq, remaining)

    def end_offsets(self) -> dict[TopicPartition, int]:
        with self._lock:
            return self._core.end_offsets()

    def positions(self) -> dict[TopicPartition, int]:
        with self._lock:
            return dict(self._core.positions)

    def close(self) -> None:
        self._core.stop()


class AsyncMemoryGlobalReader(_AsyncFace):
    """Async global reader (see transport.AsyncGlobalReader)."""

    def __init__(
        self, topics: Sequence[str], broker: InMemoryBroker, *, max_poll_records: int = GLOBAL_POLL_RECORDS
    ) -> None:
        self._core = _GlobalReaderCore(topics, broker, max_poll_records)
        self.topics = self._core.topics

    async def getmany(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        deadline = deadline_after(timeout_ms)
        while True:
            messages, seq, remaining = self._core.fetch(deadline)
            if messages or remaining <= 0:
                return messages
            await self._core.broker._wait_async(seq, remaining)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return self._core.end_offsets()

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._core.positions)
