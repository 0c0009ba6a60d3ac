"""`service.backlog_runs`: how stations run while the service reads a backlog.

The backlog is in the broker before the service starts, as after a restart; every message's data
must reach a callback either way.
"""

from __future__ import annotations

import asyncio

import pytest
from service_helpers import publish, until

from d_a import AsyncDataAnalysisService
from d_a.kafka import InMemoryBroker, MemoryTransport
from d_a.kafka.memory import AsyncMemoryConsumer

SEQ = "SITE-SEQ"
STATIONS = [f"S{i:02d}" for i in range(10)]
MESSAGES = 5_000


def config(**service: object) -> dict:
    topic = {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 10_000}
    return {"topics": {SEQ: topic}, "module_dependencies": {}, "service": service}


async def serve_backlog(backlog_runs: str, **service: object) -> tuple[dict[str, int], dict[str, list[int]], dict]:
    broker = InMemoryBroker()
    for seq in range(MESSAGES):
        station = STATIONS[seq % len(STATIONS)]
        publish(broker, SEQ, {"stationId": station, "seq": seq}, key=station)
    runs = dict.fromkeys(STATIONS, 0)
    last_window: dict[str, list[int]] = {}

    def model(station_id: str, data: dict) -> None:
        runs[station_id] += 1
        last_window[station_id] = list(data["seq_window"])

    service = AsyncDataAnalysisService(
        "seq_model",
        transport=MemoryTransport(broker, auto_offset_reset="earliest"),
        config=config(backlog_runs=backlog_runs, **service),
        group_id=f"backlog-{backlog_runs}",
    )
    await service.start(model)
    try:
        await until(
            lambda: service.get_service_status()["counters"]["messages"] == MESSAGES and service.engine.scheduler.idle
        )
        status = service.get_service_status()
    finally:
        await service.stop()
    return runs, last_window, status


def expected_window(station: str) -> list[int]:
    return [seq for seq in range(MESSAGES) if STATIONS[seq % len(STATIONS)] == station]


async def test_newest_runs_each_station_about_once_on_all_of_its_backlog() -> None:
    runs, last_window, status = await serve_backlog("newest")
    assert all(count <= 2 for count in runs.values()), runs  # a run of the first batch, then one at the end
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}
    assert status["stations_waiting_for_backlog"] == 0 and status["held_messages"] == 0


async def test_every_batch_runs_stations_while_the_backlog_is_read() -> None:
    runs, last_window, _ = await serve_backlog("every_batch")
    assert sum(runs.values()) > 3 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


async def test_stations_run_when_half_of_max_held_messages_wait_for_them() -> None:
    """Consumption would pause at `max_held_messages`: the stations run before that, while the
    backlog is read, and nothing is lost."""
    runs, last_window, _ = await serve_backlog("newest", max_held_messages=1_000)
    assert sum(runs.values()) > 2 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


def test_an_unknown_mode_names_the_key() -> None:
    from d_a.errors import ConfigError

    with pytest.raises(ConfigError, match="backlog_runs"):
        AsyncDataAnalysisService(
            "seq_model", transport=MemoryTransport(InMemoryBroker()), config=config(backlog_runs="each")
        )


async def test_stations_run_during_a_backlog_that_outlasts_backlog_max_delay() -> None:
    runs, last_window, _ = await serve_backlog("newest", backlog_max_delay=0.001)
    assert sum(runs.values()) > 2 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


async def test_a_fetch_that_comes_back_empty_mid_backlog_does_not_start_the_runs(monkeypatch) -> None:
    """On a network an empty fetch mid-backlog is a response still on its way, not the end of the
    backlog: while the partitions' lag says more is there, the stations keep waiting."""
    getmany = AsyncMemoryConsumer.getmany
    calls = iter(range(1_000_000))

    async def late_every_other(self: AsyncMemoryConsumer, *args: object, **kwargs: object) -> list:
        if next(calls) % 2:
            await asyncio.sleep(0)
            return []
        return await getmany(self, *args, **kwargs)

    monkeypatch.setattr(AsyncMemoryConsumer, "getmany", late_every_other)
    runs, last_window, _ = await serve_backlog("newest")
    assert all(count <= 2 for count in runs.values()), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}
