"""The dead-letter topic through Kafka: a poison message is found there with its headers, its offset
is committed only after it is, and `d-a dead-letters` counts it."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from d_a import AsyncDataAnalysisService, AsyncKafkaProducerClient
from d_a.cli import main
from d_a.cli.dead_letters import letter_headers, read_to_end
from d_a.kafka.cluster import KafkaTransport

POISON = b'{"stationId": "S1", "seq": 1, '  # cut short: not JSON


class GatedProducer:
    """The service's producer, with dead-letter sends held until `open` is set."""

    def __init__(self, producer, dead_letter_topic: str) -> None:
        self.producer, self.topic = producer, dead_letter_topic
        self.open = asyncio.Event()

    async def send(self, topic, value, key=None, *, headers=()):
        if topic == self.topic:
            await self.open.wait()
        await self.producer.send(topic, value, key, headers=headers)


async def committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_poison_message_goes_to_the_dead_letter_topic_before_its_offset_is_committed(
    kafka_config: dict, capsys
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, dlq, group = f"SITE-SEQ-{suffix}", f"D_A-DEAD-LETTER-{suffix}", f"g-{suffix}"
    config = {
        "topics": {
            topic: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 100}
        },
        "module_dependencies": {},
        "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 1},
        "service": {"dead_letter_topic": dlq},
    }
    seen: list[int] = []
    service = AsyncDataAnalysisService(
        "seq_model", kafka_config=kafka_config, config=config, group_id=group, output_topic_prefix=f"OUT-{suffix}-"
    )
    await service.start(lambda station, data: seen.extend(data["seq_window"][len(seen) :]))
    gate = GatedProducer(service.engine.dead_letters.producer, dlq)
    service.engine.dead_letters.producer = gate
    try:
        async with AsyncKafkaProducerClient(kafka_config) as producer:
            await producer.send(topic, {"stationId": "S1", "seq": 0}, key="S1")
            await producer.send(topic, POISON, key="S1", headers=[("trace", b"abc")])
            await producer.send(topic, {"stationId": "S1", "seq": 2}, key="S1")
        bootstrap = kafka_config["bootstrap_servers"]

        async def callbacks_saw_both() -> bool:
            return seen == [0, 2]

        await until(callbacks_saw_both)
        lag = service.get_service_status()["lag"][topic]
        (partition,) = [p for p, info in lag.items() if info["end_offset"] == 3]  # the key's partition
        tp = TopicPartition(topic, partition)
        await asyncio.sleep(1.0)  # commits every 0.05 s: none may pass the poison while its letter waits
        assert await committed(bootstrap, group, tp) == 1

        gate.open.set()

        async def committed_past_poison() -> bool:
            return (await committed(bootstrap, group, tp) or 0) == 3

        await until(committed_past_poison)
    finally:
        await service.stop()

    async def letters() -> list:
        async with KafkaTransport(kafka_config).async_global_reader([dlq]) as reader:
            return (await read_to_end(reader, 30))[0]

    (letter,) = await letters()
    headers = letter_headers(letter)
    assert letter.raw == POISON and letter.key == b"S1"
    assert (headers["topic"], headers["partition"], headers["offset"]) == (topic, str(partition), "1")
    assert headers["kind"] == "not_json" and headers["dropped"] == "message" and "JSON" in headers["error"]
    assert dict(letter.headers)["trace"] == b"abc"

    capsys.readouterr()
    assert await asyncio.to_thread(main, ["dead-letters", "--bootstrap", bootstrap, "--topic", dlq]) == 0
    out = capsys.readouterr().out
    assert f"1 dead letters on {dlq}" in out
    assert topic in out and "not_json" in out
