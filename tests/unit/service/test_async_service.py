"""AsyncDataAnalysisService on the in-memory transport: what a model author and an operator see."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
import weakref

import orjson
import pytest
from service_helpers import output_messages, publish, until

from d_a.errors import ConfigError
from d_a.kafka import TopicPartition
from d_a.metrics import ServiceMetrics
from d_a.service import AsyncDataAnalysisService
from d_a.simulator import StationSimulator
from d_a.windows.pending import PENDING_ROWS

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
ORDERS = "SCHEDULE-CAR-ORDER"


def realtime(stations: list[str], hour: str = "2025-11-01 08:00:00") -> dict:
    return {
        "realTimeData": [
            {
                "stationId": s,
                "hostCode": f"H-{s}",
                "sendTime": hour,
                "gunPower": {
                    "gunNo": [1, 2],
                    "outputPowerPerGunAvg": [10.0, 20.0],
                    "outputPowerPerGunMax": [15.0, 25.0],
                },
                "outputPowerPerStationAvg": 30.0,
                "outputPowerPerStationMax": 40.0,
            }
            for s in stations
        ]
    }


async def test_document_002_batch_example_one_upload_without_the_none_station(transport, broker) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport, batch_timeout=5.0)
    uploads = []

    def model(station_id, module_input):
        return None if station_id == "B" else {"forecast": [module_input["outputPowerPerStationAvg"]]}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append((batch_id, results)))
    try:
        publish(broker, REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads)
        await asyncio.sleep(0.1)
    finally:
        await service.stop()
    ((batch_id, results),) = uploads
    assert batch_id.startswith("SCHEDULE-STATION-REALTIME-DATA_")
    assert results == [{"station_id": "A", "forecast": [30.0]}, {"station_id": "C", "forecast": [30.0]}]


async def test_a_raising_station_is_left_out_and_counted(transport, broker) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    uploads = []

    async def model(station_id, module_input):
        if station_id == "B":
            raise RuntimeError("model blew up")
        return {"ok": station_id}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        publish(broker, REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert [r["station_id"] for r in uploads[0]] == ["A", "C"]
    assert status["counters"]["callback_errors"] == 1
    assert status["errors"].get("RuntimeError", 0) >= 1


async def test_a_station_that_never_reports_is_uploaded_after_the_timeout(transport, broker) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport, batch_timeout=0.3, stop_timeout=0.2)
    uploads = []

    async def model(station_id, module_input):
        if station_id == "C":
            await asyncio.sleep(30)
        return {"ok": True}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        publish(broker, REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads, timeout=5)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert [r["station_id"] for r in uploads[0]] == ["A", "B"]
    assert status["counters"]["batches_timed_out"] == 1


async def test_without_a_handler_batches_and_singles_go_to_the_output_topic(transport, broker) -> None:
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    await service.start(lambda s, data: {"forecast": [1, 2], "station": s})
    try:
        publish(broker, REALTIME, realtime(["A", "B"]))
        await until(lambda: output_messages(broker, "MODULE-OUTPUT-LOAD_PREDICTION"))
        publish(broker, "SCHEDULE-STATION-PARAM", [{"stationId": "Z", "stationLat": 30.0, "stationLng": 120.0}])
        await until(lambda: len(output_messages(broker, "MODULE-OUTPUT-LOAD_PREDICTION")) >= 2)
    finally:
        await service.stop()
    messages = output_messages(broker, "MODULE-OUTPUT-LOAD_PREDICTION")
    batch = next(m for m in messages if "batch_id" in m)
    assert batch["module"] == "load_prediction" and batch["station_count"] == 2
    assert [s["station_id"] for s in batch["stations"]] == ["A", "B"]
    assert batch["stations"][0]["forecast"] == [1, 2]
    single = next(m for m in messages if "batch_id" not in m)
    assert (single["station_id"], single["output"]) == ("Z", {"forecast": [1, 2], "station": "Z"})


async def test_single_results_use_the_standard_format(transport, broker) -> None:
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(lambda s, data: {"plan": [data["meterPower"]]})
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 5.0}, key="S1")
        await until(lambda: output_messages(broker, "MODULE-OUTPUT-OPERATION_OPTIMIZATION"))
    finally:
        await service.stop()
    (message,) = output_messages(broker, "MODULE-OUTPUT-OPERATION_OPTIMIZATION")
    assert set(message) == {"station_id", "module", "output", "timestamp"}
    assert (message["station_id"], message["module"], message["output"]) == (
        "S1",
        "operation_optimization",
        {"plan": [5.0]},
    )


async def test_calendar_published_before_a_station_is_in_its_first_callback(transport, broker) -> None:
    today = dt.date.today()
    days = [today + dt.timedelta(days=d) for d in range(-1, 2)]
    calendar = {
        "calendar": [
            {"date": d.isoformat(), "dayOfWeek": d.isoweekday(), "holiday": int(d.weekday() >= 5)} for d in days
        ]
    }
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    first_inputs = {}

    def model(station_id, module_input):
        first_inputs.setdefault(station_id, module_input)

    await service.start(model)
    try:
        publish(broker, "SCHEDULE-ENVIRONMENT-CALENDAR", calendar)
        await asyncio.sleep(0.2)
        assert first_inputs == {}  # no station yet
        publish(broker, "SCHEDULE-STATION-PARAM", [{"stationId": "LATE", "stationLat": 30.0, "stationLng": 120.0}])
        await until(lambda: "LATE" in first_inputs)
    finally:
        await service.stop()
    data = first_inputs["LATE"]
    assert (data["date"], data["dayOfWeek"], data["holiday"]) == (
        today.isoformat(),
        today.isoweekday(),
        int(today.weekday() >= 5),
    )


async def test_offsets_are_committed_only_after_the_callback_finished(transport, broker) -> None:
    release = asyncio.Event()
    seen = []

    async def model(station_id, module_input):
        await release.wait()
        seen.append(station_id)

    service = AsyncDataAnalysisService(
        "operation_optimization", transport=transport, config={"offset_commit": {"commit_interval_seconds": 0.05}}
    )
    await service.start(model)
    group = service.options.group_id
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
        partition = next(p for p, end in broker.end_offsets("SCHEDULE-DEVICE-METER").items() if end)
        tp = TopicPartition("SCHEDULE-DEVICE-METER", partition)
        await asyncio.sleep(0.5)
        assert broker.committed(group, tp) in (None, 0)  # the callback is still running: not committed past it
        assert service.get_service_status()["running_callbacks"] == 1
        release.set()
        await until(lambda: broker.committed(group, tp) == 1)
        assert service.get_service_status()["running_callbacks"] == 0
    finally:
        await service.stop()
    assert seen == ["S1"]


async def test_a_station_removed_during_its_run_is_not_counted_as_running(transport, broker) -> None:
    release = asyncio.Event()

    async def model(station_id, module_input):
        await release.wait()

    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(model)
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await until(lambda: service.get_service_status()["running_callbacks"] == 1)
        await service.remove_station("S1")
        assert service.get_service_status()["running_callbacks"] == 0
        release.set()
        await asyncio.sleep(0.1)
        assert service.get_service_status()["running_callbacks"] == 0
    finally:
        await service.stop()


async def test_a_burst_of_triggers_coalesces_into_few_runs(transport, broker) -> None:
    runs = []
    service = AsyncDataAnalysisService("operation_optimization", transport=transport, min_interval=0.5)
    await service.start(lambda s, data: runs.append(len(data["meterPower_window"])))
    try:
        for minute in range(50):
            publish(
                broker,
                "SCHEDULE-DEVICE-METER",
                {"stationId": "S1", "meterPower": float(minute), "sendTime": f"2025-11-01 08:{minute:02d}:00"},
                key="S1",
            )
            await asyncio.sleep(0.005)
        await until(lambda: runs and runs[-1] == 50, timeout=5)
    finally:
        await service.stop()
    assert len(runs) <= 4


async def test_required_topics_gate_the_callback(transport, broker) -> None:
    calls = []
    service = AsyncDataAnalysisService(
        "operation_optimization", transport=transport, required_topics=["SCHEDULE-STATION-PARAM"]
    )
    await service.start(lambda s, data: calls.append(s))
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await asyncio.sleep(0.3)
        assert calls == []
        assert service.get_service_status()["held_messages"] == 0  # not ready: nothing held back
        publish(broker, "SCHEDULE-STATION-PARAM", [{"stationId": "S1", "stationLat": 30.1, "stationLng": 120.2}])
        await until(lambda: calls == ["S1"])
    finally:
        await service.stop()


async def test_a_dependency_output_reaches_the_dependent_callback(transport, broker) -> None:
    inputs = []
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(lambda s, data: inputs.append(data))
    try:
        publish(
            broker,
            "MODULE-OUTPUT-LOAD_PREDICTION",
            {
                "station_id": "S1",
                "module": "load_prediction",
                "output": {"forecast": [1, 2], "value": 7},
                "timestamp": 1.0,
            },
            key="S1",
        )
        await until(lambda: inputs)
    finally:
        await service.stop()
    assert inputs[0]["load_prediction_forecast"] == [1, 2]
    assert inputs[0]["load_prediction_value"] == 7


async def test_sync_and_async_handlers_and_status(transport, broker) -> None:
    handled = []

    async def handler(station_id, module_input, result):
        handled.append((station_id, result))

    service = AsyncDataAnalysisService("operation_optimization", transport=transport, result_handler=handler)
    await service.start(lambda s, data: {"n": 1})
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await until(lambda: handled)
        station = service.get_station_status()["S1"]
        status = service.get_service_status()
        assert station["task"].running() and not station["task"].done()
    finally:
        await service.stop()
    assert handled == [("S1", {"n": 1})]
    assert station["runs"] == 1 and station["running"] is True and station["errors"] == 0
    assert status["main_loop_alive"] and status["consumer_alive"] and status["producer_alive"]
    assert status["main_thread_alive"] and status["result_handler_registered"]
    assert status["station_count"] == 1 and status["counters"]["messages"] == 1
    assert service.get_service_status()["main_loop_alive"] is False
    assert station["task"].done() and service.get_station_status() == {}


async def test_reload_config_adds_a_topic_and_keeps_windows(transport, broker) -> None:
    inputs = []
    service = AsyncDataAnalysisService("pv_prediction", transport=transport)
    await service.start(lambda s, data: inputs.append(data))
    try:
        publish(broker, "SCHEDULE-DEVICE-PV", {"stationId": "S1", "pvId": "PV1", "pvPreDcPower": 3.5}, key="S1")
        await until(lambda: inputs)
        document = service.config.legacy()
        document["TOPIC_DETAIL"]["SITE-IRRADIANCE"] = {
            "fields": ["ghi"],
            "modules": ["pv_prediction"],
            "window_size": 4,
        }
        await service.reload_config(document)  # a plain call; awaiting waits for the new consumer
        publish(broker, "SITE-IRRADIANCE", {"stationId": "S1", "ghi": 812.0}, key="S1")
        await until(lambda: inputs[-1].get("ghi") == 812.0)
    finally:
        await service.stop()
    assert inputs[-1]["pv_power_total"] == 3.5  # the PV window survived the reload


async def test_held_messages_stay_bounded_when_callbacks_fall_behind_and_the_pause_is_reported(
    transport, broker, caplog
) -> None:
    gate = asyncio.Event()
    service = AsyncDataAnalysisService(
        "operation_optimization", transport=transport, max_held_messages=50, max_workers=2
    )

    async def model(station_id, module_input):
        await gate.wait()

    await service.start(model)
    peak = 0
    try:
        for i in range(400):
            publish(
                broker,
                "SCHEDULE-DEVICE-METER",
                {
                    "stationId": f"S{i % 40}",
                    "meterPower": 1.0,
                    "sendTime": f"2025-11-01 08:{i // 60 % 60:02d}:{i % 60:02d}",
                },
                key=f"S{i % 40}",
            )
        for _ in range(30):
            await asyncio.sleep(0.01)
            peak = max(peak, service.get_service_status()["held_messages"])
        paused = service.get_service_status()
        scraped = ServiceMetrics(service.get_service_status).registry.get_sample_value("d_a_consumption_pauses_total")
        gate.set()
        await until(lambda: service.get_service_status()["counters"]["messages"] == 400, timeout=10)
        await until(lambda: service.get_service_status()["consumption_paused_seconds"] is None, timeout=10)
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


def test_unknown_module_and_topics_are_named() -> None:
    with pytest.raises(ConfigError, match="module_name: unknown module 'load_predictoin'"):
        AsyncDataAnalysisService("load_predictoin", transport="memory")
    with pytest.raises(ConfigError, match="topics: not configured: NOPE"):
        AsyncDataAnalysisService(topics=["NOPE"], transport="memory")


async def test_a_simulated_fleet_is_served(transport, broker) -> None:
    seen = set()
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(lambda s, data: seen.add(s))
    sim = StationSimulator(stations=30, seed=2, history_hours=2)
    try:
        for message in sim.initial_messages() + sim.advance(60):
            broker.produce(message.topic, message.value, key=message.key)
        await until(lambda: len(seen) == 30)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert status["bad_input"] == {}


async def test_the_windows_newest_rows_are_encoded_once_the_service_is_idle(transport, broker) -> None:
    """Encoding the windows' newest rows waits for a moment with no station to serve (it would
    delay the stations still waiting), but it does happen then: memory stays compact."""
    seen = set()
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(lambda s, data: seen.add(s))
    sim = StationSimulator(stations=5, seed=2, history_hours=2)
    try:
        for message in sim.initial_messages() + sim.advance(60):  # PENDING_ROWS car orders and more per station
            broker.produce(message.topic, message.value, key=message.key)
        await until(lambda: len(seen) == 5)
        await until(lambda: not service.dispatcher.encoding_due())
        stores = [window._store for windows in service.dispatcher.data_cache.values() for window in windows.values()]
    finally:
        await service.stop()
    assert max(store.pending_rows for store in stores) < PENDING_ROWS
    assert sum(len(store) - store.pending_rows for store in stores) > 5 * PENDING_ROWS  # encoded


def test_the_configured_expiry_is_used_unless_an_argument_overrides_it() -> None:
    configured = AsyncDataAnalysisService(transport="memory", config={"service": {"data_expire_seconds": 7200}})
    assert configured.dispatcher.data_expire_seconds == 7200
    explicit = AsyncDataAnalysisService(transport="memory", data_expire_seconds=30)
    assert explicit.dispatcher.data_expire_seconds == 30


def car_order(second: int, gun: int = 1) -> dict:
    return {
        "stationId": "S1",
        "transactionSerialNo": f"TX{gun}",
        "gunNo": str(gun),
        "soc": 40.0 + second,
        "outputPower": 60.0,
        "sendTime": f"2025-11-01 08:00:{second:02d}",
    }


async def test_latency_counts_from_the_trigger_and_staleness_from_the_oldest_unseen_data(transport, broker) -> None:
    seen = []
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    await service.start(lambda s, data: seen.append(data["soc_window"]))
    try:
        now_ms = int(time.time() * 1000)
        # The first second of car orders is in progress: it triggers nothing and waits (sent 3 s ago).
        broker.produce(ORDERS, orjson.dumps(car_order(10)), key=b"S1", timestamp_ms=now_ms - 3000)
        await asyncio.sleep(0.2)
        assert seen == []
        broker.produce(ORDERS, orjson.dumps(car_order(11)), key=b"S1")  # a new second: 10 is complete
        await until(lambda: seen == [[50.0, 51.0]])
        engine = service.engine
        assert engine is not None
        assert len(engine.stats.latencies_ms) == 1 and engine.stats.latencies_ms[0] < 2000
        assert len(engine.stats.staleness_ms) == 1 and engine.stats.staleness_ms[0] >= 3000
        status = service.get_service_status()
        assert status["latency_ms"]["p95"] == engine.stats.latencies_ms[0]
        assert status["staleness_ms"]["p95"] == engine.stats.staleness_ms[0]
    finally:
        await service.stop()


class Recorder:
    """An EngineObserver that keeps what it is told."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[float, object]] = []
        self.latencies: list[float] = []
        self.staleness: list[float] = []

    def observe_callback(self, seconds: float, module_input: object) -> None:
        self.callbacks.append((seconds, module_input))

    def observe_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def observe_staleness(self, seconds: float) -> None:
        self.staleness.append(seconds)


async def test_an_observer_given_to_the_service_is_told_of_every_run(transport, broker) -> None:
    recorder = Recorder()
    service = AsyncDataAnalysisService("operation_optimization", transport=transport)
    service.observe(recorder)
    await service.start(lambda s, data: None)
    try:
        now_ms = int(time.time() * 1000)
        broker.produce(ORDERS, orjson.dumps(car_order(10)), key=b"S1", timestamp_ms=now_ms - 3000)
        await asyncio.sleep(0.2)  # read on its own: its second is in progress, it triggers nothing
        broker.produce(ORDERS, orjson.dumps(car_order(11)), key=b"S1")
        await until(lambda: recorder.callbacks)
        ((seconds, module_input),) = recorder.callbacks
        assert 0 <= seconds < 2 and module_input["soc_window"] == [50.0, 51.0]
        assert len(recorder.latencies) == 1 and recorder.latencies[0] < 2
        assert len(recorder.staleness) == 1 and recorder.staleness[0] >= 3
        service.observe(None)
        broker.produce(ORDERS, orjson.dumps(car_order(12)), key=b"S1")
        await until(lambda: service.get_service_status()["counters"]["callbacks"] == 2)
        assert len(recorder.callbacks) == 1
    finally:
        await service.stop()


async def test_the_gc_threshold_is_set_while_the_service_runs(transport, broker) -> None:
    before = gc.get_threshold()
    service = AsyncDataAnalysisService(
        "operation_optimization", transport=transport, config={"service": {"gc_threshold": 12345}}
    )
    await service.start(lambda s, data: None)
    try:
        assert gc.get_threshold() == (12345, *before[1:])
    finally:
        await service.stop()
    assert gc.get_threshold() == before


class _Node:
    """A container a callback leaves in a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.mark.parametrize("idle_gc", [True, False])
async def test_cycles_callbacks_leave_are_collected_once_the_service_is_idle(transport, broker, idle_gc) -> None:
    refs: list[weakref.ref] = []
    kept: list[list] = []

    def model(station_id, module_input):
        node = _Node()
        node.other = node
        refs.append(weakref.ref(node))
        kept.extend([] for _ in range(3_500))  # young objects: half the threshold after three runs
        return {"ok": station_id}

    config = {"service": {"gc_threshold": 20_000, "idle_gc": idle_gc}}
    service = AsyncDataAnalysisService("load_prediction", transport=transport, config=config)
    uploads = []
    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        gc.collect()
        publish(broker, REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads)
        if idle_gc:
            await until(lambda: all(ref() is None for ref in refs))
        else:
            await asyncio.sleep(0.2)
        alive = sum(ref() is not None for ref in refs)
        passes = service.get_service_status()["idle_gc_passes"]
    finally:
        await service.stop()
        gc.collect()
    assert len(refs) == 3
    assert alive == (0 if idle_gc else 3)
    assert (sum(passes) >= 1) if idle_gc else passes is None


class _ModelObject:
    """A model object with `__call__`, unhashable (as a dataclass with eq is)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, station_id, module_input):
        self.seen.append(station_id)
        return {"ok": station_id}


class _AsyncModelObject(_ModelObject):
    async def __call__(self, station_id, module_input):  # type: ignore[override]
        await asyncio.sleep(0)
        return _ModelObject.__call__(self, station_id, module_input)


@pytest.mark.parametrize("model_class", [_ModelObject, _AsyncModelObject])
async def test_callable_objects_serve_as_callbacks_even_when_unhashable(transport, broker, model_class) -> None:
    """An async `__call__` is awaited, a sync one runs on the callback threads."""
    model = model_class()
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    uploads = []
    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        publish(broker, REALTIME, realtime(["A", "B"]))
        await until(lambda: uploads)
    finally:
        await service.stop()
    assert sorted(model.seen) == ["A", "B"]
    assert [r["ok"] for r in uploads[0]] == ["A", "B"]
