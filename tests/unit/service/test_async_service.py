"""AsyncDataAnalysisService on the in-memory transport: what a model author and an operator see."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import orjson
import pytest
from helpers import until
from service_helpers import output_messages, publish

from d_a.errors import ConfigError
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
