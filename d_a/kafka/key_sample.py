"""A start-up look at the newest messages of topics said to be keyed by station: is each one in
the partition its station's key gives it?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition

from ..config import KafkaSettings
from .client_config import aiokafka_consumer_kwargs, global_reader_values
from .slots import slot_of

__all__ = ["KeySample", "sample_keys"]

SAMPLE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class KeySample:
    """What the newest messages of one topic showed."""

    topic: str
    sampled: int
    misplaced: int  # no key, or not in its key's slot, or a stationId other than its key
    example: str | None = None  # one misplaced message, described

    @property
    def problem(self) -> str | None:
        if not self.misplaced:
            return None
        return (
            f"{self.topic}: {self.misplaced} of the {self.sampled} newest messages are not keyed by their station id "
            f"(e.g. {self.example}); set keyed_by_station: false for it (the splitter places its messages)"
        )


async def sample_keys(
    settings: KafkaSettings, topics: Sequence[str], slots: int, per_partition: int = 20
) -> list[KeySample]:
    """Up to `per_partition` of the newest messages of every partition of `topics`, checked."""
    consumer = AIOKafkaConsumer(**aiokafka_consumer_kwargs(global_reader_values(settings.consumer)))
    await consumer.start()
    try:
        partitions = [
            AioTopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return [KeySample(topic, 0, 0) for topic in topics]
        consumer.assign(partitions)
        first = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(first[tp], ends[tp] - per_partition))
        wanted = {tp for tp in partitions if ends[tp] > first[tp]}
        sampled = dict.fromkeys(topics, 0)
        misplaced = dict.fromkeys(topics, 0)
        examples: dict[str, str] = {}
        deadline = time.monotonic() + SAMPLE_TIMEOUT_S
        taken = dict.fromkeys(partitions, 0)
        while wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(*wanted, timeout_ms=200)
            for tp, records in batches.items():
                for record in records[: per_partition - taken[tp]]:
                    taken[tp] += 1
                    sampled[tp.topic] += 1
                    where = _misplaced(record.key, record.value, tp.partition, slots)
                    if where is not None:
                        misplaced[tp.topic] += 1
                        examples.setdefault(tp.topic, f"offset {record.offset} of partition {tp.partition}: {where}")
            wanted = {
                tp
                for tp in wanted
                if taken[tp] < per_partition
                and await consumer.position(tp) < max(ends[tp], consumer.highwater(tp) or 0)
            }
            await asyncio.sleep(0)
        return [KeySample(t, sampled[t], misplaced[t], examples.get(t)) for t in topics]
    finally:
        await consumer.stop()


def _misplaced(key: bytes | None, value: bytes | None, partition: int, slots: int) -> str | None:
    """Why a message is not where its station puts it, or None."""
    if not key:
        return "no key"
    station = key.decode("utf-8", "replace")
    if slot_of(station, slots) != partition:
        return f"key {station!r} belongs in partition {slot_of(station, slots)}"
    try:
        decoded = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None  # bad input: the owner reports it
    named = decoded.get("stationId") if isinstance(decoded, dict) else None
    if named is not None and str(named) != station:
        return f"key {station!r}, stationId {named!r}"
    return None
