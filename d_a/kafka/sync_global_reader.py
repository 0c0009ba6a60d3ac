"""The blocking global reader on kafka-python: global topics read without a consumer group."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import kafka
from kafka.errors import KafkaError

from ..config import KafkaSettings
from ..errors import KafkaConnectionError
from .client_config import global_reader_values, kafka_python_consumer_kwargs, resolve_connection
from .connection import ConnectionState
from .message import KafkaMessage, TopicPartition, messages_from
from .sync_clients import BOOTSTRAP_TIMEOUT_MS

__all__ = ["KafkaGlobalReader"]

logger = logging.getLogger("d_a.kafka")

GLOBAL_POLL_RECORDS = 100_000  # a poll: whole record batches, never a part of one


class KafkaGlobalReader:
    """Reads global topics without a consumer group (see transport.GlobalReader and
    async_global_reader.AsyncKafkaGlobalReader, whose end-offset rule it shares): every partition assigned by hand
    from its beginning, nothing committed. Connects when created; calls from several threads are
    serialised (a kafka-python consumer is not thread-safe)."""

    def __init__(
        self,
        topics: Sequence[str],
        config: KafkaSettings | Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        retry_interval: float | None = None,
    ) -> None:
        if not topics:
            raise ValueError("KafkaGlobalReader needs at least one topic")
        self.topics = list(dict.fromkeys(topics))
        self.settings, self.backoff = resolve_connection(config, max_retries, retry_interval)
        self._state = ConnectionState(f"global reader of {', '.join(self.topics)}")
        self._lock = threading.Lock()
        self._positions: dict[TopicPartition, int] = {}
        kwargs = kafka_python_consumer_kwargs(global_reader_values(self.settings.consumer))
        kwargs.setdefault("bootstrap_timeout_ms", BOOTSTRAP_TIMEOUT_MS)
        kwargs["max_poll_records"] = GLOBAL_POLL_RECORDS
        self._consumer: kafka.KafkaConsumer | None = self.backoff.sync(
            lambda: kafka.KafkaConsumer(**kwargs),
            f"connecting a global reader to {', '.join(self.settings.bootstrap_servers)}",
            (KafkaError, OSError),
        )
        self._state.up()
        try:
            with self._lock:
                self._assign_new(self._consumer)
        except KafkaError as exc:  # looked for again by `end_offsets`
            self._state.down(exc)

    @property
    def connected(self) -> bool:
        return self._consumer is not None and self._state.connected

    def poll(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        """What the assigned partitions have, waiting at most `timeout_ms` when none has."""
        with self._lock:
            consumer = self._open()
            if not self._positions:
                batches = {}
            else:
                try:
                    batches = consumer.poll(timeout_ms=timeout_ms)
                except KafkaError as exc:
                    self._state.down(exc)
                    batches = {}
                else:
                    self._state.up()
                    for tp in self._positions:
                        self._positions[tp] = consumer.position(kafka.TopicPartition(tp.topic, tp.partition))
        if not self._positions:
            time.sleep(timeout_ms / 1000)  # no partition yet: `end_offsets` looks for them
        return [message for records in batches.values() for message in messages_from(records)]

    def end_offsets(self) -> dict[TopicPartition, int]:
        """Per assigned partition (new ones assigned first): the larger of ListOffsets and the high watermark."""
        with self._lock:
            consumer = self._open()
            consumer.topics()  # fresh metadata: topics and partitions created since
            self._assign_new(consumer)
            partitions = [kafka.TopicPartition(tp.topic, tp.partition) for tp in self._positions]
            if not partitions:
                return {}
            listed = consumer.end_offsets(partitions)
            return {
                TopicPartition(tp.topic, tp.partition): max(listed[tp], consumer.highwater(tp) or 0)
                for tp in partitions
            }

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close(autocommit=False)

    def _assign_new(self, consumer: kafka.KafkaConsumer) -> None:
        found = [
            kafka.TopicPartition(topic, partition)
            for topic in self.topics
            for partition in sorted(consumer.partitions_for_topic(topic))
        ]
        new = [tp for tp in found if TopicPartition(tp.topic, tp.partition) not in self._positions]
        if not new:
            return
        starts = consumer.beginning_offsets(new)
        assigned = [kafka.TopicPartition(tp.topic, tp.partition) for tp in self._positions]
        consumer.assign([*assigned, *new])
        for tp in new:
            self._positions[TopicPartition(tp.topic, tp.partition)] = starts[tp]
        for tp, position in self._positions.items():
            consumer.seek(kafka.TopicPartition(tp.topic, tp.partition), position)

    def _open(self) -> kafka.KafkaConsumer:
        if self._consumer is None:
            raise KafkaConnectionError("the global reader is closed")
        return self._consumer
