"""OffsetManager commits only what was fully handled, when it should, and survives failed commits."""

from __future__ import annotations

import logging
import random
import tracemalloc

import pytest

from d_a.config.schema import OffsetCommitConfig
from d_a.kafka.memory import AsyncMemoryConsumer, InMemoryBroker
from d_a.kafka.message import KafkaMessage, TopicPartition
from d_a.kafka.offsets import OffsetManager

TOPIC = "SCHEDULE-DEVICE-METER"
GROUP = "data_analysis_group"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(partitions=2)


@pytest.fixture
async def consumer(broker) -> AsyncMemoryConsumer:
    consumer = AsyncMemoryConsumer([TOPIC], broker, auto_offset_reset="earliest")
    await consumer.start()
    return consumer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_manager(consumer, clock, sleeps):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make(**config) -> OffsetManager:
        settings = {"commit_batch_size": 10, "commit_interval_seconds": 5.0, "commit_retry_delay": 0.5, **config}
        return OffsetManager(consumer, OffsetCommitConfig(**settings), clock=clock, sleep=sleep)

    return make


def msg(offset: int, partition: int = 0) -> KafkaMessage:
    return KafkaMessage(TOPIC, partition, offset, None, {})


def handle(manager: OffsetManager, offsets, partition: int = 0) -> None:
    for offset in offsets:
        manager.begin(msg(offset, partition))
        manager.mark_done(msg(offset, partition))


async def test_commits_once_batch_size_messages_are_done(make_manager, broker, caplog):
    manager = make_manager(commit_batch_size=10, commit_interval_seconds=3600)
    caplog.set_level(logging.INFO, logger="d_a.kafka.offsets")

    handle(manager, range(9))
    assert not await manager.maybe_commit()
    assert broker.committed(GROUP, TP0) is None

    handle(manager, [9])
    assert await manager.maybe_commit()

    assert broker.committed(GROUP, TP0) == 10
    assert manager.committed_offsets == {TP0: 10}
    assert not manager.should_commit()
    assert caplog.records == []  # routine commits are not logged at INFO


async def test_commits_after_the_interval_only_when_something_is_done(make_manager, broker, clock):
    manager = make_manager(commit_batch_size=100, commit_interval_seconds=5.0)
    clock.now += 60
    assert not manager.should_commit()  # nothing to commit yet

    handle(manager, range(3))
    assert manager.should_commit()  # the interval had long passed when data arrived
    assert await manager.maybe_commit()

    handle(manager, [3])
    clock.now += 4.5
    assert not manager.should_commit()
    clock.now += 0.5
    assert await manager.maybe_commit()
    assert broker.committed(GROUP, TP0) == 4
    clock.now += 60
    assert not manager.should_commit()


async def test_a_failing_commit_is_retried_then_succeeds(make_manager, broker, sleeps):
    manager = make_manager(max_commit_retries=3, commit_retry_delay=0.5)
    handle(manager, range(5))
    broker.fail_commits(2)

    assert await manager.commit()

    assert sleeps == [0.5, 0.5]
    assert broker.committed(GROUP, TP0) == 5
    assert (manager.commits, manager.failed_commits) == (1, 0)


async def test_a_final_failure_keeps_the_offsets_for_a_later_commit(make_manager, broker, sleeps, caplog):
    manager = make_manager(max_commit_retries=2)
    handle(manager, range(5))
    broker.set_available(False)
    caplog.set_level(logging.DEBUG, logger="d_a.kafka.offsets")

    assert not await manager.commit()

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "3 attempts" in warnings[0].getMessage()
    assert len(sleeps) == 2
    assert manager.failed_commits == 1
    assert manager.committable() == {TP0: 5}
    assert broker.committed(GROUP, TP0) is None

    broker.set_available(True)
    assert await manager.commit()
    assert broker.committed(GROUP, TP0) == 5


async def test_a_commit_error_of_any_kind_never_escapes():
    class BrokenConsumer:
        async def commit_offsets(self, offsets):
            raise RuntimeError("boom")

    async def no_sleep(seconds: float) -> None:
        pass

    manager = OffsetManager(BrokenConsumer(), OffsetCommitConfig(max_commit_retries=1), sleep=no_sleep)
    handle(manager, range(3))

    assert not await manager.commit()
    assert not await manager.close()
    assert manager.committable() == {TP0: 3}


async def test_an_unfinished_message_is_replayed_after_a_restart(broker):
    broker.create_topic("orders", partitions=1)
    for i in range(5):
        broker.produce("orders", f"{i}".encode())
    consumer = AsyncMemoryConsumer(["orders"], broker, auto_offset_reset="earliest")
    await consumer.start()
    manager = OffsetManager(consumer)
    messages = await consumer.getmany(timeout_ms=100)
    for message in messages:
        manager.begin(message)
    for message in messages[1:]:
        manager.mark_done(message)  # offset 0 is still being handled

    assert await manager.close()
    await consumer.stop()
    restarted = AsyncMemoryConsumer(["orders"], broker, auto_offset_reset="latest")
    await restarted.start()

    assert [m.offset for m in await restarted.getmany(timeout_ms=100)] == [0, 1, 2, 3, 4]


async def test_a_slow_message_holds_back_only_later_offsets_of_its_partition(make_manager):
    manager = make_manager()
    for offset in range(5):
        manager.begin(msg(offset))
    for offset in range(1, 5):
        manager.mark_done(msg(offset))
    handle(manager, range(10), partition=1)

    assert manager.committable() == {TP0: 0, TP1: 10}
    assert manager.pending_count == 1

    manager.mark_done(msg(0))
    assert manager.committable() == {TP0: 5, TP1: 10}


async def test_messages_done_out_of_order_commit_up_to_the_lowest_unfinished(make_manager):
    manager = make_manager()
    offsets = list(range(50))
    for offset in offsets:
        manager.begin(msg(offset))
    random.Random(7).shuffle(offsets)
    unfinished = set(offsets)

    for offset in offsets:
        manager.mark_done((TP0, offset))
        unfinished.discard(offset)
        assert manager.committable() == {TP0: min(unfinished, default=50)}


async def test_partitions_are_committed_independently(make_manager, broker):
    manager = make_manager()
    for offset in range(3):
        manager.begin(msg(offset, partition=0))
    manager.mark_done(msg(2, partition=0))
    handle(manager, range(10), partition=1)

    assert await manager.commit()

    assert broker.committed(GROUP, TP0) == 0
    assert broker.committed(GROUP, TP1) == 10


async def test_close_commits_what_is_done(make_manager, broker, caplog):
    manager = make_manager(commit_batch_size=100, commit_interval_seconds=60)
    handle(manager, range(3))
    assert not manager.should_commit()
    caplog.set_level(logging.INFO, logger="d_a.kafka.offsets")

    assert await manager.close()

    assert broker.committed(GROUP, TP0) == 3
    assert [r.getMessage() for r in caplog.records] == ["final offset commit: 1 partition(s)"]


async def test_redelivered_and_untracked_messages(make_manager):
    manager = make_manager()
    handle(manager, range(10))
    assert await manager.commit()

    for offset in range(5, 10):
        manager.begin(msg(offset))  # redelivered after a rebalance: already committed
    assert manager.pending_count == 0
    assert manager.committable() == {}

    manager.mark_done(TP0, 12)  # never tracked: counts as tracked and done
    assert manager.committable() == {TP0: 13}
    manager.mark_done((TP0, 13))
    assert manager.committable() == {TP0: 14}


async def test_memory_stays_bounded_after_a_million_messages(make_manager):
    manager = make_manager()
    manager.begin((TP0, 0))  # stuck for the whole run: everything behind it is held back
    fetched = msg(0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for offset in range(1, 1_000_001):
            fetched.offset = offset
            manager.begin(fetched)
            manager.mark_done(fetched)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert current - before < 100_000
    assert peak - before < 1_000_000  # one set entry per message would take tens of MB
    assert manager.pending_count == 1
    assert manager.committable() == {TP0: 0}
    manager.mark_done(TP0, 0)
    assert manager.committable() == {TP0: 1_000_001}


async def test_track_message_is_the_seeds_handled_and_begin_holds_the_partition() -> None:
    """The seeds' `track_message(msg)`: handled, committable at once; `begin` keeps a partition's
    commit below a message until `mark_done`."""
    committed = []

    class Consumer:
        def commit_offsets(self, offsets):
            committed.append(dict(offsets))

    manager = OffsetManager(Consumer(), {"commit_batch_size": 1})
    manager.begin(msg(5))
    manager.track_message(msg(6))
    assert await manager.commit() and committed[-1] == {TP0: 5}  # 5 still in flight
    manager.mark_done(msg(5))
    assert await manager.commit() and committed[-1] == {TP0: 7}


async def test_messages_below_a_noted_committed_offset_are_neither_held_nor_committed_again(make_manager, broker):
    manager = make_manager()
    manager.note_committed(TP0, 6)  # read again from 2 after a restart: 2-5 are committed already
    handle(manager, range(2, 6), partition=0)
    assert manager.committable() == {}
    assert manager.positions() == {TP0: 6}  # what was read still counts as fetched

    manager.begin(msg(6))
    assert manager.committable() == {}  # 6 in flight: nothing new to commit
    manager.mark_done(msg(6))
    assert await manager.commit()
    assert broker.committed(GROUP, TP0) == 7


async def test_positions_are_the_offsets_after_the_highest_fetched(make_manager):
    manager = make_manager()
    for offset in (3, 4, 5):
        manager.begin(msg(offset))
    manager.mark_done(msg(4))
    handle(manager, [0], partition=1)

    assert manager.positions() == {TP0: 6, TP1: 1}
