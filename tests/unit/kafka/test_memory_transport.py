"""The in-memory transport behaves like Kafka for everything the service relies on."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

import pytest

from d_a.errors import KafkaConnectionError
from d_a.kafka.assignment import AssignedPartition
from d_a.kafka.memory import (
    AsyncMemoryConsumer,
    AsyncMemoryProducer,
    InMemoryBroker,
    MemoryConsumer,
    MemoryProducer,
    MemoryTransport,
)
from d_a.kafka.message import TopicPartition

TOPIC = "SCHEDULE-DEVICE-METER"


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(partitions=3)


async def consumer_of(broker: InMemoryBroker, *topics: str, **options) -> AsyncMemoryConsumer:
    consumer = AsyncMemoryConsumer(list(topics or [TOPIC]), broker, **{"auto_offset_reset": "earliest", **options})
    await consumer.start()
    return consumer


async def drain(consumer: AsyncMemoryConsumer, expected: int, timeout_ms: int = 200) -> list:
    """Everything the consumer returns until `expected` messages arrived or a fetch comes back empty."""
    received: list = []
    while len(received) < expected:
        batch = await consumer.getmany(timeout_ms=timeout_ms)
        if not batch:
            break
        received.extend(batch)
    return received


async def test_round_trip_keeps_non_ascii_json_and_delivers_bad_values_with_an_error(broker):
    transport = MemoryTransport(broker)
    producer = transport.async_producer()
    await producer.start()
    consumer = transport.async_consumer([TOPIC])
    await consumer.start()
    value = {"stationId": "站点-001", "note": "充电桩 ✓", "meterPower": [1.5, 2.0]}

    await producer.send(TOPIC, value, key="站点-001")
    broker.produce(TOPIC, b"\xff not json {")
    messages = await drain(consumer, 2)

    good, bad = sorted(messages, key=lambda m: m.error is not None)
    assert good.value == value and good.error is None
    assert good.key == "站点-001".encode()
    assert bad.value is None and "not UTF-8 JSON" in bad.error
    partition = good.partition
    stored = broker._logs[TOPIC][partition][good.offset][2]
    assert "充电桩 ✓".encode() in stored  # UTF-8 on the wire, not \\u escapes


def test_sync_clients_round_trip(broker):
    producer = MemoryProducer(broker)
    consumer = MemoryConsumer([TOPIC], broker, auto_offset_reset="earliest")
    producer.send(TOPIC, [{"stationId": "S1"}], key=b"S1")
    producer.send(TOPIC, b'{"raw": true}')

    polled = consumer.poll(timeout_ms=200)

    values = [m.value for messages in polled.values() for m in messages]
    assert sorted(values, key=str) == [[{"stationId": "S1"}], {"raw": True}]
    assert all(isinstance(tp, TopicPartition) for tp in polled)
    consumer.close()
    producer.close()
    assert not consumer.connected and not producer.connected


async def test_one_key_always_lands_on_one_partition_in_order(broker):
    stations = [f"S{i:03d}" for i in range(20)]
    for seq in range(30):
        for station in stations:
            broker.produce(TOPIC, f'{{"seq": {seq}}}'.encode(), key=station.encode())
    consumer = await consumer_of(broker)

    messages = await drain(consumer, 600)

    assert len(messages) == 600
    partitions, sequences = defaultdict(set), defaultdict(list)
    for msg in messages:
        partitions[msg.key].add(msg.partition)
        sequences[msg.key].append(msg.value["seq"])
    assert all(len(p) == 1 for p in partitions.values())
    assert all(seqs == list(range(30)) for seqs in sequences.values())
    assert len({p for ps in partitions.values() for p in ps}) > 1  # keys are spread over partitions


async def test_committed_offsets_are_per_group_and_a_new_consumer_resumes_from_them(broker):
    broker.create_topic(TOPIC, partitions=1)
    for i in range(10):
        broker.produce(TOPIC, f"{i}".encode())
    first = await consumer_of(broker, group_id="g1")
    batch = await first.getmany(max_records=4)
    await first.commit_offsets({TopicPartition(TOPIC, 0): batch[-1].offset + 1})
    await first.stop()

    resumed = await consumer_of(broker, group_id="g1")
    other_group = await consumer_of(broker, group_id="g2")

    assert [m.value for m in await drain(resumed, 6)] == [4, 5, 6, 7, 8, 9]
    assert [m.value for m in await drain(other_group, 10)] == list(range(10))
    assert broker.committed("g1", TopicPartition(TOPIC, 0)) == 4
    assert broker.committed("g2", TopicPartition(TOPIC, 0)) is None


async def test_a_standby_member_takes_over_when_the_active_one_stops(broker):
    broker.create_topic(TOPIC, partitions=1)
    active = await consumer_of(broker, group_id="g")
    standby = await consumer_of(broker, group_id="g")
    broker.produce(TOPIC, b"1")
    assert [m.value for m in await active.getmany(timeout_ms=200)] == [1]
    await active.commit_offsets({TopicPartition(TOPIC, 0): 1})
    broker.produce(TOPIC, b"2")
    assert await standby.getmany(timeout_ms=50) == []

    await active.stop()

    assert [m.value for m in await standby.getmany(timeout_ms=200)] == [2]


@pytest.mark.parametrize(("reset", "expected"), [("earliest", [1, 2, 3]), ("latest", [3])])
async def test_auto_offset_reset_decides_where_a_new_group_starts(broker, reset, expected):
    broker.create_topic(TOPIC, partitions=1)
    broker.produce(TOPIC, b"1")
    broker.produce(TOPIC, b"2")
    consumer = await consumer_of(broker, auto_offset_reset=reset)
    broker.produce(TOPIC, b"3")

    assert [m.value for m in await drain(consumer, 3)] == expected


async def test_a_busy_topic_cannot_starve_a_quiet_one(broker):
    busy, quiet = "SCHEDULE-CAR-ORDER", "SCHEDULE-DEVICE-ERROR"
    for i in range(100_000):
        broker.produce(busy, b"{}", key=str(i % 500).encode())
    for i in range(10):
        broker.produce(quiet, f'{{"n": {i}}}'.encode())
    consumer = await consumer_of(broker, busy, quiet)

    first = await consumer.getmany(max_records=500)

    assert len(first) == 500
    assert sorted(m.value["n"] for m in first if m.topic == quiet) == list(range(10))


def test_sync_poll_is_fair_with_max_records(broker):
    for _ in range(1_000):
        broker.produce("busy", b"{}")
    broker.produce("quiet", b"{}")
    consumer = MemoryConsumer(["busy", "quiet"], broker, auto_offset_reset="earliest")

    polled = consumer.poll(timeout_ms=0, max_records=10)

    assert sum(map(len, polled.values())) == 10
    assert any(tp.topic == "quiet" for tp in polled)


async def test_getone_keeps_the_rest_of_a_fetch_for_later_calls(broker):
    broker.create_topic(TOPIC, partitions=1)
    for i in range(5):
        broker.produce(TOPIC, f"{i}".encode())
    consumer = await consumer_of(broker)

    first = await consumer.getone()
    second = await consumer.getone()
    rest = await consumer.getmany(timeout_ms=0)

    assert [first.value, second.value] == [0, 1]
    assert [m.value for m in rest] == [2, 3, 4]
    assert await consumer.getmany(timeout_ms=0) == []


async def test_getmany_returns_as_soon_as_data_arrives(broker):
    consumer = await consumer_of(broker)
    started = time.monotonic()
    fetch = asyncio.create_task(consumer.getmany(timeout_ms=5_000))
    await asyncio.sleep(0.05)

    broker.produce(TOPIC, b'{"late": true}')
    messages = await fetch

    assert [m.value for m in messages] == [{"late": True}]
    assert time.monotonic() - started < 1.0


async def test_getmany_wakes_when_another_thread_produces(broker):
    consumer = await consumer_of(broker)
    timer = threading.Timer(0.05, broker.produce, args=(TOPIC, b"7"))
    started = time.monotonic()
    timer.start()

    messages = await consumer.getmany(timeout_ms=5_000)

    assert [m.value for m in messages] == [7]
    assert time.monotonic() - started < 1.0


async def test_an_idle_getmany_respects_its_timeout_without_burning_cpu(broker):
    consumer = await consumer_of(broker)
    cpu, started = time.process_time(), time.monotonic()

    assert await consumer.getmany(timeout_ms=300) == []

    elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 1.0
    assert time.process_time() - cpu < 0.1


def test_an_idle_poll_respects_its_timeout_without_burning_cpu(broker):
    consumer = MemoryConsumer([TOPIC], broker)
    cpu, started = time.process_time(), time.monotonic()

    assert consumer.poll(timeout_ms=300) == {}

    assert 0.29 <= time.monotonic() - started < 1.0
    assert time.process_time() - cpu < 0.1


async def test_an_unavailable_broker_fails_sends_and_commits_and_starves_fetches_until_it_recovers(broker):
    consumer = await consumer_of(broker)
    producer = AsyncMemoryProducer(broker, retries=1, retry_backoff_ms=1)
    await producer.start()
    sync_consumer = MemoryConsumer([TOPIC], broker, group_id="sync")
    tp = TopicPartition(TOPIC, 0)

    broker.set_available(False)

    assert not consumer.connected and not producer.connected
    assert await consumer.getmany(timeout_ms=0) == []  # the consuming loop goes on
    assert sync_consumer.poll(timeout_ms=0) == {}
    with pytest.raises(KafkaConnectionError):
        await producer.send(TOPIC, {"a": 1})
    with pytest.raises(KafkaConnectionError):
        await consumer.commit_offsets({tp: 0})
    with pytest.raises(KafkaConnectionError):
        await AsyncMemoryConsumer([TOPIC], broker).start()

    broker.set_available(True)

    await producer.send(TOPIC, {"a": 1})
    assert [m.value for m in await consumer.getmany(timeout_ms=200)] == [{"a": 1}]
    await consumer.commit_offsets({tp: 0})
    assert consumer.connected and producer.connected


async def test_a_fetch_waiting_through_an_outage_gets_data_sent_after_recovery(broker):
    consumer = await consumer_of(broker)
    fetch = asyncio.create_task(consumer.getmany(timeout_ms=2_000))
    await asyncio.sleep(0.02)
    broker.set_available(False)
    await asyncio.sleep(0.02)
    assert not consumer.connected
    broker.set_available(True)
    broker.produce(TOPIC, b'{"after": 1}', key=b"ST0001")

    assert [m.value for m in await fetch] == [{"after": 1}]
    assert consumer.connected


async def test_a_send_during_a_short_outage_succeeds_through_retries(broker):
    producer = AsyncMemoryProducer(broker, retries=50, retry_backoff_ms=5)
    await producer.start()
    broker.set_available(False)
    asyncio.get_running_loop().call_later(0.03, broker.set_available, True)

    await producer.send(TOPIC, {"kept": True})

    assert sum(broker.end_offsets(TOPIC).values()) == 1


async def test_injected_commit_failures_hit_the_next_commits_only(broker):
    consumer = await consumer_of(broker)
    tp = TopicPartition(TOPIC, 0)
    broker.fail_commits(2)

    for _ in range(2):
        with pytest.raises(KafkaConnectionError):
            await consumer.commit_offsets({tp: 1})
    await consumer.commit_offsets({tp: 1})

    assert broker.committed("data_analysis_group", tp) == 1


def test_sync_poll_in_one_thread_while_another_thread_produces(broker):
    consumer = MemoryConsumer([TOPIC], broker)
    producer = MemoryProducer(broker)
    received = []

    def consume():
        deadline = time.monotonic() + 10
        while len(received) < 2_000 and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=100, max_records=64).values():
                received.extend(messages)

    def produce():
        for i in range(2_000):
            producer.send(TOPIC, {"seq": i // 10}, key=f"S{i % 10}")

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert len(received) == 2_000
    per_key = defaultdict(list)
    for msg in received:
        per_key[msg.key].append(msg.value["seq"])
    assert all(seqs == list(range(200)) for seqs in per_key.values())


async def test_lag_info_reports_position_committed_end_and_lag(broker):
    broker.create_topic(TOPIC, partitions=1)
    for i in range(10):
        broker.produce(TOPIC, f"{i}".encode())
    consumer = await consumer_of(broker, max_poll_records=3)
    tp = TopicPartition(TOPIC, 0)

    await consumer.getmany()
    await consumer.commit_offsets({tp: 2})

    assert consumer.get_lag_info() == {TOPIC: {0: {"position": 3, "committed": 2, "end_offset": 10, "lag": 7}}}


async def test_clients_must_be_started_and_not_stopped(broker):
    consumer = AsyncMemoryConsumer([TOPIC], broker)
    producer = AsyncMemoryProducer(broker)

    with pytest.raises(KafkaConnectionError, match="not started"):
        await consumer.getmany(timeout_ms=0)
    with pytest.raises(KafkaConnectionError, match="not started"):
        await producer.send(TOPIC, {})
    await consumer.start()
    await consumer.stop()
    with pytest.raises(KafkaConnectionError, match="closed"):
        await consumer.getmany(timeout_ms=0)


async def test_async_clients_work_as_context_managers_and_send_many_keeps_order(broker):
    async with AsyncMemoryProducer(broker) as producer, await consumer_of(broker) as consumer:
        await producer.send_many(TOPIC, [("S1", {"n": n}) for n in range(5)] + [(None, b"[1]")])
        messages = await drain(consumer, 6)

    assert [m.value for m in messages if m.key == b"S1"] == [{"n": n} for n in range(5)]
    assert [m.value for m in messages if m.key is None] == [[1]]
    assert not producer.connected and not consumer.connected


def test_stored_messages_cost_their_length_not_orjsons_buffer(broker):
    """orjson returns a 4 KiB buffer behind each small value; a broker holding a feed keeps copies
    sized to the text (a 300,000-message soak grew 1.5 GB before)."""
    import tracemalloc

    import orjson

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1_000):
            broker.produce(TOPIC, orjson.dumps({"stationId": f"S{i:03d}", "seq": i}))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000 * 400, f"{grown / 1_000:.0f} bytes per stored message"


async def test_a_consumer_with_data_waiting_lets_other_tasks_run(broker):
    """Like a network client, a fetch that finds data at once still yields to the event loop, so
    callbacks run while a backlog is read (the service's workers share the loop with its fetches)."""
    for i in range(2_000):
        broker.produce(TOPIC, b'{"seq": %d}' % i)
    consumer = await consumer_of(broker, max_poll_records=100)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    try:
        assert len(await drain(consumer, 2_000)) == 2_000
    finally:
        task.cancel()
        await consumer.stop()
    assert turns >= 19


def test_the_offset_for_a_time_is_the_first_at_or_after_it(broker):
    for stamp in (1_000, 2_000, 2_000, 3_000):
        broker.produce(TOPIC, b"{}", key=b"ST0001", timestamp_ms=stamp)
    tp = next(TopicPartition(TOPIC, p) for p, end in broker.end_offsets(TOPIC).items() if end)
    assert [broker.offset_for_time(tp, t) for t in (0, 1_500, 2_000, 3_000, 3_001)] == [0, 1, 1, 3, 4]


async def test_a_start_chooser_decides_where_each_assigned_partition_is_read(broker):
    for i in range(6):
        broker.produce(TOPIC, b"{}", key=b"ST0001", timestamp_ms=1_000 * i)
    tp = next(TopicPartition(TOPIC, p) for p, end in broker.end_offsets(TOPIC).items() if end)
    broker.commit("g", {tp: 5})
    seen = {}

    class Chooser:
        def since_ms(self):
            return 2_000

        def choose_start(self, assigned):
            seen.update(assigned)
            return {tp: 1}

        async def prepare(self, partitions):
            raise AssertionError("the memory consumer restores nothing when assigned")

        def partitions_lost(self, partitions):
            raise AssertionError(f"nothing moves in a group of one: {partitions}")

    consumer = AsyncMemoryConsumer([TOPIC], broker, group_id="g")
    consumer.start_from(Chooser())
    await consumer.start()
    try:
        assert seen[tp] == AssignedPartition(committed=5, earliest=0, position=5, since=2)
        assert [m.offset for m in await consumer.getmany(timeout_ms=100)] == [1, 2, 3, 4, 5]
    finally:
        await consumer.stop()
