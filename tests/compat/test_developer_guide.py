"""The seeds' developer guide (003): parser extensions, configuration examples, and its tests."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import until
from seed_helpers import into_memory, publish_memory, simulated

from d_a.parser_base import ParserBase

STATION = "ST0001"


class NewTopicParser(ParserBase):
    """The guide's topic parser: parses NEW-TOPIC messages (already decoded)."""

    def parse(self, raw_data):
        if not raw_data or "stationId" not in raw_data:
            return None

        parsed_data = {
            "stationId": raw_data.get("stationId"),
            "timestamp": raw_data.get("timestamp"),
            "field1": raw_data.get("field1", 0),
            "field2": raw_data.get("field2", ""),
        }

        return parsed_data


class NewModuleParser(ParserBase):
    """The guide's module parser: builds its input from `{topic: window, dependency: output}`."""

    def parse(self, all_topics_data):
        station_params = all_topics_data.get("SCHEDULE-STATION-PARAM", [])
        realtime_data = all_topics_data.get("REAL-STATION-DATA", [])

        dependency_output = all_topics_data.get("load_prediction", {})

        module_input = {
            "station_info": station_params[0] if station_params else {},
            "realtime_window": realtime_data,
            "dependency_data": dependency_output,
        }

        return module_input


NEW_TOPIC_CONFIG = {
    "TOPIC_DETAIL": {
        "NEW-TOPIC": {
            "fields": ["stationId", "timestamp", "field1", "field2"],
            "frequency": "1分钟",
            "modules": ["load_prediction", "operation_optimization"],
            "window_size": 60,
        },
    },
}


@pytest.fixture
def topic_parser_registered():
    """Step 4 of the guide: the parser mapped to its topic in TOPIC_PARSER_MAP (removed afterwards)."""
    from d_a.dispatcher import TOPIC_PARSER_MAP

    TOPIC_PARSER_MAP["NEW-TOPIC"] = NewTopicParser()
    yield
    del TOPIC_PARSER_MAP["NEW-TOPIC"]


async def test_new_topic_parser_through_a_service(memory, topic_parser_registered) -> None:
    """A ParserBase topic parser mapped in TOPIC_PARSER_MAP and configured in TOPIC_DETAIL: its
    records reach the module input as `field1` / `field1_window`; a None from `parse` skips the
    message and is counted."""
    from d_a import AsyncDataAnalysisService

    inputs = []
    service = AsyncDataAnalysisService(module_name="operation_optimization", config=NEW_TOPIC_CONFIG)
    await service.start(lambda station_id, module_input: inputs.append(module_input))
    try:
        for minute in range(3):
            publish_memory(
                "NEW-TOPIC", {"stationId": STATION, "timestamp": 1.7e9 + 60 * minute, "field1": minute, "field2": "x"}
            )
        publish_memory("NEW-TOPIC", {"noStation": True})
        await until(lambda: inputs and inputs[-1]["field1_window"] == [0, 1, 2], timeout=15)
        await until(lambda: service.get_service_status()["bad_input"].get("rejected") == 1, timeout=15)
    finally:
        await service.stop()
    assert inputs[-1]["field1"] == 2 and inputs[-1]["field2"] == "x"


def test_new_topic_parser_on_a_dispatcher_instance() -> None:
    """The guide adds the parser to the dispatcher's own `topic_parsers` map."""
    from d_a import DataDispatcher

    dispatcher = DataDispatcher(config=NEW_TOPIC_CONFIG)
    dispatcher.topic_parsers["NEW-TOPIC"] = NewTopicParser()
    dispatcher.ingest("NEW-TOPIC", {"stationId": STATION, "timestamp": 1.7e9, "field1": 5, "field2": "y"})
    assert dispatcher.get_module_input(STATION, "load_prediction")["field1"] == 5
    assert isinstance(dispatcher.topic_parsers["NEW-TOPIC"].user_parser, NewTopicParser)


async def test_new_module_parser_with_dependencies_and_output_topic(memory) -> None:
    """The guide's module parser (seeds' `{topic: window}` input), MODULE_DEPENDENCIES and
    MODULE_OUTPUT_TOPICS: its input is what the parser builds, plus `_data_quality`; its results
    go to the configured output topic."""
    from d_a import AsyncDataAnalysisService
    from d_a.dispatcher import DataDispatcher
    from d_a.parsers import MODULE_PARSER_MAP

    config = {
        "TOPIC_DETAIL": {
            "SCHEDULE-STATION-PARAM": {
                "fields": ["stationId", "stationLat", "stationLng"],
                "modules": ["load_prediction", "new_module"],
                "window_size": 1,
                "parser": "station_param",
            },
            "REAL-STATION-DATA": {
                "fields": ["stationId", "timestamp", "totalPower"],
                "frequency": "15秒",
                "modules": ["load_prediction", "new_module"],
                "window_size": 5,
            },
        },
        "MODULE_DEPENDENCIES": {"new_module": ["load_prediction"]},
        "MODULE_OUTPUT_TOPICS": {"new_module": "MODULE-OUTPUT-NEW-MODULE"},
    }
    MODULE_PARSER_MAP["new_module"] = NewModuleParser()
    try:
        inputs = []
        service = AsyncDataAnalysisService(module_name="new_module", config=config)
        assert service.output_topic == "MODULE-OUTPUT-NEW-MODULE"
        await service.start(lambda station_id, module_input: inputs.append(module_input) or {"ok": 1})
        try:
            publish_memory("SCHEDULE-STATION-PARAM", [{"stationId": STATION, "stationLat": 30.5, "stationLng": 120.3}])
            publish_memory("REAL-STATION-DATA", {"stationId": STATION, "timestamp": 1.7e9, "totalPower": 12.5})
            publish_memory("MODULE-OUTPUT-LOAD_PREDICTION", {"station_id": STATION, "forecast": [1, 2]})
            await until(lambda: inputs and inputs[-1]["dependency_data"] and inputs[-1]["realtime_window"], timeout=15)
        finally:
            await service.stop()
        latest = inputs[-1]
        assert latest["station_info"]["stationLat"] == 30.5
        assert [r["totalPower"] for r in latest["realtime_window"]] == [12.5]
        assert latest["dependency_data"]["forecast"] == [1, 2]
        assert latest["_data_quality"]["availability_ratio"] == 1.0
        dispatcher = DataDispatcher(config=config)
        assert isinstance(dispatcher.module_parsers["new_module"], NewModuleParser)
    finally:
        del MODULE_PARSER_MAP["new_module"]


def test_development_production_and_security_configs() -> None:
    """The guide's development, production and SASL/SSL KAFKA_CONFIG examples load; passwords
    never reach a log line or the printed settings."""
    from d_a.config import normalize_kafka_config
    from d_a.kafka.client_config import aiokafka_producer_kwargs, kafka_python_producer_kwargs
    from d_a.logs import mask_secrets

    development = {
        "consumer": {
            "bootstrap_servers": ["localhost:9092"],
            "group_id": "data_analysis_dev",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": True,
            "max_poll_records": 100,
        },
        "producer": {"bootstrap_servers": ["localhost:9092"], "acks": "1", "retries": 1, "compression_type": "none"},
    }
    production = {
        "consumer": {
            "bootstrap_servers": ["kafka1:9092", "kafka2:9092", "kafka3:9092"],
            "group_id": "data_analysis_prod",
            "auto_offset_reset": "latest",
            "enable_auto_commit": True,
            "max_poll_records": 500,
            "session_timeout_ms": 30000,
            "request_timeout_ms": 40000,
            "heartbeat_interval_ms": 3000,
            "max_poll_interval_ms": 300000,
        },
        "producer": {
            "bootstrap_servers": ["kafka1:9092", "kafka2:9092", "kafka3:9092"],
            "acks": "all",
            "retries": 3,
            "max_in_flight_requests_per_connection": 5,
            "compression_type": "gzip",
            "linger_ms": 10,
            "batch_size": 16384,
            "buffer_memory": 33554432,
        },
    }
    flat_secure = {
        "bootstrap_servers": ["kafka1:9092", "kafka2:9092"],
        "group_id": "prod_group",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "user",
        "sasl_plain_password": "pass-of-the-guide",
    }
    dev = normalize_kafka_config(development)
    assert aiokafka_producer_kwargs(dev.producer)["acks"] == 1
    assert aiokafka_producer_kwargs(dev.producer)["compression_type"] is None
    assert kafka_python_producer_kwargs(dev.producer)["compression_type"] is None
    prod = normalize_kafka_config(production)
    assert prod.consumer["max_poll_interval_ms"] == 300000 and prod.producer["buffer_memory"] == 33554432
    secure = normalize_kafka_config(flat_secure)
    assert secure.consumer["security_protocol"] == secure.producer["security_protocol"] == "SASL_SSL"
    assert "pass-of-the-guide" not in str(secure.masked())
    assert "pass-of-the-guide" not in mask_secrets("login with pass-of-the-guide")


async def test_complete_data_flow(memory) -> None:
    """The guide's integration test `test_complete_data_flow`: a module the configuration does not
    list (`test_module`) reads every topic; callbacks come, the service and stations report alive.
    (The guide sleeps 10 s; here the MockProducer's data is waited for.)"""
    from d_a import AsyncDataAnalysisService
    from d_a.config import KAFKA_CONFIG
    from d_a.simulator import MockProducer

    callback_results = []

    async def test_callback(station_id, module_input):
        callback_results.append({"station_id": station_id, "module_input": module_input})
        return module_input

    service = AsyncDataAnalysisService(module_name="test_module", kafka_config=KAFKA_CONFIG)
    producer = MockProducer()
    await producer.start()
    try:
        await service.start(callback=test_callback)
        await producer.send_all_topics("station001")
        await producer.send_all_topics("station002")
        await until(lambda: {r["station_id"] for r in callback_results} == {"station001", "station002"}, timeout=15)

        assert len(callback_results) > 0
        status = service.get_service_status()
        assert status["main_thread_alive"] is True
        station_status = service.get_station_status()
        assert len(station_status) > 0
    finally:
        await service.stop()
        await producer.stop()
    module_input = callback_results[-1]["module_input"]
    assert module_input["_data_quality"]["total_topics"] == 13  # every input topic
    assert "gridCapacity" in module_input and "meterPower_window" in module_input


def test_unknown_module_that_looks_like_a_typo_is_an_error(memory) -> None:
    """An unlisted module name close to a configured one is a typo, named with the fix."""
    from d_a import AsyncDataAnalysisService, ConfigError

    with pytest.raises(ConfigError, match="unknown module 'load_predicton' \\(did you mean 'load_prediction'\\?\\)"):
        AsyncDataAnalysisService(module_name="load_predicton")


async def test_config_hot_reload(memory) -> None:
    """The guide's `test_config_hot_reload`: `service.reload_config()` called as a plain function
    (not awaited) on a service without module or Kafka arguments."""
    from d_a import AsyncDataAnalysisService

    service = AsyncDataAnalysisService()
    try:
        await service.start()
        service.reload_config()
        assert service.get_service_status()["main_thread_alive"]
    finally:
        await service.stop()


async def test_config_hot_reload_takes_effect_without_await(memory, tmp_path) -> None:
    """Not awaiting `reload_config()` still applies it: a topic added to the config file is consumed."""
    from d_a import AsyncDataAnalysisService

    path = tmp_path / "config.py"
    path.write_text("MODULE_DEPENDENCIES = {'operation_optimization': ['load_prediction']}\n", "utf-8")
    inputs = []
    service = AsyncDataAnalysisService(module_name="pv_prediction", config=str(path))
    await service.start(lambda s, m: inputs.append(m))
    try:
        path.write_text(
            "TOPIC_DETAIL = {'SITE-IRRADIANCE': {'fields': ['ghi'], 'modules': ['pv_prediction']}}\n", "utf-8"
        )
        service.reload_config()
        await until(lambda: "SITE-IRRADIANCE" in service.topics, timeout=15)
        publish_memory("SITE-IRRADIANCE", {"stationId": STATION, "ghi": 812.0}, key=STATION)
        await until(lambda: inputs and inputs[-1].get("ghi") == 812.0, timeout=15)
    finally:
        await service.stop()


async def test_mock_producer(memory) -> None:
    """The guide's MockProducer calls (`from d_a.simulator import MockProducer` instead of its
    tests/test_mock_producer.py): `send_all_topics`, then `run_continuous`."""
    from d_a import AsyncDataAnalysisService
    from d_a.simulator import MockProducer

    seen = set()
    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(lambda station_id, module_input: seen.add(station_id))
    producer = MockProducer(stations=3)
    await producer.start()
    try:
        assert await producer.send_all_topics("station001") >= 10
        sent = await producer.run_continuous(duration_seconds=1.0, interval_seconds=0.5)
        await until(lambda: seen >= {"station001", "ST0001", "ST0002", "ST0003"}, timeout=15)
    finally:
        await producer.stop()
        await service.stop()
    assert sent > 0 and producer.sent > sent


async def test_performance_test_example(memory) -> None:
    """The guide's `performance_test`, shortened: module `performance_test`, an async callback
    timing itself; callback times are collected and the service keeps up."""
    from d_a import AsyncDataAnalysisService
    from d_a.config import KAFKA_CONFIG

    service = AsyncDataAnalysisService(module_name="performance_test", kafka_config=KAFKA_CONFIG)
    metrics = {"callback_times": []}

    async def test_callback(station_id, module_input):
        start = time.time()
        await asyncio.sleep(0.01)
        end = time.time()
        metrics["callback_times"].append(end - start)
        return module_input

    try:
        await service.start(callback=test_callback)
        into_memory(simulated(stations=5, seconds=10))
        await until(lambda: len(metrics["callback_times"]) >= 5, timeout=15)
    finally:
        await service.stop()
    avg_time = sum(metrics["callback_times"]) / len(metrics["callback_times"])
    assert 0.01 <= avg_time < 1.0
