"""Async Kafka clients on aiokafka: the consumer (single or one consumer per topic) and producer.
The global reader is in `async_global_reader`.

Start connects with `max_retries` attempts and exponential backoff from `retry_interval`, then
raises KafkaConnectionError naming the bootstrap servers. At run time a lost broker never ends a
loop: aiokafka reconnects by itself, fetch errors are logged once per outage, and consumption
resumes when the broker is back.

In multi-consumer mode every topic has its own AIOKafkaConsumer (group `{group_id}-{topic}`) and
its own `max_poll_records` quota. Their fetches run concurrently and `getmany` returns as soon as
any of them has data, so a quiet topic is never throttled by a busy one, nor a busy one by an
idle one (an unfinished fetch is kept for the next call, not cancelled).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.errors import KafkaError

from ..config import KafkaSettings
from ..errors import KafkaConnectionError
from .assignment import StartChooser, client_starts, partitions_moved, starts_unknown
from .client_config import (
    aiokafka_consumer_kwargs,
    aiokafka_producer_kwargs,
    resolve_connection,
)
from .connection import ConnectionState
from .consumer_plan import plan_consumers
from .message import (
    Headers,
    KafkaMessage,
    OutgoingRecord,
    TopicPartition,
    encode_value,
    key_bytes,
    messages_from,
    raw_messages_from,
)
from .slots import StationSlotAssignor

__all__ = ["AsyncKafkaConsumerClient", "AsyncKafkaProducerClient"]

logger = logging.getLogger("d_a.kafka")

START_TIMEOUT_S = 60.0  # one connection attempt (bootstrap + group coordinator); then it is retried
PROBE_INTERVAL_S = 2.0  # how often an idle consumer checks that the cluster answers
PROBE_TIMEOUT_S = 5.0
COMMIT_TIMEOUT_S = 10.0  # a commit caught in a rebalance can wait forever: the consume loop must not


class _RebalanceListener(ConsumerRebalanceListener):
    """Keeps the read position of the partitions a rebalance leaves with this consumer, forgets
    those that moved to another member, and seeks newly assigned ones where the consumer's owner
    chooses (a StartChooser; without one they start at the committed offset).

    aiokafka's rebalances are eager: every partition is revoked and assigned again, and one
    assigned again restarts at its committed offset, so the messages handed over since the last
    commit would come a second time. A partition kept is sought back to where this consumer had
    read up to (`positions`, which the client keeps)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        positions: dict[TopicPartition, int],
        choose: StartChooser | None,
        reset: str | None,
    ) -> None:
        self.consumer = consumer
        self.positions = positions
        self.choose = choose
        self.reset = reset
        self.held: set[TopicPartition] = set()  # the partitions of the last assignment
        self.rebalancing = False  # between a revocation and the assignment that follows it
        self.first_done = asyncio.Event()  # the first assignment was handled (aiokafka's start does not wait)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.rebalancing = True  # eager: everything is revoked; what was kept is known at the assignment

    def moved(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        """Those of `partitions` the last assignment gave to another member (none while a
        rebalance is under way: then it is not known yet)."""
        return [] if self.rebalancing else [tp for tp in partitions if tp not in self.held]

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            now = {TopicPartition(tp.topic, tp.partition): tp for tp in assigned}
            moved = sorted(self.held - now.keys())
            for key in moved:
                self.positions.pop(key, None)
            partitions_moved(moved, self.choose)
            await self._keep_places(
                {
                    tp: position
                    for key, tp in now.items()
                    if key in self.held and (position := self.positions.get(key)) is not None
                }
            )
            new = sorted(tp for key, tp in now.items() if key not in self.held)
            self.held = set(now)
            if self.choose is not None:
                await self._seek(new, self.choose)
        finally:
            self.rebalancing = False
            self.first_done.set()

    async def _keep_places(self, places: dict[AioTopicPartition, int]) -> None:
        """Seek kept partitions back to where this consumer had read up to, when the group's
        commit is at or below it and the log reaches it. Otherwise they start at the commit: a
        commit past it means another member read on meanwhile (this one had left the group), no
        commit or a shorter log means the broker lost the partition's data or the group's offsets."""
        if not places:
            return
        try:
            committed = {tp: await self.consumer.committed(tp) for tp in places}
            latest = await self.consumer.end_offsets(list(places))
        except KafkaError as exc:
            logger.warning("kept partitions restart at their last commit (their offsets could not be read: %s)", exc)
            return
        for tp, position in places.items():
            commit = committed[tp]
            if commit is not None and commit <= position <= latest[tp]:
                self.consumer.seek(tp, position)

    async def _seek(self, partitions: list[AioTopicPartition], choose: StartChooser) -> None:
        if not partitions:
            return
        await choose.prepare([TopicPartition(tp.topic, tp.partition) for tp in partitions])
        try:
            committed = {tp: await self.consumer.committed(tp) for tp in partitions}
            earliest = await self.consumer.beginning_offsets(partitions)
            latest = await self.consumer.end_offsets(partitions)
            since_ms = choose.since_ms()
            since = (
                None if since_ms is None else await self.consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
            )
        except KafkaError as exc:
            starts_unknown(exc)
            return
        for tp, offset in client_starts(choose, partitions, committed, earliest, latest, self.reset, since):
            self.consumer.seek(tp, offset)


class AsyncKafkaConsumerClient:
    """Consumes `topics`; `getmany` returns a flat list of KafkaMessages.

    Message values are the bytes received, as aiokafka gives them and the original d_a decoded them
    (`json.loads(msg.value.decode("utf-8"))`); with `decode_json=True` (what the services use)
    they are decoded once here, and a value that is not UTF-8 JSON comes with `error` set.

    With `scale_out`, one consumer reads every topic in `group_id` and the group's members share
    them by station slot (`StationSlotAssignor`: partition p of every topic goes to one member).
    """

    def __init__(
        self,
        topics: Sequence[str],
        config: KafkaSettings | Mapping[str, Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        group_id: str | None = None,
        multi_consumer_mode: bool | None = None,
        max_retries: int | None = None,
        retry_interval: float | None = None,
        decode_json: bool = False,
        scale_out: bool = False,
    ) -> None:
        self.decode_json = decode_json
        self.scale_out = scale_out
        plan = plan_consumers(
            "AsyncKafkaConsumerClient",
            topics,
            config,
            group_id=group_id,
            multi_consumer_mode=False if scale_out else multi_consumer_mode,
            max_retries=max_retries,
            retry_interval=retry_interval,
        )
        self.topics, self.settings, self.group_id = plan.topics, plan.settings, plan.group_id
        self.multi_consumer_mode = plan.multi_consumer_mode
        self.backoff = plan.backoff
        self._specs = plan.members
        self._consumers: list[AIOKafkaConsumer] = []
        self._by_topic: dict[str, AIOKafkaConsumer] = {}
        self._listeners: dict[AIOKafkaConsumer, _RebalanceListener] = {}
        self._fetches: dict[AIOKafkaConsumer, asyncio.Task] = {}
        self._pending: deque[KafkaMessage] = deque()
        self._positions: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._outage = ConnectionState(f"consumer of {', '.join(self.topics)}")
        self._started = False
        self._last_probe = 0.0
        self._probing: asyncio.Future | None = None
        self._choose_start: StartChooser | None = None

    def start_from(self, chooser: StartChooser) -> None:
        """Before `start`: `chooser` may name the offsets to read partitions from when they are assigned."""
        self._choose_start = chooser

    @property
    def bootstrap_servers(self) -> list[str]:
        return self.settings.bootstrap_servers

    @property
    def connected(self) -> bool:
        return self._started and self._outage.connected

    async def start(self) -> None:
        """Connect every consumer; KafkaConnectionError after `max_retries` attempts."""
        started = await asyncio.gather(
            *(self._start_one(topics, values) for topics, values in self._specs), return_exceptions=True
        )
        failures = [result for result in started if isinstance(result, BaseException)]
        consumers = [result for result in started if not isinstance(result, BaseException)]
        if failures:
            await asyncio.gather(*(c.stop() for c in consumers), return_exceptions=True)
            raise failures[0]
        for (topics, _), consumer in zip(self._specs, consumers, strict=True):
            self._consumers.append(consumer)
            for topic in topics:
                self._by_topic[topic] = consumer
        self._started = True
        self._outage.up()
        mode = f"{len(self._consumers)} consumers (multi-consumer mode)" if self.multi_consumer_mode else "1 consumer"
        logger.info("consuming %d topics from %s with %s", len(self.topics), ", ".join(self.bootstrap_servers), mode)

    async def _start_one(self, topics: list[str], values: dict[str, Any]) -> AIOKafkaConsumer:
        async def attempt() -> AIOKafkaConsumer:
            kwargs = aiokafka_consumer_kwargs(values)
            if self.scale_out:
                kwargs["partition_assignment_strategy"] = (StationSlotAssignor(),)
            consumer = AIOKafkaConsumer(**kwargs)
            listener = _RebalanceListener(
                consumer, self._positions, self._choose_start, kwargs.get("auto_offset_reset")
            )
            consumer.subscribe(topics, listener=listener)
            try:
                await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
                await asyncio.wait_for(listener.first_done.wait(), START_TIMEOUT_S)
            except BaseException:
                await consumer.stop()
                raise
            self._listeners[consumer] = listener
            return consumer

        servers = ", ".join(self.bootstrap_servers)
        return await self.backoff.run(
            attempt,
            f"connecting a consumer to {servers}",
            (KafkaError, OSError, asyncio.TimeoutError),
        )

    async def stop(self) -> None:
        """Stop fetching and close every consumer (messages fetched but not returned are dropped:
        their offsets were never committed, so they are delivered again)."""
        tasks: list[asyncio.Future[Any]] = list(self._fetches.values())
        if self._probing is not None:
            tasks.append(self._probing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._fetches.clear()
        self._probing = None
        await asyncio.gather(*(c.stop() for c in self._consumers), return_exceptions=True)
        self._consumers.clear()
        self._by_topic.clear()
        self._listeners.clear()
        self._started = False

    async def getmany(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[KafkaMessage]:
        """Messages of any topic that has some, waiting at most `timeout_ms` when none has.

        `max_records` caps each consumer's share (its `max_poll_records` by default).
        """
        if not self._started:
            raise KafkaConnectionError("the consumer is not started")
        if len(self._consumers) == 1:
            fetched = [await self._fetch(self._consumers[0].getmany(timeout_ms=timeout_ms, max_records=max_records))]
        else:
            fetched = await self._fetch_first(timeout_ms, max_records)
        if not any(fetched):
            self._probe()
        messages: list[KafkaMessage] = []
        counts: dict[str, int] = {}
        convert = messages_from if self.decode_json else raw_messages_from
        for batches in fetched:
            for tp, records in batches.items():
                counts[tp.topic] = counts.get(tp.topic, 0) + len(records)
                messages.extend(convert(records))
                if records:
                    self._positions[TopicPartition(tp.topic, tp.partition)] = records[-1].offset + 1
        if self.multi_consumer_mode and logger.isEnabledFor(logging.DEBUG):
            logger.debug("multi-consumer fetch [%s]", ", ".join(f"{t}:{counts.get(t, 0)}" for t in self.topics))
        return messages

    async def _fetch_first(self, timeout_ms: int, max_records: int | None) -> list[dict]:
        """The results of whichever consumers' fetches finish first; the others keep running."""
        for consumer in self._consumers:
            if consumer not in self._fetches:
                self._fetches[consumer] = asyncio.ensure_future(
                    consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
                )
        done, _ = await asyncio.wait(
            self._fetches.values(), timeout=timeout_ms / 1000, return_when=asyncio.FIRST_COMPLETED
        )
        finished = [consumer for consumer, task in self._fetches.items() if task in done]
        return [await self._fetch(self._fetches.pop(consumer)) for consumer in finished]

    def _probe(self) -> None:
        """Between empty fetches, now and then, ask the cluster for metadata: aiokafka reconnects
        silently, so this is how an outage (and the recovery) becomes visible in `connected`. The
        question runs beside the fetches, never before them: on a consumer's connection it waits
        behind that consumer's fetch (up to its `fetch_max_wait_ms`), and the others must not wait too."""
        now = time.monotonic()
        if now - self._last_probe < PROBE_INTERVAL_S or not self._consumers:
            return
        if self._probing is not None and not self._probing.done():
            return
        self._last_probe = now
        self._probing = asyncio.ensure_future(self._ask_for_metadata(self._consumers[0]))

    async def _ask_for_metadata(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await asyncio.wait_for(consumer._client.fetch_all_metadata(), PROBE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a task of its own: whatever fails is the outage it reports
            self._outage.down(exc)
        else:
            self._outage.up()

    async def _fetch(self, fetch: Any) -> dict:
        """One consumer's fetch result; {} (and the outage noted once) when the broker is unreachable."""
        try:
            batches = await fetch
        except KafkaError as exc:
            self._outage.down(exc)
            return {}
        if batches:
            self._outage.up()
        return batches

    async def getone(self, timeout_ms: int = 1000) -> KafkaMessage | None:
        """The next message, or None when none came within `timeout_ms`; messages fetched with it
        wait in a buffer for the next calls."""
        if not self._pending:
            self._pending.extend(await self.getmany(timeout_ms=timeout_ms))
        return self._pending.popleft() if self._pending else None

    async def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read per partition; KafkaConnectionError when it fails. Offsets
        of partitions that moved to another member of the group are left to it (the broker would
        refuse them): that member reads them from their last commit."""
        by_consumer: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        for tp, offset in offsets.items():
            consumer = self._by_topic.get(tp.topic)
            if consumer is None:
                raise KafkaConnectionError(f"no consumer for topic {tp.topic!r}")
            by_consumer.setdefault(consumer, {})[TopicPartition(tp.topic, tp.partition)] = offset
        for consumer, part in by_consumer.items():
            listener = self._listeners.get(consumer)
            for tp in [] if listener is None else listener.moved(list(part)):
                logger.debug("not committing %s[%d]: it moved to another member", tp.topic, tp.partition)
                del part[tp]
        try:
            for consumer, part in by_consumer.items():
                if part:
                    await asyncio.wait_for(consumer.commit(part), COMMIT_TIMEOUT_S)
        except KafkaError as exc:
            raise KafkaConnectionError(f"committing offsets failed: {exc}") from exc
        except asyncio.TimeoutError:
            raise KafkaConnectionError(
                f"committing offsets timed out after {COMMIT_TIMEOUT_S:g} s (the group is rejoining?)"
            ) from None
        for part in by_consumer.values():
            self._committed.update(part)

    def assignment(self) -> set[TopicPartition]:
        """The partitions the group gives this consumer now."""
        return {TopicPartition(tp.topic, tp.partition) for consumer in self._consumers for tp in consumer.assignment()}

    def partition_counts(self) -> dict[str, int]:
        """Per topic, its partition count as the cluster's metadata last said (after `start`)."""
        return {topic: len(consumer.partitions_for_topic(topic) or ()) for topic, consumer in self._by_topic.items()}

    def get_lag_info(self) -> dict[str, dict[int, dict[str, int | None]]]:
        """Per topic and partition: position, committed offset, end offset and lag (as last seen)."""
        info: dict[str, dict[int, dict[str, int | None]]] = {topic: {} for topic in self.topics}
        for consumer in self._consumers:
            for tp in consumer.assignment():
                position = self._positions.get(TopicPartition(tp.topic, tp.partition))
                end = consumer.highwater(tp)
                info.setdefault(tp.topic, {})[tp.partition] = {
                    "position": position,
                    "committed": self._committed.get(TopicPartition(tp.topic, tp.partition)),
                    "end_offset": end,
                    "lag": None if end is None or position is None else max(0, end - position),
                }
        return info

    async def __aenter__(self) -> AsyncKafkaConsumerClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class AsyncKafkaProducerClient:
    """Sends JSON values; `send` waits for the broker's acknowledgement and retries."""

    def __init__(
        self,
        config: KafkaSettings | Mapping[str, Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_retries: int | None = None,
        retry_interval: float | None = None,
    ) -> None:
        self.settings, self.backoff = resolve_connection(config, max_retries, retry_interval)
        self._producer: AIOKafkaProducer | None = None
        self._outage = ConnectionState("producer")

    @property
    def connected(self) -> bool:
        return self._producer is not None and self._outage.connected

    async def start(self) -> None:
        """Connect; KafkaConnectionError after `max_retries` attempts."""

        async def attempt() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(**aiokafka_producer_kwargs(self.settings.producer))
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            return producer

        self._producer = await self.backoff.run(
            attempt,
            f"connecting the producer to {', '.join(self.settings.bootstrap_servers)}",
            (KafkaError, OSError),
        )
        self._outage.up()

    async def stop(self) -> None:
        """Flush what is buffered and close."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, topic: str, value: Any, key: bytes | str | None = None, *, headers: Headers = ()) -> None:
        """Send one value (dict/list -> UTF-8 JSON, bytes as they are) and wait for the ack;
        KafkaConnectionError after `max_retries` attempts."""
        await self.send_many(topic, [(key, value)], headers=headers)

    async def send_many(
        self, topic: str, items: Sequence[tuple[bytes | str | None, Any]], *, headers: Headers = ()
    ) -> None:
        """Send (key, value) pairs in one go, each with `headers`, then wait for all acks (retrying what failed)."""
        await self.send_records(topic, [OutgoingRecord(key, value, headers) for key, value in items])

    async def send_records(self, topic: str, records: Sequence[OutgoingRecord]) -> None:
        """Send records in one go, then wait for all acks (retrying what failed)."""
        if self._producer is None:
            raise KafkaConnectionError("the producer is not started")
        producer = self._producer
        payload = [
            (
                key_bytes(record.key),
                record.value if isinstance(record.value, bytes) else encode_value(record.value),
                list(record.headers) or None,
                record.timestamp_ms,
            )
            for record in records
        ]

        async def attempt() -> None:
            futures = [
                await producer.send(topic, value, key=key, headers=extra, timestamp_ms=timestamp)
                for key, value, extra, timestamp in payload
            ]
            try:
                await asyncio.gather(*futures)
            except KafkaError as exc:
                self._outage.down(exc)
                raise
            self._outage.up()

        await self.backoff.run(
            attempt,
            f"sending {len(payload)} messages to {topic}",
            (KafkaError,),
        )

    async def __aenter__(self) -> AsyncKafkaProducerClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
