"""Checkpoints in a service (service.state_dir): a damaged file costs only its station, a
directory that cannot be written holds the offsets back, and the thread-based service restores
as the async one does."""

from __future__ import annotations

import logging
from pathlib import Path

from helpers import until, wait_for

from d_a import AsyncDataAnalysisService, DataAnalysisService
from d_a.kafka import InMemoryBroker, TopicPartition
from d_a.simulator import StationSimulator

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
        assert set(service.dispatcher.stations()) == stations - {"ST0002"}
    finally:
        await service.stop()


async def test_a_directory_that_cannot_be_written_holds_the_offsets_back(
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
            gun = "SCHEDULE-DEVICE-GUN"
            assert [broker.committed(f"{GROUP}-{gun}", TopicPartition(gun, p)) for p in range(3)] == [None] * 3
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
