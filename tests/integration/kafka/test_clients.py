"""The Kafka clients against a real Kafka-protocol broker: round trips, commits, outages, fairness."""

from __future__ import annotations

import asyncio
import time
import uuid

import kafka
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from d_a.errors import KafkaConnectionError
from d_a.kafka import EmbeddedBroker, TopicPartition
from d_a.kafka.async_clients import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from d_a.kafka.broker import free_port
from d_a.kafka.sync_clients import KafkaConsumerClient, KafkaProducerClient

ORDER = {"stationId": "ST0001", "gunNo": 2, "outputPower": 58.6, "carProducerCode": "比亚迪", "备注": "快充"}


def settings(bootstrap: str, **extra) -> dict:
    return {
        "bootstrap_servers": bootstrap,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_retries": 3,
        "retry_interval": 0.2,
        **extra,
    }


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def produce(bootstrap: str, topic: str, count: int, key: str | None = "ST0001", start: int = 0) -> None:
    async with AsyncKafkaProducerClient(settings(bootstrap)) as producer:
        await producer.send_many(topic, [(key, {**ORDER, "seq": start + i}) for i in range(count)])


async def consume_async(consumer: AsyncKafkaConsumerClient, expected: int, timeout: float = 30.0) -> list:
    received: list = []
    deadline = time.monotonic() + timeout
    while len(received) < expected and time.monotonic() < deadline:
        received += await consumer.getmany(timeout_ms=500)
    return received


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
async def test_async_round_trip_with_non_ascii_json(kafka_bootstrap: str, multi: bool) -> None:
    topics = [unique("orders"), unique("guns")]
    for topic in topics:
        await produce(kafka_bootstrap, topic, 25)
    async with AsyncKafkaConsumerClient(
        topics, settings(kafka_bootstrap), group_id=unique("g"), multi_consumer_mode=multi, decode_json=True
    ) as consumer:
        assert consumer.multi_consumer_mode is multi
        messages = await consume_async(consumer, 50)
    assert len(messages) == 50
    assert {m.topic for m in messages} == set(topics)
    assert all(
        m.error is None and m.value["carProducerCode"] == "比亚迪" and m.value["备注"] == "快充" for m in messages
    )
    for topic in topics:
        assert sorted(m.value["seq"] for m in messages if m.topic == topic) == list(range(25))


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_sync_round_trip_with_non_ascii_json(kafka_bootstrap: str, multi: bool) -> None:
    topics = [unique("orders"), unique("guns")]
    producer = KafkaProducerClient(settings(kafka_bootstrap))
    try:
        for topic in topics:
            for i in range(10):
                producer.send(topic, {**ORDER, "seq": i}, key="ST0001")
    finally:
        producer.close()
    consumer = KafkaConsumerClient(topics, settings(kafka_bootstrap), group_id=unique("g"), multi_consumer_mode=multi)
    try:
        messages: list = []
        deadline = time.monotonic() + 30
        while len(messages) < 20 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                messages += batch
    finally:
        consumer.close()
    assert len(messages) == 20
    assert {m.value["备注"] for m in messages} == {"快充"}
    for topic in topics:
        assert [m.value["seq"] for m in messages if m.topic == topic] == list(range(10))


async def test_non_json_value_is_delivered_with_an_error(kafka_bootstrap: str) -> None:
    topic = unique("raw")
    async with AsyncKafkaProducerClient(settings(kafka_bootstrap)) as producer:
        await producer.send(topic, b"{not json", key="ST0001")
        await producer.send(topic, {"ok": True}, key="ST0001")
    async with AsyncKafkaConsumerClient(
        [topic], settings(kafka_bootstrap), group_id=unique("g"), decode_json=True
    ) as consumer:
        bad, good = await consume_async(consumer, 2)
    assert bad.value is None and bad.error.startswith("not UTF-8 JSON")
    assert good.value == {"ok": True} and good.offset == bad.offset + 1


async def test_commit_then_resume_continues_exactly_after_the_committed_offset(kafka_bootstrap: str) -> None:
    topic, group = unique("resume"), unique("g")
    await produce(kafka_bootstrap, topic, 100)
    async with AsyncKafkaConsumerClient(
        [topic], settings(kafka_bootstrap, max_poll_records=40), group_id=group, decode_json=True
    ) as c:
        first = (await consume_async(c, 40))[:40]
        await c.commit_offsets({first[-1].tp: first[-1].offset + 1})
    assert [m.value["seq"] for m in first] == list(range(40))
    async with AsyncKafkaConsumerClient([topic], settings(kafka_bootstrap), group_id=group, decode_json=True) as c:
        rest = await consume_async(c, 60)
        assert await c.getmany(timeout_ms=300) == []
    assert [m.value["seq"] for m in rest] == list(range(40, 100))


async def test_a_crash_before_the_commit_delivers_the_messages_again(kafka_bootstrap: str) -> None:
    topic, group = unique("crash"), unique("g")
    await produce(kafka_bootstrap, topic, 30)
    async with AsyncKafkaConsumerClient([topic], settings(kafka_bootstrap), group_id=group, decode_json=True) as c:
        seen = await consume_async(c, 30)
        await c.commit_offsets({seen[9].tp: seen[9].offset + 1})  # only the first 10 were handled
    async with AsyncKafkaConsumerClient([topic], settings(kafka_bootstrap), group_id=group, decode_json=True) as c:
        again = await consume_async(c, 20)
    assert [m.value["seq"] for m in again] == list(range(10, 30))


@pytest.mark.parametrize("client", ["async-consumer", "async-producer", "sync-consumer", "sync-producer"])
async def test_wrong_bootstrap_fails_after_the_configured_retries(client: str, caplog) -> None:
    address = f"127.0.0.1:{free_port()}"
    config = settings(address, max_retries=3, retry_interval=0.05, bootstrap_timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError) as info:
        if client == "async-consumer":
            await AsyncKafkaConsumerClient(["t"], config).start()
        elif client == "async-producer":
            await AsyncKafkaProducerClient(config).start()
        elif client == "sync-consumer":
            await asyncio.to_thread(KafkaConsumerClient, ["t"], config)
        else:
            await asyncio.to_thread(KafkaProducerClient, config)
    assert address in str(info.value) and "after 3 attempts" in str(info.value)
    assert sum("attempt" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records) == 2
    assert time.monotonic() - started < 20


async def test_a_quiet_topic_is_not_starved_by_a_busy_one(kafka_bootstrap: str) -> None:
    busy, quiet = unique("busy"), unique("quiet")
    async with AsyncKafkaProducerClient(settings(kafka_bootstrap, linger_ms=20)) as producer:
        for chunk in range(20):
            await producer.send_many(busy, [(f"ST{i % 50}", {"seq": chunk * 5000 + i}) for i in range(5000)])
        await producer.send_many(quiet, [("ST0001", {"quiet": i}) for i in range(10)])
    config = settings(kafka_bootstrap, max_poll_records=500)
    async with AsyncKafkaConsumerClient([busy, quiet], config, group_id=unique("g")) as consumer:
        assert consumer.multi_consumer_mode
        delivered_busy = quiet_seen = 0
        rounds = 0
        while quiet_seen < 10 and rounds < 20:
            batch = await consumer.getmany(timeout_ms=3000)
            rounds += 1
            quiet_seen += sum(m.topic == quiet for m in batch)
            delivered_busy += sum(m.topic == busy for m in batch)
    print(f"\nquiet topic complete after {rounds} getmany calls, {delivered_busy} busy messages before it")
    assert quiet_seen == 10
    assert delivered_busy <= 2 * 4 * 500  # at most one round of the busy consumer's partitions


async def test_consumer_and_producer_recover_from_a_broker_restart() -> None:
    """The embedded broker keeps data in memory only, so a restart loses it: the producer re-sends
    after the restart, and the consumer must pick up everything produced from then on by itself."""
    with EmbeddedBroker() as broker:
        topic = unique("outage")
        config = settings(broker.bootstrap, max_retries=20, retry_interval=0.5)
        async with (
            AsyncKafkaProducerClient(config) as producer,
            AsyncKafkaConsumerClient([topic], config, group_id=unique("g"), decode_json=True) as consumer,
        ):
            await producer.send_many(topic, [("ST0001", {"phase": "before", "seq": i}) for i in range(20)])
            before = await consume_async(consumer, 20)
            assert len(before) == 20

            broker.stop()
            assert (await consumer.getmany(timeout_ms=1500)) == []  # the loop survives the outage
            noticed_by = time.monotonic() + 15
            while consumer.connected and time.monotonic() < noticed_by:
                started = time.monotonic()
                assert (await consumer.getmany(timeout_ms=500)) == []
                assert time.monotonic() - started < 2  # the outage check never holds up a poll
            assert not consumer.connected  # the status shows the outage
            restarted_at = time.monotonic()
            broker.start()
            await producer.send_many(topic, [("ST0001", {"phase": "after", "seq": i}) for i in range(20)])
            produced_at = time.monotonic()
            after = await consume_async(consumer, 20, timeout=30)
            recovered = time.monotonic() - restarted_at
            assert consumer.connected and producer.connected
    print(f"\nrecovery after broker restart: producer {produced_at - restarted_at:.1f} s, consumer {recovered:.1f} s")
    assert [m.value["seq"] for m in after if m.value["phase"] == "after"] == list(range(20))
    assert recovered < 30


async def _two_partitions(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()


async def _send_to(bootstrap: str, topic: str, partition: int, seqs: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for seq in seqs:
            await producer.send_and_wait(topic, orjson.dumps({**ORDER, "seq": seq}), partition=partition)
    finally:
        await producer.stop()


def _member(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


async def test_a_rebalance_neither_repeats_kept_partitions_nor_blocks_commits(kafka_bootstrap: str) -> None:
    """A second member joins the group: the partition the first keeps goes on after what it had
    read (not from its last commit), and its commits go on although one partition moved away
    (that one's offsets are the new member's to commit)."""
    topic, group = unique("rebalance"), unique("g")
    await _two_partitions(kafka_bootstrap, topic)
    for partition in (0, 1):
        await _send_to(kafka_bootstrap, topic, partition, range(10))
    first = AsyncKafkaConsumerClient([topic], settings(kafka_bootstrap), group_id=group, decode_json=True)
    await first.start()
    second = _member(kafka_bootstrap, topic, group)
    try:
        seen = await consume_async(first, 20)
        assert len(seen) == 20
        await first.commit_offsets({m.tp: 5 for m in seen})  # five of each partition handled
        await second.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (len(second.assignment()) == len(first.assignment()) == 1):
            await asyncio.gather(first.getmany(timeout_ms=200), second.getmany(timeout_ms=200))
        [kept] = first.assignment()
        [moved] = {TopicPartition(topic, 0), TopicPartition(topic, 1)} - {kept}
        await _send_to(kafka_bootstrap, topic, kept.partition, range(10, 11))
        again = await consume_async(first, 1, timeout=10)
        assert [(m.partition, m.offset) for m in again] == [(kept.partition, 10)]  # not 5..9 a second time
        await first.commit_offsets({kept: 11, moved: 10})
        assert first.get_lag_info()[topic][kept.partition]["committed"] == 11
        assert await second.committed(AioTopicPartition(topic, moved.partition)) == 5  # left to the new owner
    finally:
        await second.stop()
        await first.stop()


async def test_the_thread_based_consumer_keeps_its_place_through_a_rebalance(kafka_bootstrap: str) -> None:
    """The same with kafka-python (which keeps a kept partition's position itself); the offsets
    of the partition that moved are not committed by the old member."""
    topic, group = unique("rebalance-sync"), unique("g")
    await _two_partitions(kafka_bootstrap, topic)
    for partition in (0, 1):
        await _send_to(kafka_bootstrap, topic, partition, range(10))
    first = await asyncio.to_thread(KafkaConsumerClient, [topic], settings(kafka_bootstrap), group_id=group)
    second = None  # a kafka-python member too: the clients' default assignors differ

    def poll(count: int, timeout: float = 30.0) -> list:
        received: list = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            for messages in first.poll(timeout_ms=200).values():
                received += messages
        return received

    try:
        seen = await asyncio.to_thread(poll, 20)
        assert len(seen) == 20
        await asyncio.to_thread(first.commit_offsets, {m.tp: 5 for m in seen})
        second = await asyncio.to_thread(
            kafka.KafkaConsumer,
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (len(second.assignment()) == len(first.assignment()) == 1):
            await asyncio.gather(asyncio.to_thread(first.poll, 200), asyncio.to_thread(second.poll, 200))
        [kept] = first.assignment()
        [moved] = {TopicPartition(topic, 0), TopicPartition(topic, 1)} - {kept}
        await _send_to(kafka_bootstrap, topic, kept.partition, range(10, 11))
        again = await asyncio.to_thread(poll, 1, 10.0)
        assert [(m.partition, m.offset) for m in again] == [(kept.partition, 10)]
        await asyncio.to_thread(first.commit_offsets, {kept: 11, moved: 10})
        assert first.get_lag_info()[topic][kept.partition]["committed"] == 11
        moved_tp = kafka.TopicPartition(topic, moved.partition)
        assert await asyncio.to_thread(second.committed, moved_tp) == 5  # the new owner's, not moved back
    finally:
        if second is not None:
            await asyncio.to_thread(second.close)
        await asyncio.to_thread(first.close)
