"""In-memory transport: a broker and clients with the Kafka clients' interface, no network.

Used by the library's embedded default, `d-a demo` and the fast unit tests. The broker keeps
every message (no retention) per topic partition; an offset is the message's index in its
partition. Consumer groups are kept simple: per group and topic, one member is active and owns
all partitions; another member of the same group subscribing to that topic stands by and takes
the topic over (from the group's committed offsets) once the active member has stopped.

All broker operations are thread-safe. Waiting consumers sleep until data arrives (a
`threading.Condition` for the sync consumer, a future resolved through the consumer's event
loop for the async one), so a fetch returns as soon as there is data and never busy-spins.
A single client object, like a Kafka client, is meant to be used by one thread or task at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from ..errors import KafkaConnectionError
from .connection import ConnectionState
from .message import Headers, KafkaMessage, TopicPartition, decode_value, encode_value, exact_bytes, key_bytes

__all__ = [
    "AsyncMemoryConsumer",
    "AsyncMemoryGlobalReader",
    "AsyncMemoryProducer",
    "InMemoryBroker",
    "MemoryConsumer",
    "MemoryGlobalReader",
    "MemoryProducer",
    "MemoryTransport",
]

logger = logging.getLogger("d_a.kafka.memory")

Record = tuple[int, bytes | None, bytes | None, int, Headers]
"""One stored message: (offset, key, value, timestamp_ms, headers)."""
_Outgoing = tuple[bytes | None, bytes, Headers]  # a message being produced: (key, value, headers)

OFFSET_RESETS = ("earliest", "latest")
GLOBAL_POLL_RECORDS = 10_000  # a global reader's fetch: global topics are small, read them in few fetches

_Client = TypeVar("_Client", bound="_AsyncContext")


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
        return [_message(TopicPartition(topic, p), record) for p, log in enumerate(logs) for record in log]

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next message will get (= number of messages)."""
        with self._cond:
            return {partition: len(log) for partition, log in enumerate(self._topic_logs(topic))}

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
        decoded = [(tp, [_message(tp, record) for record in records]) for tp, records in batches]
        return decoded, seq, deadline - time.monotonic()

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` (next offsets to read) for the group."""
        self._check_open()
        if offsets:
            self.broker.commit(self.group_id, offsets)

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
                self.positions.update(positions)
                self._unclaimed.remove(topic)
                logger.debug("group %s: consumer takes topic %s (%d partitions)", self.group_id, topic, len(positions))

    def _check_open(self) -> None:
        if self.closed or not self.started:
            raise KafkaConnectionError("the consumer is closed" if self.closed else "the consumer is not started")


def _message(tp: TopicPartition, record: Record) -> KafkaMessage:
    offset, key, raw, timestamp_ms, headers = record
    value, error = decode_value(raw)
    return KafkaMessage(tp.topic, tp.partition, offset, key, value, timestamp_ms, error, raw, headers)


def _deadline(timeout_ms: int) -> float:
    return time.monotonic() + max(0, timeout_ms) / 1000


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
    ) -> None:
        self._core = _ConsumerCore(topics, broker, group_id, auto_offset_reset, max_poll_records)
        self.topics = self._core.topics
        self._core.start()

    @property
    def connected(self) -> bool:
        return self._core.connected

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None) -> dict[TopicPartition, list[KafkaMessage]]:
        """Messages per partition, as soon as there are any, or {} after `timeout_ms`."""
        deadline = _deadline(timeout_ms)
        while True:
            batches, seq, remaining = self._core.fetch(max_records, deadline)
            if batches or remaining <= 0:
                return dict(batches)
            self._core.broker._wait(seq, remaining)

    def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._core.commit(offsets)

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        return self._core.lag_info()

    def close(self) -> None:
        self._core.stop()


class _AsyncContext:
    """`async with client:` starts it and stops it, as the aiokafka-based clients allow."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def __aenter__(self: _Client) -> _Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class AsyncMemoryConsumer(_AsyncContext):
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

    @property
    def connected(self) -> bool:
        return self._core.connected

    async def start(self) -> None:
        self._core.start()

    async def stop(self) -> None:
        self._core.stop()

    async def getmany(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[KafkaMessage]:
        """Messages fetched earlier by `getone` first; otherwise new ones as soon as there are any,
        or [] after `timeout_ms`."""
        await asyncio.sleep(0)  # like a network client, let other tasks run between fetches
        if self._pending:
            count = min(len(self._pending), max_records or self._core.max_poll_records)
            return [self._pending.popleft() for _ in range(count)]
        deadline = _deadline(timeout_ms)
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
            messages += [_message(tp, record) for record in records]
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
        deadline = _deadline(timeout_ms)
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
        self._core.closed = True


class AsyncMemoryGlobalReader(_AsyncContext):
    """Async global reader (see transport.AsyncGlobalReader)."""

    def __init__(
        self, topics: Sequence[str], broker: InMemoryBroker, *, max_poll_records: int = GLOBAL_POLL_RECORDS
    ) -> None:
        self._core = _GlobalReaderCore(topics, broker, max_poll_records)
        self.topics = self._core.topics

    @property
    def connected(self) -> bool:
        return self._core.connected

    async def start(self) -> None:
        self._core.start()

    async def stop(self) -> None:
        self._core.closed = True

    async def getmany(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        deadline = _deadline(timeout_ms)
        while True:
            messages, seq, remaining = self._core.fetch(deadline)
            if messages or remaining <= 0:
                return messages
            await self._core.broker._wait_async(seq, remaining)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return self._core.end_offsets()

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._core.positions)


class _ProducerCore:
    """What the sync and the async producer share: encoding, state, retry schedule."""

    def __init__(self, broker: InMemoryBroker, retries: int, retry_backoff_ms: int) -> None:
        self.broker = broker
        self.retries = retries
        self.retry_backoff = retry_backoff_ms / 1000
        self.started = False
        self.closed = False

    @property
    def connected(self) -> bool:
        return self.started and not self.closed and self.broker.available

    def start(self) -> None:
        self.broker._check_available()
        self.started = True

    def payload(self, items: Iterable[tuple[bytes | str | None, Any]], headers: Headers = ()) -> deque[_Outgoing]:
        """(key, value, headers) as bytes: values as UTF-8 JSON (bytes as they are), str keys as UTF-8."""
        if self.closed or not self.started:
            raise KafkaConnectionError("the producer is closed" if self.closed else "the producer is not started")
        return deque((key_bytes(key), _value_bytes(value), headers) for key, value in items)

    def send(self, topic: str, payload: deque[_Outgoing]) -> None:
        """One attempt; what was sent leaves `payload`, so a retry sends only the rest."""
        while payload:
            key, value, headers = payload[0]
            self.broker.produce(topic, value, key, headers=headers)
            payload.popleft()

    def retry_delays(self) -> Iterator[float | None]:
        """The pause before each retry, then None: the last attempt's error is raised."""
        for _ in range(self.retries):
            yield self.retry_backoff
        yield None


def _value_bytes(value: Any) -> bytes:
    return exact_bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else encode_value(value)


class MemoryProducer:
    """Sync producer; `send` retries `retries` times while the broker is unavailable, then raises."""

    def __init__(self, broker: InMemoryBroker, *, retries: int = 3, retry_backoff_ms: int = 20) -> None:
        self._core = _ProducerCore(broker, retries, retry_backoff_ms)
        self._core.start()

    @property
    def connected(self) -> bool:
        return self._core.connected

    def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        payload = self._core.payload([(key, value)], headers)
        for delay in self._core.retry_delays():
            try:
                return self._core.send(topic, payload)
            except KafkaConnectionError:
                if delay is None:
                    raise
                time.sleep(delay)

    def close(self) -> None:
        self._core.closed = True


class AsyncMemoryProducer(_AsyncContext):
    """Async producer; sends retry `retries` times while the broker is unavailable, then raise."""

    def __init__(self, broker: InMemoryBroker, *, retries: int = 3, retry_backoff_ms: int = 20) -> None:
        self._core = _ProducerCore(broker, retries, retry_backoff_ms)

    @property
    def connected(self) -> bool:
        return self._core.connected

    async def start(self) -> None:
        self._core.start()

    async def stop(self) -> None:
        self._core.closed = True

    async def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        await self.send_many(topic, [(key, value)], headers=headers)

    async def send_many(
        self, topic: str, items: Sequence[tuple[bytes | str | None, Any]], *, headers: Headers = ()
    ) -> None:
        """Send (key, value) pairs in order, each with `headers`; a retry sends only those not sent yet."""
        payload = self._core.payload(items, headers)
        for delay in self._core.retry_delays():
            try:
                return self._core.send(topic, payload)
            except KafkaConnectionError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)


class MemoryTransport:
    """The `Transport` of the in-memory broker: every client it makes shares `broker`."""

    name = "memory"

    def __init__(
        self,
        broker: InMemoryBroker | None = None,
        *,
        group_id: str = "data_analysis_group",
        auto_offset_reset: str = "earliest",
        max_poll_records: int = 500,
    ) -> None:
        self.broker = broker if broker is not None else InMemoryBroker()
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.max_poll_records = max_poll_records

    def async_consumer(self, topics: Sequence[str], *, group_id: str | None = None) -> AsyncMemoryConsumer:
        return AsyncMemoryConsumer(topics, self.broker, **self._consumer_options(group_id))

    def async_producer(self) -> AsyncMemoryProducer:
        return AsyncMemoryProducer(self.broker)

    def consumer(self, topics: Sequence[str], *, group_id: str | None = None) -> MemoryConsumer:
        return MemoryConsumer(topics, self.broker, **self._consumer_options(group_id))

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self.broker)

    def async_global_reader(self, topics: Sequence[str]) -> AsyncMemoryGlobalReader:
        return AsyncMemoryGlobalReader(topics, self.broker)

    def global_reader(self, topics: Sequence[str]) -> MemoryGlobalReader:
        return MemoryGlobalReader(topics, self.broker)

    def _consumer_options(self, group_id: str | None) -> dict[str, Any]:
        return {
            "group_id": group_id or self.group_id,
            "auto_offset_reset": self.auto_offset_reset,
            "max_poll_records": self.max_poll_records,
        }
