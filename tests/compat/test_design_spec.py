"""The seeds' design specification (000): its data-flow examples, contracts and error handling."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from helpers import until, wait_for
from seed_helpers import into_memory, publish_memory, simulated

STATION = "station_001"


def test_dispatcher_data_flow_example() -> None:
    """§2.3.1: PARAM data keyed `station_id` with `lat` / `lng` gives `lat`, `lat_window`, ..."""
    from d_a import DataDispatcher

    dispatcher = DataDispatcher()
    dispatcher.update_topic_data(
        "station_001", "SCHEDULE-STATION-PARAM", {"station_id": "station_001", "lat": 30.5, "lng": 120.3}
    )
    input_data = dispatcher.get_module_input("station_001", "load_prediction")
    assert input_data["lat"] == 30.5 and input_data["lng"] == 120.3
    assert input_data["lat_window"] == [30.5] and input_data["lng_window"] == [120.3]
    all_inputs = dispatcher.get_all_inputs("station_001")
    assert all_inputs["load_prediction"]["lat"] == 30.5 and "operation_optimization" in all_inputs


def test_dependency_output_example() -> None:
    """Appendix C: load_prediction's output read by operation_optimization as
    `load_prediction_output_window` and `load_prediction_<key>`."""
    from d_a import DataDispatcher

    dispatcher = DataDispatcher()
    output = {
        "station_id": "station_001",
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }
    dispatcher.update_topic_data(STATION, "SCHEDULE-STATION-PARAM", {"station_id": STATION, "lat": 30.5, "lng": 120.3})
    dispatcher.update_topic_data(STATION, "MODULE-OUTPUT-LOAD_PREDICTION", output)
    module_input = dispatcher.get_module_input(STATION, "operation_optimization")
    assert module_input["lat"] == 30.5
    assert module_input["load_prediction_output_window"] == {
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }
    assert module_input["load_prediction_forecast"] == [100, 120, 150, 180]
    assert module_input["load_prediction_confidence"] == 0.95
    assert module_input["load_prediction_model_version"] == "v2.1"
    assert module_input["load_prediction_timestamp"] == 1699000000


def test_handle_error_contract(caplog) -> None:
    """§2.3.5: `handle_error(exc, *, context=None, recover=None)` logs with traceback and
    context, and returns what the recovery callback returns."""
    from d_a import KafkaConnectionError, error_counts, handle_error

    before = error_counts().get("KafkaConnectionError", 0)
    try:
        raise KafkaConnectionError("broker down")
    except KafkaConnectionError as exc:
        recovered = handle_error(exc, context="连接最终失败", recover=lambda: "fallback")
    assert recovered == "fallback"
    assert "KafkaConnectionError: broker down [context: 连接最终失败]" in caplog.text
    assert "Traceback" in caplog.text
    assert error_counts()["KafkaConnectionError"] == before + 1


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callback_and_result_handler_contract(memory, kind: str) -> None:
    """§2.3.5: callback(station_id, module_input) then result_handler(station_id, module_input,
    result), each sync or async; an exception in either is caught and the next run still happens."""
    from d_a import AsyncDataAnalysisService

    handled = []
    runs = []

    def sync_callback(station_id, module_input):
        runs.append(station_id)
        if len(runs) == 1:
            raise ValueError("first run fails")
        return {"meter": module_input["meterPower"]}

    async def async_callback(station_id, module_input):
        await asyncio.sleep(0)
        return sync_callback(station_id, module_input)

    def sync_handler(station_id, module_input, result):
        handled.append((station_id, result))

    async def async_handler(station_id, module_input, result):
        await asyncio.sleep(0)
        sync_handler(station_id, module_input, result)

    callback, handler = (sync_callback, sync_handler) if kind == "sync" else (async_callback, async_handler)
    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(callback, result_handler=handler)
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0, "sendTime": 1.7e9}, key="S1")
        await until(lambda: runs, timeout=15)
        publish_memory(
            "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 2.0, "sendTime": 1.7e9 + 300}, key="S1"
        )
        await until(lambda: handled, timeout=15)
        status = service.get_station_status()["S1"]
    finally:
        await service.stop()
    assert handled == [("S1", {"meter": 2.0})]
    assert status["errors"] == 1 and "ValueError: first run fails" in status["last_error"]


async def test_service_without_module_gives_every_module_input(memory) -> None:
    """§2.3.2 station worker: `module_input = outputs.get(module_name) if module_name else outputs`."""
    from d_a import AsyncDataAnalysisService

    received = []
    service = AsyncDataAnalysisService()
    await service.start(lambda station_id, module_input: received.append(module_input))
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
        await until(lambda: received, timeout=15)
    finally:
        await service.stop()
    assert received[0]["operation_optimization"]["meterPower"] == 1.0
    assert set(received[0]) >= {"load_prediction", "electricity_price", "customer_mining"}


async def test_debug_callback_prints_module_input_as_json(memory, capsys) -> None:
    """Appendix E's debug callback: `json.dumps(module_input, indent=2, ensure_ascii=False)` works
    on a full operation_optimization input."""
    from d_a import AsyncDataAnalysisService

    def debug_callback(station_id, module_input):
        print(f"Station {station_id}:")
        print(json.dumps(module_input, indent=2, ensure_ascii=False))

    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(callback=debug_callback)
    try:
        into_memory(simulated(stations=1, seconds=20))
        await until(lambda: "storage_devices" in capsys.readouterr().out or False, timeout=10)
        status = service.get_station_status()
        print(f"活跃场站: {len(status)}")
        for sid, info in status.items():
            print(f"  {sid}: running={info['running']}")
    finally:
        await service.stop()
    assert "  ST0001: running=True" in capsys.readouterr().out


def test_offset_manager_keeps_pending_offsets_after_failed_commits() -> None:
    """§2.3.7: a failed commit is retried `max_commit_retries` times and the offsets stay pending."""
    from d_a import OffsetManager
    from d_a.kafka import KafkaMessage

    class Flaky:
        def __init__(self):
            self.calls = 0
            self.committed = None

        def commit_offsets(self, offsets):
            self.calls += 1
            if self.calls <= 4:
                raise RuntimeError("coordinator not available")
            self.committed = dict(offsets)

    consumer = Flaky()
    manager = OffsetManager(
        consumer,
        {"commit_interval_seconds": 5.0, "commit_batch_size": 1, "max_commit_retries": 3, "commit_retry_delay": 0.0},
    )
    manager.track_message(KafkaMessage("T", 0, 41, None, {}))
    assert not asyncio.run(manager.commit()) and consumer.calls == 4
    assert asyncio.run(manager.commit()) and list(consumer.committed.values()) == [42]


def test_offset_manager_rejects_a_bad_commit_config() -> None:
    from d_a import ConfigError, OffsetManager

    with pytest.raises(ConfigError, match="offset_commit.commit_batch_size"):
        OffsetManager(object(), {"commit_batch_size": "100"})


async def test_global_calendar_reaches_a_station_that_appears_later(memory) -> None:
    """§2.3.8: global data (the calendar) arriving before any station is in the first input of
    a station that appears afterwards."""
    from d_a import AsyncDataAnalysisService

    inputs = []
    service = AsyncDataAnalysisService(module_name="load_prediction")
    await service.start(lambda station_id, module_input: inputs.append(module_input))
    try:
        publish_memory(
            "SCHEDULE-ENVIRONMENT-CALENDAR", {"calendar": [{"date": "2025-11-01", "dayOfWeek": 6, "holiday": 1}]}
        )
        await until(lambda: service.get_service_status()["counters"]["messages"] == 1, timeout=15)
        publish_memory("SCHEDULE-STATION-PARAM", [{"stationId": "S9", "stationLat": 30.5, "stationLng": 120.3}])
        await until(lambda: inputs, timeout=15)
    finally:
        await service.stop()
    assert inputs[0]["stationId"] == "S9" and inputs[0]["dayOfWeek"] == 6 and inputs[0]["holiday"] == 1


def test_logging_format_of_the_spec(caplog) -> None:
    """§2.3.5: log lines in the format `[time] LEVEL name message`."""
    from d_a.logs import LOG_FORMAT

    assert LOG_FORMAT == "[%(asctime)s] %(levelname)s %(name)s %(message)s"
    record = logging.LogRecord("d_a.service", logging.INFO, __file__, 1, "服务启动", None, None)
    assert logging.Formatter(LOG_FORMAT).format(record).endswith("] INFO d_a.service 服务启动")


def test_data_cache_reads_like_the_seeds_deques() -> None:
    """§2.2 / §5.4: `data_cache = {station_id: {topic: deque[(raw, ts)]}}` and the expiry check
    `if window and (now - window[-1][1] > data_expire_seconds)`."""
    from d_a import DataDispatcher

    dispatcher = DataDispatcher()
    for minute in (0, 5):
        record = {"stationId": "S1", "meterPower": float(minute), "sendTime": f"2025-11-01 08:{minute:02d}:00"}
        dispatcher.update_topic_data("S1", "SCHEDULE-DEVICE-METER", record)
    window = dispatcher.data_cache["S1"]["SCHEDULE-DEVICE-METER"]
    assert len(window) == 2 and [raw["meterPower"] for raw, ts in window] == [0.0, 5.0]
    newest_raw, newest_ts = window[-1]
    assert newest_raw["meterPower"] == 5.0 and newest_ts == window[1][1] > window[0][1]
    assert window and newest_ts + 600 < 2e9
    with pytest.raises(IndexError):
        window[2]


def test_the_seeds_module_paths_import() -> None:
    """The module paths of the developer guide's project structure and the spec's sections."""
    import d_a
    from d_a.analysis_service import AsyncDataAnalysisService, DataAnalysisService
    from d_a.batch_result_aggregator import BatchCollector, BatchResultAggregator
    from d_a.dispatcher import TOPIC_PARSER_MAP, DataDispatcher
    from d_a.errors import DataAnalysisError, DispatcherError, KafkaConnectionError, handle_error
    from d_a.kafka_client import (
        AsyncKafkaConsumerClient,
        AsyncKafkaProducerClient,
        KafkaConsumerClient,
        KafkaProducerClient,
    )
    from d_a.main import main
    from d_a.offset_manager import OffsetManager
    from d_a.parser_base import ParserBase
    from d_a.parsers import LoadPredictionParser, OperationOptimizationParser
    from d_a.topic_parsers import ModelOutputParser, StationParamParser

    names = (AsyncDataAnalysisService, DataAnalysisService, BatchCollector, BatchResultAggregator, DataDispatcher)
    assert all(getattr(d_a, cls.__name__) is cls for cls in names)
    assert d_a.TOPIC_PARSER_MAP is TOPIC_PARSER_MAP and d_a.OffsetManager is OffsetManager
    clients = (KafkaConsumerClient, KafkaProducerClient, AsyncKafkaConsumerClient, AsyncKafkaProducerClient)
    assert all(getattr(d_a, cls.__name__) is cls for cls in clients)
    assert issubclass(LoadPredictionParser, ParserBase) and issubclass(ModelOutputParser, ParserBase)
    assert OperationOptimizationParser and StationParamParser and callable(main) and callable(handle_error)
    assert issubclass(DispatcherError, DataAnalysisError) and issubclass(KafkaConnectionError, DataAnalysisError)
    assert set(d_a.__all__) >= {"AsyncDataAnalysisService", "DataAnalysisService", "BatchResultAggregator"}


def test_sync_start_with_result_handler_and_background_positional(memory) -> None:
    """§2.3.2: `start(callback, result_handler, background)`; `get_inputs(station_id)` gives every
    module's input."""
    from d_a import DataAnalysisService

    handled = []
    service = DataAnalysisService(module_name="operation_optimization")
    service.start(lambda station_id, module_input: {"v": 1}, lambda s, m, r: handled.append((s, r)), True)
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 4.0}, key="S1")
        wait_for(lambda: handled, timeout=15)
        inputs = service.get_inputs("S1")
    finally:
        service.stop()
    assert handled == [("S1", {"v": 1})]
    assert inputs["operation_optimization"]["meterPower"] == 4.0


async def test_async_add_station_with_its_own_callback_and_result_handler(memory) -> None:
    """§2.3.3: `await add_station(station_id, callback, result_handler)`; `get_inputs` is a plain call."""
    from d_a import AsyncDataAnalysisService

    own = []
    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(lambda station_id, module_input: {"by": "default"})
    try:
        await service.add_station(
            "S7",
            lambda station_id, module_input: {"by": "own"},
            lambda station_id, module_input, result: own.append((station_id, result)),
        )
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "S7", "meterPower": 2.0}, key="S7")
        await until(lambda: own, timeout=15)
        assert service.get_inputs("S7")["operation_optimization"]["meterPower"] == 2.0
    finally:
        await service.stop()
    assert own[0] == ("S7", {"by": "own"})
