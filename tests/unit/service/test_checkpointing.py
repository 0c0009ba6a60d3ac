"""Checkpoints in a service (service.state_dir): a damaged file costs only its station, a
directory that cannot be written is counted and logged while commits go on, the thread-based
service restores as the async one does, and where a restored service reads each partition from."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from helpers import until, wait_for

from d_a import AsyncDataAnalysisService, DataAnalysisService, DataDispatcher
from d_a.config import load_config
from d_a.kafka import InMemoryBroker, KafkaMessage, TopicPartition
from d_a.kafka.assignment import AssignedPartition
from d_a.service.checkpointing import StateKeeper
from d_a.service.tails import REBUILT, REPLAYED, ROUTED, Tails
from d_a.simulator import StationSimulator
from d_a.state import CheckpointStore

MODULE = "operation_optimization"
GROUP = "data_analysis_group.operation_optimization"


def _feed(broker: InMemoryBroker, seconds: int = 30) -> set[str]:
    """The simulator's first `seconds` on the broker; the stations it names."""
    simulator = StationSimulator(stations=3, seed=4)
    for message in simulator.initial_messages() + simulator.advance(seconds):
        broker.produce(message.topic, message.value, key=message.key)
    return {f"ST000{i}" for i in range(1, 4)}


async def _ignore(station_id, module_input):
    return None


async def _run_until_quiet(service: AsyncDataAnalysisService) -> None:
    await service.start(_ignore)
    status = service.get_service_status
    await until(lambda: status()["counters"]["callbacks"] >= 3 and status()["held_messages"] == 0)
    await service.stop()


async def test_a_damaged_station_file_costs_that_station_only(transport, broker, tmp_path: Path, caplog) -> None:
    stations = _feed(broker)
    await _run_until_quiet(AsyncDataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path)))
    damaged = next((tmp_path / GROUP).glob("ST0002-*.state"))
    damaged.write_bytes(damaged.read_bytes()[:-100])

    service = AsyncDataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, "d_a.state"):
        await service.start(_ignore)
    try:
        state = service.get_service_status()["state"]
        assert state["restored_stations"] == 2
        assert state["restore_progress"]["files_loaded"] == state["restore_progress"]["files"] >= 3
        [problem] = state["restore_problems"]
        assert problem.startswith("station ST0002: payload of") and damaged.name in problem
        assert "station ST0002" in caplog.text
        assert "stations ST0002 start with empty windows" in caplog.text and "restore_horizon_seconds" in caplog.text
        assert set(service.dispatcher.stations()) == stations - {"ST0002"}
    finally:
        await service.stop()


async def test_a_directory_that_cannot_be_written_is_counted_and_commits_go_on(
    transport, broker, tmp_path: Path, caplog
) -> None:
    _feed(broker)
    blocked = tmp_path / "state"
    blocked.write_text("a file where the state directory should be")
    service = AsyncDataAnalysisService(
        MODULE, transport=transport, state_dir=str(blocked), checkpoint_interval_seconds=0.1
    )
    with caplog.at_level(logging.WARNING, "d_a.state"):
        await service.start(_ignore)
        try:
            await until(lambda: service.get_service_status()["state"]["failed_rounds"] >= 2)
            assert service.get_service_status()["counters"]["callbacks"] >= 3
            gun = "SCHEDULE-DEVICE-GUN"  # a restart replays from the last round written (none: from the start)
            await until(lambda: any(broker.committed(GROUP, TopicPartition(gun, p)) for p in range(3)))
        finally:
            await service.stop()
    assert "checkpoint round not written" in caplog.text


def test_the_thread_based_service_restores_its_windows(transport, broker, tmp_path: Path) -> None:
    stations = _feed(broker)
    runs: list[str] = []

    def model(station_id, module_input):
        runs.append(station_id)

    first = DataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path))
    first.start(model, background=True)
    wait_for(lambda: len(set(runs)) == 3 and first.get_service_status()["held_messages"] == 0)
    before = {s: first.dispatcher.get_module_input(s, MODULE) for s in stations}
    first.stop()

    second = DataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path))
    second.start(model, background=True)
    try:
        assert second.get_service_status()["state"]["restored_stations"] == 3
        assert {s: second.dispatcher.get_module_input(s, MODULE) for s in stations} == before
    finally:
        second.stop()


async def test_rounds_after_a_restore_add_changes_and_a_refitted_station_is_saved_whole(
    transport, broker, tmp_path: Path
) -> None:
    """A restored service saves what its stations gained since as change files; a window refitted
    to a changed configuration at the restore is saved whole, and the next restore gives the
    windows the service had."""
    simulator = StationSimulator(stations=3, seed=4)
    for message in simulator.initial_messages() + simulator.advance(30):
        broker.produce(message.topic, message.value, key=message.key)
    await _run_until_quiet(AsyncDataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path)))
    gun = "SCHEDULE-DEVICE-GUN"
    spec = load_config({}).topics[gun].model_dump(exclude_unset=False)
    config = {"topics": {gun: {**spec, "interval_seconds": 30.0}}}
    for message in simulator.advance(20):
        broker.produce(message.topic, message.value, key=message.key)

    for run in range(2):  # the configuration changes before the first run only
        service = AsyncDataAnalysisService(MODULE, transport=transport, state_dir=str(tmp_path), config=config)
        await _run_until_quiet(service)
        chains = CheckpointStore(tmp_path / GROUP).load().changes
        if run == 0:
            assert chains == {s: 0 for s in chains}  # refitted: saved whole
            for message in simulator.advance(20):
                broker.produce(message.topic, message.value, key=message.key)
        else:
            assert any(chains.values())  # the stations gained rows: saved as their changes
    restored = CheckpointStore(tmp_path / GROUP).load()
    assert restored.problems == []
    for station, windows in restored.stations.items():
        live = service.dispatcher.windows.by_station[station]
        assert {t: w.records() for t, w in windows.items()} == {t: w.records() for t, w in live.items()}
        assert windows[gun].spec == live[gun].spec


def _keeper(tmp_path: Path, saved: dict[TopicPartition, int], **kwargs) -> StateKeeper:
    keeper = StateKeeper(CheckpointStore(tmp_path), DataDispatcher(), interval=60.0, **kwargs)
    keeper.saved_offsets = dict(saved)
    return keeper


def test_a_restored_service_reads_each_partition_from_the_lower_of_its_round_and_its_commit(tmp_path: Path) -> None:
    tp = [TopicPartition("SCHEDULE-DEVICE-GUN", p) for p in range(5)]
    keeper = _keeper(tmp_path, {tp[0]: 10, tp[1]: 10, tp[2]: 10, tp[3]: 10})
    starts = keeper.choose_start(
        {
            tp[0]: AssignedPartition(committed=15, earliest=0, position=15),  # callbacks ran past the round
            tp[1]: AssignedPartition(committed=7, earliest=0, position=7),  # the round is past the callbacks
            tp[2]: AssignedPartition(committed=None, earliest=0, position=0),  # nothing committed
            tp[3]: AssignedPartition(committed=15, earliest=12, position=15),  # 10-11 gone by retention
            tp[4]: AssignedPartition(committed=3, earliest=0, position=3),  # not in the round at all
        }
    )
    assert starts == {tp[0]: 10, tp[1]: 7, tp[2]: 10, tp[3]: 12, tp[4]: 3}
    assert keeper.tails.pending() == {
        tp[0]: [(15, REPLAYED)],
        tp[1]: [(10, ROUTED)],
        tp[3]: [(15, REPLAYED)],
    }
    assert keeper.replaying
    [problem] = keeper.problems
    assert "SCHEDULE-DEVICE-GUN[3]: offsets 10-11 are no longer in Kafka" in problem
    assert keeper.choose_start({tp[0]: AssignedPartition(15, 0, 15)}) == {}  # only the first assignment


def test_windows_to_rebuild_are_read_from_the_horizon_first(tmp_path: Path) -> None:
    tp = [TopicPartition("SCHEDULE-CAR-ORDER", p) for p in range(3)]
    keeper = _keeper(tmp_path, {tp[0]: 10, tp[1]: 10}, horizon=3600.0)
    keeper.rebuilding = {"ST0002"}  # its checkpoint file was damaged
    assert abs(keeper.since_ms() / 1000 - (time.time() - 3600)) < 5
    starts = keeper.choose_start(
        {
            tp[0]: AssignedPartition(committed=15, earliest=0, position=15, since=4),
            tp[1]: AssignedPartition(committed=7, earliest=0, position=7, since=12),  # nothing that old past 7
            tp[2]: AssignedPartition(committed=None, earliest=2, position=9, since=0),  # new; 0-1 deleted
        }
    )
    assert starts == {tp[0]: 4, tp[1]: 7, tp[2]: 2}
    assert keeper.tails.pending() == {
        tp[0]: [(10, REBUILT), (15, REPLAYED)],
        tp[1]: [(10, ROUTED)],
        tp[2]: [(9, REBUILT)],
    }


def test_messages_read_again_are_sorted_into_their_parts() -> None:
    gun, meter = TopicPartition("SCHEDULE-DEVICE-GUN", 0), TopicPartition("SCHEDULE-DEVICE-METER", 0)
    tails = Tails()
    tails.add(gun, 2, REBUILT)
    tails.add(gun, 4, REPLAYED)
    tails.add(meter, 2, ROUTED)

    def message(tp: TopicPartition, offset: int) -> KafkaMessage:
        return KafkaMessage(tp.topic, tp.partition, offset, None, {})

    split = tails.split([message(gun, 1), message(meter, 1), message(gun, 2), message(gun, 3), message(meter, 5)])
    assert [(m.topic, m.offset) for m in split.rebuilt] == [(gun.topic, 1)]
    assert [(m.topic, m.offset) for m in split.replayed] == [(gun.topic, 2), (gun.topic, 3)]
    assert [(m.topic, m.offset) for m in split.routed] == [(meter.topic, 1)]
    assert [(m.topic, m.offset) for m in split.fresh] == [(meter.topic, 5)]
    assert not tails and not tails.replaying  # both read to their ends
    assert tails.read_again == 3
