"""Global readers on a real broker: reaching `end_offsets` means every message sent before the
call was read (Tansu's ListOffsets answer falls short after batched sends), no group is involved,
and a topic created after the reader started is found."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from d_a.kafka import AsyncGlobalReader, AsyncKafkaGlobalReader, KafkaGlobalReader, KafkaMessage
from d_a.service.threaded import ThreadedGlobalReader

MESSAGES = 1000
DEADLINE_SECONDS = 60.0


def make_reader(kind: str, topics: list[str], config: dict) -> AsyncGlobalReader:
    if kind == "aiokafka":
        return AsyncKafkaGlobalReader(topics, config)
    return ThreadedGlobalReader(lambda: KafkaGlobalReader(topics, config), topics)


async def read_to(reader: AsyncGlobalReader, ends: dict) -> list[KafkaMessage]:
    read: list[KafkaMessage] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while any(reader.positions().get(tp, 0) < end for tp, end in ends.items()):
        assert time.monotonic() < deadline, (reader.positions(), ends)
        read += await reader.getmany(timeout_ms=200)
    return read


async def send_batched(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topic, b'{"seq": %d}' % i, partition=partition) for i in range(count)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


@pytest.mark.parametrize("kind", ["aiokafka", "kafka-python"])
async def test_reaching_the_end_offsets_means_every_message_sent_before_was_read(
    kafka_bootstrap: str, topic_name: str, kind: str
) -> None:
    config = {"bootstrap_servers": kafka_bootstrap, "max_retries": 3, "retry_interval": 0.2}
    later = f"{topic_name}-later"
    await send_batched(kafka_bootstrap, topic_name, MESSAGES)
    reader = make_reader(kind, [topic_name, later], config)
    await reader.start()
    try:
        ends = await reader.end_offsets()
        assert {tp.topic for tp in ends} == {topic_name}  # `later` does not exist yet
        read = await read_to(reader, ends)
        assert sorted(m.value["seq"] for m in read) == list(range(MESSAGES))

        await send_batched(kafka_bootstrap, later, 10, partition=0)
        ends = await reader.end_offsets()  # finds the new topic, from its beginning
        read = await read_to(reader, ends)
        assert sorted(m.value["seq"] for m in read if m.topic == later) == list(range(10))
    finally:
        await reader.stop()

    again = make_reader(kind, [topic_name], config)  # nothing was committed: a new reader reads it all
    await again.start()
    try:
        read = await read_to(again, await again.end_offsets())
    finally:
        await again.stop()
    assert len(read) == MESSAGES
