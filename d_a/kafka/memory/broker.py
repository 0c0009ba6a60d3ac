"""InMemoryBroker: topics of partitions kept in memory, consumer groups, offsets, faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import ClassVar

from ...errors import KafkaConnectionError
from ..message import Headers, KafkaMessage, TopicPartition, decode_value, exact_bytes

__all__ = ["OFFSET_RESETS", "InMemoryBroker", "Record", "as_message", "deadline_after"]

logger = logging.getLogger("d_a.kafka.memory")

Record = tuple[int, bytes | None, bytes | None, int, Headers]
"""One stored message: (offset, key, value, timestamp_ms, headers)."""

OFFSET_RESETS = ("earliest", "latest")
OFFSET_RESETS = ("earliest", "latest")


class InMemoryBroker:
    """Topics, partitions, committed offsets per consumer group, and fault injection for tests.

    Topics are created on first use with `partitions` partitions (or explicitly by
    `create_topic`). While it is unavailable, `produce` and `commit` raise KafkaConnectionError and
    client fetches return nothing and report `connected` False, as the Kafka clients do during an
    outage; the inspection calls (`end_offsets`, `committed`, `topics`) always work.
    """

    _shared: ClassVar[InMemoryBroker | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls) -> InMemoryBroker:
        """The process's own broker, behind `transport="memory"` and `D_A_TRANSPORT=memory`: the
        services, producers and tests of one process meet there."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @classmethod
    def reset_shared(cls) -> None:
        """Forget the shared broker (the next `shared()` is a new, empty one)."""
        with cls._shared_lock:
            cls._shared = None

    def __init__(self, partitions: int = 3) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.default_partitions = partitions
        self._cond = threading.Condition(threading.Lock())
        self._logs: dict[str, list[list[Record]]] = {}
        self._round_robin: dict[str, int] = {}
        self._committed: dict[str, dict[TopicPartition, int]] = {}
        self._owners: dict[tuple[str, str], object] = {}
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._seq = 0
        self._available = True
        self._failing_commits = 0
        self._failing_produces: dict[str, int] = {}

    # topics and messages

    def create_topic(self, name: str, partitions: int | None = None) -> None:
        """Create `name` (no-op if it exists with the same partition count)."""
        count = partitions or self.default_partitions
        with self._cond:
            existing = self._logs.get(name)
            if existing is not None and len(existing) != count:
                raise ValueError(f"topic {name} already exists with {len(existing)} partitions, not {count}")
            self._topic_logs(name, count)

    def topics(self) -> list[str]:
        """Names of the topics that exist, sorted."""
        with self._cond:
            return sorted(self._logs)

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (created on first use)."""
        with self._cond:
            return len(self._topic_logs(topic))

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
        headers: Headers = (),
    ) -> tuple[int, int]:
        """Append one message; returns (partition, offset).

        The partition is `crc32(key) % partitions`, so one key (one station) always lands on the
        same partition and keeps its order; messages without a key go round robin.
        """
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        with self._cond:
            self._check_available()
            if self._failing_produces.get(topic):
                self._failing_produces[topic] -= 1
                raise KafkaConnectionError(f"produce to {topic} failed (injected fault)")
            logs = self._topic_logs(topic)
            if key is None:
                partition = self._round_robin.get(topic, 0)
                self._round_robin[topic] = (partition + 1) % len(logs)
            else:
                partition = zlib.crc32(key) % len(logs)
            log = logs[partition]
            offset = len(log)
            stored = None if value is None else exact_bytes(value)
            log.append((offset, key, stored, timestamp_ms, tuple(headers)))
            self._notify()
        return partition, offset

    def messages(self, topic: str) -> list[KafkaMessage]:
        """Every message of `topic` so far, partition by partition, decoded (for inspection)."""
        with self._cond:
            logs = [list(log) for log in self._topic_logs(topic)]
        return [as_message(TopicPartition(topic, p), record) for p, log in enumerate(logs) for record in log]

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next message will get (= number of messages)."""
        with self._cond:
            return {partition: len(log) for partition, log in enumerate(self._topic_logs(topic))}

    def offset_for_time(self, tp: TopicPartition, timestamp_ms: int) -> int:
        """The first offset of `tp` whose timestamp is at or after `timestamp_ms` (the end offset
        when there is none), as Kafka's `offsets_for_times` answers."""
        with self._cond:
            log = self._topic_logs(tp.topic)[tp.partition]
            return next((record[0] for record in log if record[3] >= timestamp_ms), len(log))

    # consumer groups

    def committed(self, group_id: str, tp: TopicPartition) -> int | None:
        """The group's committed offset (the next offset to read) for `tp`, None if never committed."""
        with self._cond:
            return self._committed.get(group_id, {}).get(tp)

    def commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Store `offsets` (next offsets to read) for `group_id`, replacing earlier ones."""
        with self._cond:
            self._check_available()
            if self._failing_commits:
                self._failing_commits -= 1
                raise KafkaConnectionError(f"commit of group {group_id} failed (injected fault)")
            group = self._committed.setdefault(group_id, {})
            for tp, offset in offsets.items():
                if offset < 0:
                    raise ValueError(f"offset for {tp} must be >= 0, got {offset}")
                group[TopicPartition(tp[0], tp[1])] = offset

    # fault injection

    @property
    def available(self) -> bool:
        return self._available

    def set_available(self, available: bool) -> None:
        """Simulate an outage (False) and the recovery (True); waiting consumers are woken."""
        with self._cond:
            self._available = available
            self._notify()
        logger.info("in-memory broker %s", "available" if available else "unavailable")

    def fail_commits(self, count: int) -> None:
        """Make the next `count` commits raise KafkaConnectionError."""
        with self._cond:
            self._failing_commits = count

    def fail_produces(self, topic: str, count: int) -> None:
        """Make the next `count` messages produced to `topic` raise KafkaConnectionError."""
        with self._cond:
            self._failing_produces[topic] = count

    # used by the clients of this module

    def _claim(self, group_id: str, topic: str, member: object, reset: str) -> dict[TopicPartition, int] | None:
        """Make `member` the group's active member for `topic` if there is none; its start positions."""
        with self._cond:
            self._check_available()
            owner = self._owners.setdefault((group_id, topic), member)
            if owner is not member:
                return None
            committed = self._committed.get(group_id, {})
            positions = {}
            for partition, log in enumerate(self._topic_logs(topic)):
                tp = TopicPartition(topic, partition)
                start = 0 if reset == "earliest" else len(log)
                positions[tp] = committed.get(tp, start)
            return positions

    def _release(self, group_id: str, member: object) -> None:
        """`member` leaves `group_id`: its topics are free for the group's other members."""
        with self._cond:
            for key in [key for key, owner in self._owners.items() if key[0] == group_id and owner is member]:
                del self._owners[key]
            self._notify()

    def _fetch(
        self, positions: Sequence[tuple[TopicPartition, int]], max_records: int
    ) -> list[tuple[TopicPartition, list[Record]]]:
        """Up to `max_records` records from `positions`, shared fairly among the partitions that have
        data (in the given order)."""
        with self._cond:
            self._check_available()
            logs = [(tp, start, self._logs[tp.topic][tp.partition]) for tp, start in positions]
            logs = [(tp, start, log) for tp, start, log in logs if start < len(log)]
            counts = _fair_shares([len(log) - start for _, start, log in logs], max_records)
            return [(tp, log[start : start + n]) for (tp, start, log), n in zip(logs, counts, strict=True) if n]

    def _wait(self, seq: int, timeout: float) -> None:
        """Block until the broker changed since `seq` (new data, outage, a member left) or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != seq, timeout)

    async def _wait_async(self, seq: int, timeout: float) -> None:
        """`_wait` for asyncio: suspends the task, not the thread."""
        loop = asyncio.get_running_loop()
        waiter = (loop, loop.create_future())
        with self._cond:
            if self._seq != seq:
                return
            self._async_waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)

    def _topic_logs(self, topic: str, partitions: int | None = None) -> list[list[Record]]:
        logs = self._logs.get(topic)
        if logs is None:
            logs = self._logs[topic] = [[] for _ in range(partitions or self.default_partitions)]
        return logs

    def _check_available(self) -> None:
        if not self._available:
            raise KafkaConnectionError("in-memory broker unavailable")

    def _notify(self) -> None:
        """Wake every waiting consumer (called with the lock held)."""
        self._seq += 1
        self._cond.notify_all()
        for loop, future in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that waiter's event loop is closed
                loop.call_soon_threadsafe(_resolve, future)
        self._async_waiters.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fair_shares(available: Sequence[int], budget: int) -> list[int]:
    """How many records to take from each partition: equal shares of `budget`, leftovers of short
    partitions going to the others, so one busy topic cannot starve a quiet one."""
    counts = [0] * len(available)
    active = [i for i, n in enumerate(available) if n > 0]
    while budget > 0 and active:
        share = max(1, budget // len(active))
        still = []
        for i in active:
            take = min(share, available[i] - counts[i], budget)
            counts[i] += take
            budget -= take
            if counts[i] < available[i]:
                still.append(i)
        active = still
    return counts


def as_message(tp: TopicPartition, record: Record) -> KafkaMessage:
    """The message a stored record is, as a consumer returns it."""
    offset, key, raw, timestamp_ms, headers = record
    value, error = decode_value(raw)
    return KafkaMessage(tp.topic, tp.partition, offset, key, value, timestamp_ms, error, raw, headers)


def deadline_after(timeout_ms: int) -> float:
    """The monotonic time `timeout_ms` from now."""
    return time.monotonic() + max(0, timeout_ms) / 1000
