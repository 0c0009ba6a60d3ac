"""The broker harness itself: real produce/consume round trips and a clean stop."""

from __future__ import annotations

import asyncio
import socket

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from d_a.kafka import EmbeddedBroker

CAR_ORDER = {
    "stationId": "ST0001",
    "transactionSerialNo": "TX20251101000001",
    "hostCode": "H0001",
    "gunNo": 2,
    "outputPower": 58.6,
    "soc": 41,
    "carProducerCode": "比亚迪",
    "sendTime": "2025-11-01 08:00:01",
}


async def consume(bootstrap: str, topic: str, group: str, expected: int, timeout: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    received = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(received) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                received.extend(messages)
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


async def test_round_trip_of_non_ascii_json(kafka_bootstrap: str, topic_name: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(50):
            value = {**CAR_ORDER, "soc": 41 + i, "sendTime": f"2025-11-01 08:00:{i:02d}"}
            await producer.send(topic_name, orjson.dumps(value), key=b"ST0001")
        await producer.flush()
    finally:
        await producer.stop()

    messages = await consume(kafka_bootstrap, topic_name, "harness-group", expected=50)
    decoded = [orjson.loads(m.value) for m in messages]
    assert len(decoded) == 50
    assert sorted(d["soc"] for d in decoded) == list(range(41, 91))
    assert {d["carProducerCode"] for d in decoded} == {"比亚迪"}
    assert all(m.key == b"ST0001" for m in messages)


async def test_committed_offsets_are_stored_per_group(kafka_bootstrap: str, topic_name: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait(topic_name, orjson.dumps(CAR_ORDER), key=b"ST0001")
    finally:
        await producer.stop()
    (message, *_rest) = received = await consume(kafka_bootstrap, topic_name, "commit-group", expected=3)
    assert len(received) == 3

    # A manually assigned reader of the same group starts at the committed offset.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="commit-group", enable_auto_commit=False)
    await reader.start()
    try:
        partition = TopicPartition(topic_name, message.partition)
        reader.assign([partition])
        assert await reader.committed(partition) == 3
        assert await reader.getmany(partition, timeout_ms=500) == {}
    finally:
        await reader.stop()


def test_embedded_broker_stops_and_frees_its_port() -> None:
    with EmbeddedBroker() as broker:
        assert broker.running
        port = broker.port
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    assert not broker.running
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_restart_keeps_the_address() -> None:
    with EmbeddedBroker() as broker:
        before = broker.bootstrap
        broker.restart()
        assert broker.running and broker.bootstrap == before
