"""Blocking Kafka clients on kafka-python, for the thread-based service.

Same guarantees as the async clients: connecting retries with backoff and then raises
KafkaConnectionError; a lost broker at run time is logged once and consumption resumes by itself.
In multi-consumer mode each topic has its own KafkaConsumer, polled by its own thread, so an idle
topic never throttles a busy one and a busy one never starves a quiet one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import kafka
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ..config import KafkaSettings
from ..errors import KafkaConnectionError
from .assignment import StartChooser, client_starts, partitions_moved, starts_unknown
from .client_config import (
    kafka_python_consumer_kwargs,
    kafka_python_producer_kwargs,
    resolve_connection,
)
from .connection import ConnectionState
from .consumer_plan import plan_consumers
from .message import Headers, KafkaMessage, TopicPartition, encode_value, key_bytes, messages_from

__all__ = ["KafkaConsumerClient", "KafkaProducerClient"]

logger = logging.getLogger("d_a.kafka")


class _ClosingNoise(logging.Filter):
    """Drops kafka-python's ERROR "Metadata refresh: failed Cancelled": closing a client cancels
    its pending metadata request, which is expected at every stop, not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        cancelled = len(args) == 1 and type(args[0]).__name__ in ("Cancelled", "CancelledError")
        return not (record.msg == "Metadata refresh: failed %s" and cancelled)


logging.getLogger("kafka.cluster").addFilter(_ClosingNoise())

BOOTSTRAP_TIMEOUT_MS = 5000  # per connection attempt; attempts are repeated with backoff
DEFAULT_SESSION_TIMEOUT_MS = 10_000  # kafka-python's
JOIN_GRACE_S = 10.0  # beyond a session timeout, what a consumer's group join may take
SEND_TIMEOUT_S = 30.0
FETCH_TIMEOUT_MS = 200  # a fetcher thread's poll; commits and stop requests wait at most this long
COMMIT_TIMEOUT_S = 30.0
QUEUED_BATCHES = 64  # fetched batches waiting for `poll`; fetchers pause when it is full


class _RebalanceListener(kafka.ConsumerRebalanceListener):
    """Knows which partitions moved to another member of the group (their offsets are not
    committed here any more: that would move the new owner's back), and seeks newly assigned ones
    where the consumer's owner chooses (a StartChooser; without one they start at the committed
    offset). Partitions a rebalance leaves with this consumer keep their position (kafka-python
    keeps it). kafka-python calls the listener on its IO thread, where no blocking call may run:
    it pauses the partitions assigned, and the fetcher thread seeks and resumes them after the
    poll (`settle`)."""

    def __init__(self, consumer: kafka.KafkaConsumer, choose: StartChooser | None, reset: str | None) -> None:
        self.consumer = consumer
        self.choose = choose
        self.reset = reset
        self.held: set[TopicPartition] = set()  # the partitions of the last assignment settled
        self.rebalancing = False  # between a revocation and the settling of the assignment after it
        self.assigned: list[kafka.TopicPartition] | None = None  # an assignment waiting for `settle`

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.rebalancing = True

    def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            self.consumer.pause(*assigned)
        self.assigned = list(assigned)

    def moved(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        """Those of `partitions` the last assignment gave to another member (none while a
        rebalance is under way)."""
        return [] if self.rebalancing else [tp for tp in partitions if tp not in self.held]

    def settle(self) -> None:
        """In the fetcher thread: seek the partitions of the assignment since, then resume them."""
        assigned, self.assigned = self.assigned or [], None
        now = {TopicPartition(tp.topic, tp.partition): tp for tp in assigned}
        moved = sorted(self.held - now.keys())
        partitions_moved(moved, self.choose)
        new = sorted(tp for key, tp in now.items() if key not in self.held)
        try:
            if self.choose is not None and new:
                self._seek(new, self.choose)
        finally:
            self.held = set(now)
            self.rebalancing = False
            if assigned:
                self.consumer.resume(*assigned)

    def _seek(self, partitions: list[kafka.TopicPartition], choose: StartChooser) -> None:
        try:
            committed = {tp: self.consumer.committed(tp) for tp in partitions}
            earliest = self.consumer.beginning_offsets(partitions)
            latest = self.consumer.end_offsets(partitions)
            since_ms = choose.since_ms()
            since = None if since_ms is None else self.consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        except KafkaError as exc:
            starts_unknown(exc)
            return
        for tp, offset in client_starts(choose, partitions, committed, earliest, latest, self.reset, since):
            self.consumer.seek(tp, offset)


class _Fetcher(threading.Thread):
    """Owns one KafkaConsumer (kafka-python consumers are not thread-safe): polls it in a loop,
    hands batches to the shared queue, and runs commits between polls."""

    def __init__(
        self,
        consumer: kafka.KafkaConsumer,
        listener: _RebalanceListener,
        out: queue.Queue,
        state: ConnectionState,
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.consumer = consumer
        self.listener = listener
        self.out = out
        self.state = state
        self.commands: queue.SimpleQueue[tuple[dict, Future]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.joined = threading.Event()  # the consumer has its partitions (kafka-python joins in poll)

    def run(self) -> None:
        while not self.stopping.is_set():
            self._run_commands()
            try:
                batches = self.consumer.poll(timeout_ms=FETCH_TIMEOUT_MS)
            except KafkaError as exc:
                self.state.down(exc)
                self.stopping.wait(min(1.0, FETCH_TIMEOUT_MS / 1000))
                continue
            self.state.up()
            if self.listener.assigned is not None:
                self.listener.settle()
            if not self.joined.is_set() and self.consumer.assignment():
                self.joined.set()
            for tp, records in batches.items():
                if records:
                    self._put((TopicPartition(tp.topic, tp.partition), messages_from(records)))
        self._run_commands()
        try:
            self.consumer.close(autocommit=False)
        except KafkaError as exc:
            logger.warning("closing a consumer failed: %s", exc)

    def _put(self, item: tuple[TopicPartition, list[KafkaMessage]]) -> None:
        """Block while the queue is full (backpressure), but wake up to stop and to commit."""
        while not self.stopping.is_set():
            try:
                self.out.put(item, timeout=FETCH_TIMEOUT_MS / 1000)
                return
            except queue.Full:
                self._run_commands()

    def _run_commands(self) -> None:
        while True:
            try:
                offsets, done = self.commands.get_nowait()
            except queue.Empty:
                return
            moved = self.listener.moved([TopicPartition(tp.topic, tp.partition) for tp in offsets])
            for key in moved:
                logger.debug("not committing %s[%d]: it moved to another member", key.topic, key.partition)
            gone = {(key.topic, key.partition) for key in moved}
            offsets = {tp: offset for tp, offset in offsets.items() if (tp.topic, tp.partition) not in gone}
            try:
                if offsets:
                    self.consumer.commit(offsets)
                done.set_result(None)
            except Exception as exc:  # noqa: BLE001 - handed to the committing thread
                done.set_exception(exc)

    def commit(self, offsets: dict, timeout: float) -> None:
        if not self.is_alive():
            raise KafkaConnectionError("the consumer is closed")
        done: Future = Future()
        self.commands.put((offsets, done))
        done.result(timeout)


class KafkaConsumerClient:
    """Consumes `topics`; `poll` returns {TopicPartition: [KafkaMessage]} (values decoded).

    Each underlying KafkaConsumer (one per topic in multi-consumer mode) is polled by a thread of
    its own, so topics are fetched concurrently and none waits for another.
    """

    def __init__(
        self,
        topics: Sequence[str],
        config: KafkaSettings | Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        retry_interval: float | None = None,
        *,
        group_id: str | None = None,
        multi_consumer_mode: bool | None = None,
        start_from: StartChooser | None = None,
    ) -> None:
        """`start_from` may name the offsets to read partitions from when they are assigned."""
        self._choose_start = start_from
        plan = plan_consumers(
            "KafkaConsumerClient",
            topics,
            config,
            group_id=group_id,
            multi_consumer_mode=multi_consumer_mode,
            max_retries=max_retries,
            retry_interval=retry_interval,
        )
        self.topics, self.settings, self.group_id = plan.topics, plan.settings, plan.group_id
        self.multi_consumer_mode = plan.multi_consumer_mode
        self.backoff = plan.backoff
        self._state = ConnectionState(f"consumer of {', '.join(self.topics)}")
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self._pending: deque[tuple[TopicPartition, list[KafkaMessage]]] = deque()
        self._fetchers: dict[str, _Fetcher] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        try:
            for topics_, values in plan.members:
                consumer, listener = self._connect(topics_, values)
                fetcher = _Fetcher(consumer, listener, self._queue, self._state, f"d_a-fetch-{'+'.join(topics_)}")
                for topic in topics_:
                    self._fetchers[topic] = fetcher
                fetcher.start()
        except KafkaConnectionError:
            self.close()
            raise
        self._state.up()
        self._wait_joined(plan.settings.consumer.get("session_timeout_ms") or DEFAULT_SESSION_TIMEOUT_MS)

    def _wait_joined(self, session_timeout_ms: int) -> None:
        """Return once every consumer has its partitions, as aiokafka's `start` does: kafka-python
        joins its group in the first polls, and with `auto_offset_reset=latest` a message sent
        before that would be skipped. Bounded (a group join takes up to about a session timeout);
        a consumer still without partitions then is logged and goes on joining."""
        deadline = time.monotonic() + session_timeout_ms / 1000 + JOIN_GRACE_S
        for fetcher in self._distinct():
            if not fetcher.joined.wait(max(0.0, deadline - time.monotonic())):
                logger.warning(
                    "consumer %s has no partitions yet after %.0f s (its topics may not exist); it keeps joining",
                    fetcher.name,
                    session_timeout_ms / 1000 + JOIN_GRACE_S,
                )

    @property
    def connected(self) -> bool:
        return bool(self._fetchers) and self._state.connected

    def _connect(self, topics: list[str], values: dict[str, Any]) -> tuple[kafka.KafkaConsumer, _RebalanceListener]:
        kwargs = kafka_python_consumer_kwargs(values)
        kwargs.setdefault("bootstrap_timeout_ms", BOOTSTRAP_TIMEOUT_MS)
        consumer = self.backoff.sync(
            lambda: kafka.KafkaConsumer(**kwargs),
            f"connecting a consumer to {', '.join(self.settings.bootstrap_servers)}",
            (KafkaError, OSError),
        )
        listener = _RebalanceListener(consumer, self._choose_start, kwargs.get("auto_offset_reset"))
        consumer.subscribe(topics, listener=listener)
        return consumer, listener

    def _distinct(self) -> list[_Fetcher]:
        return list({id(f): f for f in self._fetchers.values()}.values())

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None) -> dict[TopicPartition, list[KafkaMessage]]:
        """What any topic has fetched, waiting at most `timeout_ms` when nothing is there."""
        if not self._pending:
            try:
                self._pending.append(self._queue.get(timeout=timeout_ms / 1000))
            except queue.Empty:
                return {}
        while True:
            try:
                self._pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        result: dict[TopicPartition, list[KafkaMessage]] = {}
        budget = max_records if max_records is not None else sum(len(m) for _, m in self._pending)
        while self._pending and budget > 0:
            tp, messages = self._pending.popleft()
            if len(messages) > budget:
                self._pending.appendleft((tp, messages[budget:]))
                messages = messages[:budget]
            result.setdefault(tp, []).extend(messages)
            budget -= len(messages)
            self._positions[tp] = messages[-1].offset + 1
        if self.multi_consumer_mode and logger.isEnabledFor(logging.DEBUG):
            counts = {topic: sum(len(m) for tp, m in result.items() if tp.topic == topic) for topic in self.topics}
            logger.debug("multi-consumer fetch [%s]", ", ".join(f"{t}:{n}" for t, n in counts.items()))
        return result

    def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read per partition; KafkaConnectionError when it fails."""
        by_fetcher: dict[int, tuple[_Fetcher, dict]] = {}
        for tp, offset in offsets.items():
            fetcher = self._fetchers.get(tp.topic)
            if fetcher is None:
                raise KafkaConnectionError(f"no consumer for topic {tp.topic!r}")
            entry = by_fetcher.setdefault(id(fetcher), (fetcher, {}))
            entry[1][kafka.TopicPartition(tp.topic, tp.partition)] = OffsetAndMetadata(offset, "", -1)
        try:
            for fetcher, part in by_fetcher.values():
                fetcher.commit(part, timeout=COMMIT_TIMEOUT_S)
        except (KafkaError, TimeoutError) as exc:
            raise KafkaConnectionError(f"committing offsets failed: {exc!r}") from exc
        self._committed.update(offsets)

    def assignment(self) -> set[TopicPartition]:
        """The partitions the group gives this consumer now."""
        return {
            TopicPartition(tp.topic, tp.partition)
            for fetcher in self._distinct()
            for tp in list(fetcher.consumer.assignment())
        }

    def partition_counts(self) -> dict[str, int]:
        """Per topic, its partition count as the cluster's metadata says."""
        return {
            topic: len(fetcher.consumer.partitions_for_topic(topic) or ()) for topic, fetcher in self._fetchers.items()
        }

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        """Per topic and partition: position, committed offset, end offset and lag (as last seen)."""
        info: dict[str, dict[int, dict[str, int | None]]] = {topic: {} for topic in self.topics}
        for fetcher in self._distinct():
            consumer = fetcher.consumer
            for tp in list(consumer.assignment()):
                key = TopicPartition(tp.topic, tp.partition)
                position, end = self._positions.get(key), consumer.highwater(tp)
                info.setdefault(tp.topic, {})[tp.partition] = {
                    "position": position,
                    "committed": self._committed.get(key),
                    "end_offset": end,
                    "lag": None if end is None or position is None else max(0, end - position),
                }
        return info

    def close(self) -> None:
        """Stop fetching, leave the groups and close every consumer."""
        fetchers = self._distinct()
        for fetcher in fetchers:
            fetcher.stopping.set()
        for fetcher in fetchers:
            fetcher.join(timeout=10)
        self._fetchers.clear()


class KafkaProducerClient:
    """Sends JSON values and waits for the acknowledgement (the original d_a's `send` flushes)."""

    def __init__(
        self,
        config: KafkaSettings | Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        retry_interval: float | None = None,
    ) -> None:
        self.settings, self.backoff = resolve_connection(config, max_retries, retry_interval)
        self._outage = ConnectionState("producer")
        kwargs = kafka_python_producer_kwargs(self.settings.producer)
        kwargs.setdefault("bootstrap_timeout_ms", BOOTSTRAP_TIMEOUT_MS)
        self._producer: kafka.KafkaProducer | None = self.backoff.sync(
            lambda: kafka.KafkaProducer(**kwargs),
            f"connecting the producer to {', '.join(self.settings.bootstrap_servers)}",
            (KafkaError, OSError),
        )
        self._outage.up()

    @property
    def connected(self) -> bool:
        return self._producer is not None and self._outage.connected

    def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        """Send one value (bytes as they are) with `headers` and wait for the ack; KafkaConnectionError
        after `max_retries` attempts."""
        if self._producer is None:
            raise KafkaConnectionError("the producer is closed")
        producer = self._producer
        payload = value if isinstance(value, bytes) else encode_value(value)

        def attempt() -> None:
            try:
                producer.send(topic, payload, key=key_bytes(key), headers=list(headers) or None).get(
                    timeout=SEND_TIMEOUT_S
                )
            except KafkaError as exc:
                self._outage.down(exc)
                raise
            self._outage.up()

        self.backoff.sync(
            attempt,
            f"sending a message to {topic}",
            (KafkaError,),
        )

    def close(self) -> None:
        """Flush and close."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close()
