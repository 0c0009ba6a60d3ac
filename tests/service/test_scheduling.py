"""Scheduling: when stations run. A burst of triggers coalesces into few runs, a station runs only
once its required topics arrived, consumption pauses while callbacks hold too many messages, and
a backlog in the broker at start (`service.backlog_runs`) runs each station on all of its data."""

from __future__ import annotations

import asyncio

import pytest
from helpers import until

from d_a.metrics import ServiceMetrics
from d_a.simulator import SimMessage, StationSimulator

METER = "SCHEDULE-DEVICE-METER"
PARAM = "SCHEDULE-STATION-PARAM"
SEQ = "SITE-SEQ"
STATIONS = [f"S{i:02d}" for i in range(10)]
MESSAGES = 5_000
# aiokafka hands over records it fetched before at once, so on a broker a backlog's batches come
# faster than a thread-pool callback turns around: the stations run while the backlog is read (the
# consume loop yields to them after each batch), but, coalesced, less often than these counts ask
# (every_batch: 26-28 runs of 10 stations over 10 batches; backlog_max_delay: 20).
RUNS_DURING_BACKLOG = pytest.mark.fails_on(
    "kafka", reason="prefetched batches outpace thread-pool callbacks: runs coalesce below the count"
)


async def test_a_burst_of_triggers_coalesces_into_few_runs(transport) -> None:
    runs = []
    service = transport.async_service("operation_optimization", min_interval=0.5)
    await service.start(lambda s, data: runs.append(len(data["meterPower_window"])))
    try:
        for minute in range(50):
            await transport.publish(
                METER,
                {"stationId": "S1", "meterPower": float(minute), "sendTime": f"2025-11-01 08:{minute:02d}:00"},
                key="S1",
            )
            await asyncio.sleep(0.005)
        await until(lambda: runs and runs[-1] == 50, transport.deadline)
    finally:
        await service.stop()
    assert len(runs) <= 4


async def test_a_station_removed_during_its_run_is_not_counted_as_running(transport) -> None:
    release = asyncio.Event()

    async def model(station_id, module_input):
        await release.wait()

    service = transport.async_service("operation_optimization")
    await service.start(model)
    try:
        await transport.publish(METER, {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await until(lambda: service.get_service_status()["running_callbacks"] == 1, transport.deadline)
        await service.remove_station("S1")
        assert service.get_service_status()["running_callbacks"] == 0
        release.set()
        await asyncio.sleep(0.1)
        assert service.get_service_status()["running_callbacks"] == 0
    finally:
        await service.stop()


async def test_required_topics_gate_the_callback(transport) -> None:
    calls = []
    service = transport.async_service("operation_optimization", required_topics=[PARAM])
    await service.start(lambda s, data: calls.append(s))
    try:
        await transport.publish(METER, {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await asyncio.sleep(0.3)
        assert calls == []
        assert service.get_service_status()["held_messages"] == 0  # not ready: nothing held back
        await transport.publish(PARAM, [{"stationId": "S1", "stationLat": 30.1, "stationLng": 120.2}])
        await until(lambda: calls == ["S1"], transport.deadline)
    finally:
        await service.stop()


async def test_held_messages_stay_bounded_when_callbacks_fall_behind_and_the_pause_is_reported(
    transport, caplog
) -> None:
    gate = asyncio.Event()
    service = transport.async_service("operation_optimization", max_held_messages=50, max_workers=2)

    async def model(station_id, module_input):
        await gate.wait()

    await service.start(model)
    peak = 0
    try:
        await transport.publish_many(
            METER,
            [
                (
                    f"S{i % 40}",
                    {
                        "stationId": f"S{i % 40}",
                        "meterPower": 1.0,
                        "sendTime": f"2025-11-01 08:{i // 60 % 60:02d}:{i % 60:02d}",
                    },
                )
                for i in range(400)
            ],
        )
        for _ in range(30):
            await asyncio.sleep(0.01)
            peak = max(peak, service.get_service_status()["held_messages"])
        paused = service.get_service_status()
        scraped = ServiceMetrics(service.get_service_status).registry.get_sample_value("d_a_consumption_pauses_total")
        gate.set()
        await until(lambda: service.get_service_status()["counters"]["messages"] == 400, transport.deadline)
        await until(lambda: service.get_service_status()["consumption_paused_seconds"] is None, transport.deadline)
        resumed = service.get_service_status()
    finally:
        await service.stop()
    assert peak <= 50 + 500  # the limit plus at most one poll batch
    assert paused["consumption_paused_seconds"] > 0 and paused["counters"]["consumption_pauses"] >= 1
    assert scraped >= 1
    assert resumed["held_messages"] < 50
    warnings = [r.getMessage() for r in caplog.records if "consumption paused" in r.getMessage()]
    assert len(warnings) == 1  # one line, however often it pauses within the minute
    assert "module=operation_optimization" in warnings[0] and "max_held_messages 50" in warnings[0]


# --- a backlog at start: service.backlog_runs ---------------------------------------------------


class LateEveryOtherFetch:
    """A consumer whose every other fetch comes back empty, as a fetch whose response is still on
    its way does on a network."""

    def __init__(self, consumer) -> None:
        self._consumer = consumer
        self._fetches = 0

    def __getattr__(self, name: str):
        return getattr(self._consumer, name)

    async def getmany(self, *args, **kwargs):
        self._fetches += 1
        if self._fetches % 2 == 0:
            await asyncio.sleep(0)
            return []
        return await self._consumer.getmany(*args, **kwargs)


def seq_config(**service: object) -> dict:
    topic = {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 10_000}
    return {"topics": {SEQ: topic}, "module_dependencies": {}, "service": service}


async def serve_backlog(
    transport, backlog_runs: str, *, late_fetches: bool = False, **service: object
) -> tuple[dict[str, int], dict[str, list[int]], dict]:
    """MESSAGES messages of STATIONS in the broker before the service starts, as after a restart;
    each station's runs, its last window, and the status once everything was read and run."""
    await transport.publish_many(
        SEQ,
        [
            (STATIONS[seq % len(STATIONS)], {"stationId": STATIONS[seq % len(STATIONS)], "seq": seq})
            for seq in range(MESSAGES)
        ],
    )
    runs = dict.fromkeys(STATIONS, 0)
    last_window: dict[str, list[int]] = {}

    def model(station_id: str, data: dict) -> None:
        runs[station_id] += 1
        last_window[station_id] = list(data["seq_window"])

    served = transport.async_service(
        "seq_model", config=seq_config(backlog_runs=backlog_runs, **service), group_id=f"backlog-{backlog_runs}"
    )
    if late_fetches:
        make_consumer = served.transport.async_consumer
        served.transport.async_consumer = lambda *a, **kw: LateEveryOtherFetch(make_consumer(*a, **kw))
    await served.start(model)
    try:
        await until(
            lambda: served.get_service_status()["counters"]["messages"] == MESSAGES and served.engine.scheduler.idle,
            transport.deadline,
        )
        status = served.get_service_status()
    finally:
        await served.stop()
    return runs, last_window, status


def expected_window(station: str) -> list[int]:
    return [seq for seq in range(MESSAGES) if STATIONS[seq % len(STATIONS)] == station]


async def test_newest_runs_each_station_about_once_on_all_of_its_backlog(transport) -> None:
    runs, last_window, status = await serve_backlog(transport, "newest")
    assert all(count <= 2 for count in runs.values()), runs  # a run of the first batch, then one at the end
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}
    assert status["stations_waiting_for_backlog"] == 0 and status["held_messages"] == 0


@RUNS_DURING_BACKLOG
async def test_every_batch_runs_stations_while_the_backlog_is_read(transport) -> None:
    runs, last_window, _ = await serve_backlog(transport, "every_batch")
    assert sum(runs.values()) > 3 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


async def test_stations_run_when_half_of_max_held_messages_wait_for_them(transport) -> None:
    """Consumption would pause at `max_held_messages`: the stations run before that, while the
    backlog is read, and nothing is lost."""
    runs, last_window, _ = await serve_backlog(transport, "newest", max_held_messages=1_000)
    assert sum(runs.values()) > 2 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


@RUNS_DURING_BACKLOG
async def test_stations_run_during_a_backlog_that_outlasts_backlog_max_delay(transport) -> None:
    runs, last_window, _ = await serve_backlog(transport, "newest", backlog_max_delay=0.001)
    assert sum(runs.values()) > 2 * len(STATIONS), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


async def test_a_fetch_that_comes_back_empty_mid_backlog_does_not_start_the_runs(transport) -> None:
    """An empty fetch mid-backlog is a response still on its way, not the end of the backlog:
    while the partitions' lag says more is there, the stations keep waiting."""
    runs, last_window, _ = await serve_backlog(transport, "newest", late_fetches=True)
    assert all(count <= 2 for count in runs.values()), runs
    assert {station: last_window[station] for station in STATIONS} == {s: expected_window(s) for s in STATIONS}


# --- a live feed is not a backlog ----------------------------------------------------------------


async def test_a_live_feed_over_many_partitions_runs_stations_as_it_comes(transport) -> None:
    """A live feed of eleven topics (33 partitions), handed over 20 records a fetch, always leaves
    some messages unread somewhere: that is no backlog, so stations run on their data as it
    comes instead of waiting (up to `backlog_max_delay`) for a catch-up."""
    simulator = StationSimulator(stations=200, seed=7, history_hours=2)
    config = {"service": {"backlog_runs": "newest", "backlog_max_delay": 60.0}}
    served = transport.async_service("operation_optimization", config=config, group_id="live-feed", max_poll_records=20)
    runs: list[str] = []
    await served.start(lambda station_id, data: runs.append(station_id))
    try:
        await publish_sim(transport, simulator.initial_messages())  # what was there before: a backlog
        await until(
            lambda: runs and served.get_service_status()["stations_waiting_for_backlog"] == 0, transport.deadline
        )
        waiting = []
        for _ in range(40):  # 40 simulated seconds, 0.1 s apart
            await publish_sim(transport, simulator.advance(1.0))
            await asyncio.sleep(0.05)
            waiting.append(served.get_service_status()["stations_waiting_for_backlog"])
            await asyncio.sleep(0.05)
        ran_live = len(runs)
    finally:
        await served.stop()
    assert sum(1 for count in waiting if count) <= len(waiting) // 10, waiting
    assert ran_live > 40 * 20, ran_live


async def publish_sim(transport, messages: list[SimMessage]) -> None:
    """The simulator's messages, a topic at a time (as bursts, the way a second's data comes)."""
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for message in messages:
        by_topic.setdefault(message.topic, []).append((message.key, message.value))
    for topic, items in by_topic.items():
        await transport.publish_many(topic, items)
