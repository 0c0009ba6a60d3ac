"""StationScheduler: coalescing triggers, and setting them aside while a backlog is read."""

from __future__ import annotations

from d_a.service.scheduler import StationScheduler


def queued(scheduler: StationScheduler) -> list[str]:
    out = []
    while not scheduler.queue.empty():
        out.append(scheduler.queue.get_nowait())
    return out


async def test_triggers_while_deferring_wait_and_each_station_runs_once_on_release() -> None:
    scheduler = StationScheduler(0.0, lambda station: True)
    scheduler.defer()
    for station in ["S1", "S2", "S1", "S3", "S2"]:
        assert scheduler.trigger(station)
    assert queued(scheduler) == [] and not scheduler.idle
    scheduler.release()
    assert queued(scheduler) == ["S1", "S2", "S3"]
    assert not scheduler.deferring


async def test_a_running_station_reruns_after_its_run_and_a_forgotten_one_is_dropped() -> None:
    scheduler = StationScheduler(0.0, lambda station: True)
    scheduler.trigger("S1")
    assert queued(scheduler) == ["S1"]
    scheduler.started("S1")
    scheduler.defer()
    scheduler.trigger("S1")  # during its run: one more run after it, set aside while deferring
    scheduler.trigger("S2")
    scheduler.remove("S2")
    scheduler.finished("S1")
    assert queued(scheduler) == [] and list(scheduler.deferred) == ["S1"]
    scheduler.release()
    assert queued(scheduler) == ["S1"]


async def test_a_station_that_is_not_ready_is_not_set_aside() -> None:
    scheduler = StationScheduler(0.0, lambda station: station != "S2")
    scheduler.defer()
    assert scheduler.trigger("S1") and not scheduler.trigger("S2")
    assert list(scheduler.deferred) == ["S1"]
