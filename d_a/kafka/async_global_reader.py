"""The async global reader on aiokafka: global topics read without a consumer group."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from ..config import KafkaSettings
from ..errors import KafkaConnectionError
from .async_clients import START_TIMEOUT_S
from .client_config import aiokafka_consumer_kwargs, global_reader_values, resolve_connection
from .connection import ConnectionState
from .message import KafkaMessage, TopicPartition, messages_from

__all__ = ["AsyncKafkaGlobalReader"]

logger = logging.getLogger("d_a.kafka")


class AsyncKafkaGlobalReader:
    """Reads global topics the way Kafka Streams reads a GlobalKTable (see transport.AsyncGlobalReader):
    no consumer group, every partition assigned by hand and read from its beginning, nothing
    committed, so a restarted service reads the whole topic again.

    End offsets: Tansu (the embedded broker) answers ListOffsets with the base offset of a
    partition's last record batch + 1, short of the end when that batch holds several records (a
    batched send); the high watermark in its fetch responses is right. `end_offsets` therefore
    returns, per partition, the larger of the ListOffsets answer and the latest fetch's high
    watermark: never more than the reader can reach, and, since fetches are not capped (no
    `max_poll_records`, so a record batch is never handed over in parts), reaching it means the
    partition's last batch has been read.
    """

    def __init__(
        self,
        topics: Sequence[str],
        config: KafkaSettings | Mapping[str, Any] | None = None,
        *,
        max_retries: int | None = None,
        retry_interval: float | None = None,
    ) -> None:
        if not topics:
            raise ValueError("AsyncKafkaGlobalReader needs at least one topic")
        self.topics = list(dict.fromkeys(topics))
        self.settings, self.backoff = resolve_connection(config, max_retries, retry_interval)
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()  # a fetch and a change of assignment never overlap
        self._outage = ConnectionState(f"global reader of {', '.join(self.topics)}")

    @property
    def connected(self) -> bool:
        return self._consumer is not None and self._outage.connected

    async def start(self) -> None:
        """Connect and assign every partition the topics have; KafkaConnectionError after `max_retries`."""
        kwargs = aiokafka_consumer_kwargs(global_reader_values(self.settings.consumer))

        async def attempt() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(**kwargs)
            try:
                await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
            except BaseException:
                await consumer.stop()
                raise
            return consumer

        self._consumer = await self.backoff.run(
            attempt,
            f"connecting a global reader to {', '.join(self.settings.bootstrap_servers)}",
            (KafkaError, OSError, asyncio.TimeoutError),
        )
        self._outage.up()
        try:
            await self._assign_new()
        except KafkaError as exc:  # the topics' partitions are looked for again by `end_offsets`
            self._outage.down(exc)

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def getmany(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        """What the assigned partitions have (all of it), waiting at most `timeout_ms` when none has."""
        consumer = self._started()
        if not self._positions:
            await asyncio.sleep(timeout_ms / 1000)  # no partition yet: `end_offsets` looks for them
            return []
        async with self._lock:
            try:
                batches = await consumer.getmany(timeout_ms=timeout_ms)
            except KafkaError as exc:
                self._outage.down(exc)
                return []
            self._outage.up()
            for tp in self._positions:  # the consumer's own positions also step over control records
                self._positions[tp] = await consumer.position(tp)
        return [message for records in batches.values() for message in messages_from(records)]

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """Per assigned partition (new ones assigned first): the larger of ListOffsets and the high watermark."""
        consumer = self._started()
        await self._assign_new()
        partitions = list(self._positions)
        if not partitions:
            return {}
        listed = await consumer.end_offsets(partitions)
        return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    async def _assign_new(self) -> None:
        """Assign the topics' partitions not assigned yet, from their beginning (keeping the others' positions)."""
        consumer = self._started()
        cluster = await consumer._client.fetch_all_metadata()
        found = [TopicPartition(t, p) for t in self.topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        new = [tp for tp in found if tp not in self._positions]
        if not new:
            return
        starts = await consumer.beginning_offsets(new)
        async with self._lock:
            consumer.assign([*self._positions, *new])
            for tp in new:
                self._positions[tp] = starts[tp]
            for tp, position in self._positions.items():
                consumer.seek(tp, position)
        logger.debug("global reader: %d partitions assigned (%d new)", len(self._positions), len(new))

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise KafkaConnectionError("the global reader is not started")
        return self._consumer

    async def __aenter__(self) -> AsyncKafkaGlobalReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
