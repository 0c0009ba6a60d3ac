"""The seeds' API reference (001): the public classes and calls, as its examples use them."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from helpers import until, wait_for
from seed_helpers import into_kafka, into_memory, publish_memory, read_memory, simulated

STATION = "ST0001"


def test_sync_service_constructor_start_status_reload_stop(memory) -> None:
    """DataAnalysisService(module_name, topics, kafka_config, data_expire_seconds,
    output_topic_prefix, result_handler); start(callback, background=True); get_outputs;
    get_station_status {running, future}; get_service_status; reload_config(); stop()."""
    from d_a import DataAnalysisService
    from d_a.config import KAFKA_CONFIG

    handled = []

    def result_handler(station_id, result):  # the constructor's form: after the upload
        handled.append((station_id, result))

    def callback(station_id, module_input):
        return {"load": module_input["outputPowerPerStationAvg"]}

    service = DataAnalysisService(
        module_name="load_prediction",
        topics=None,
        kafka_config=KAFKA_CONFIG,
        data_expire_seconds=600,
        output_topic_prefix="MODULE-OUTPUT-",
        result_handler=result_handler,
    )
    service.start(callback=callback, background=True)
    try:
        into_memory(simulated(stations=2, seconds=5))
        wait_for(lambda: {s for s, _ in handled} == {"ST0001", "ST0002"}, timeout=15)
        outputs = service.get_outputs(STATION)
        stations = service.get_station_status()
        assert stations[STATION]["running"] is True and stations[STATION]["future"].running()
        status = service.get_service_status()
        service.reload_config()
    finally:
        service.stop()
    assert set(outputs) >= {"load_prediction", "operation_optimization"}
    assert outputs["load_prediction"]["_data_quality"]["total_topics"] >= 1
    assert stations[STATION]["future"].done()  # the service stopped
    assert {"main_thread_alive", "consumer_alive", "producer_alive", "station_count"} <= set(status)
    assert status["main_thread_alive"] and status["consumer_alive"] and status["producer_alive"]
    assert status["station_count"] == 2 and status["result_handler_registered"]
    uploaded = read_memory("MODULE-OUTPUT-LOAD_PREDICTION")  # a result_handler does not stop the upload
    # the stations of a REALTIME-DATA message form a batch: uploaded in the batch document's form
    assert {s["station_id"] for u in uploaded for s in u["stations"]} == {"ST0001", "ST0002"}
    assert uploaded[0]["module"] == "load_prediction" and uploaded[0]["batch_id"].startswith("SCHEDULE-STATION")
    assert service.get_service_status()["main_thread_alive"] is False


async def test_async_service_start_handlers_inputs_stations(memory) -> None:
    """AsyncDataAnalysisService; start(callback, result_handler=(station_id, module_input,
    result), batch_upload_handler=...); await get_all_inputs; add_station(station_id, callback);
    remove_station; get_station_status {running, task}."""
    from d_a import AsyncDataAnalysisService
    from d_a.config import KAFKA_CONFIG

    per_station, batches, extra = [], [], []

    async def callback(station_id, module_input):
        return {"n": len(module_input["outputPowerPerStationAvg_window"])}

    def result_handler(station_id, module_input, result):
        per_station.append((station_id, result))

    async def batch_upload_handler(batch_id, results_list):
        batches.append((batch_id, results_list))

    service = AsyncDataAnalysisService(module_name="load_prediction", kafka_config=KAFKA_CONFIG)
    await service.start(callback, result_handler=result_handler, batch_upload_handler=batch_upload_handler)
    try:
        into_memory(simulated(stations=3, seconds=3))
        await until(lambda: batches and len({s for s, _ in per_station}) == 3, timeout=15)
        inputs = await service.get_all_inputs(STATION)
        await service.add_station("ST0002", lambda station_id, module_input: extra.append(station_id))
        into_memory(simulated(stations=3, seconds=6)[-40:])
        status = service.get_station_status()
        assert status[STATION]["running"] is True and not status[STATION]["task"].done()
        await service.remove_station("ST0003")
        after = service.get_station_status()
    finally:
        await service.stop()
    assert set(inputs) >= {"load_prediction", "operation_optimization"}
    assert inputs["load_prediction"]["stationId"] == STATION
    batch_id, results = batches[0]
    assert batch_id.startswith("SCHEDULE-STATION-REALTIME-DATA_")
    assert {r["station_id"] for r in results} == {"ST0001", "ST0002", "ST0003"}
    assert "ST0003" not in after and status["ST0003"]["task"].done()


async def test_batch_aggregator_settings_and_cleanup(memory) -> None:
    """`service.batch_aggregator.batch_timeout` / `cleanup_interval` adjustable at run time, and
    `cleanup_expired()` hands over batches past their timeout."""
    from d_a import AsyncDataAnalysisService, BatchResultAggregator

    service = AsyncDataAnalysisService(module_name="load_prediction")
    await service.start(lambda s, m: None)
    try:
        service.batch_aggregator.batch_timeout = 3.0
        service.batch_aggregator.cleanup_interval = 0.5
        assert isinstance(service.batch_aggregator, BatchResultAggregator)
        assert service.batch_aggregator.batch_timeout == 3.0
    finally:
        await service.stop()
    aggregator = BatchResultAggregator(batch_timeout=0.0)
    aggregator.open_batch("SCHEDULE-STATION-REALTIME-DATA_1699999200", ["A", "B"])
    aggregator.report("SCHEDULE-STATION-REALTIME-DATA_1699999200", "A", {"v": 1})
    expired = aggregator.cleanup_expired()
    assert [c.results_list() for c in expired] == [[{"station_id": "A", "v": 1}]]


def test_dispatcher_api() -> None:
    """DataDispatcher(data_expire_seconds=600): update_topic_data, get_topic_window,
    get_module_input, get_all_inputs, clean_expired, reload_config(config_mod)."""
    import d_a.config
    from d_a import DataDispatcher

    dispatcher = DataDispatcher(data_expire_seconds=600)
    dispatcher.update_topic_data(
        STATION, "SCHEDULE-DEVICE-METER", {"stationId": STATION, "meterPower": 41.5, "sendTime": "2025-11-01 08:00:00"}
    )
    dispatcher.update_topic_data(
        STATION, "SCHEDULE-DEVICE-METER", {"stationId": STATION, "meterPower": 42.5, "sendTime": "2025-11-01 08:05:00"}
    )
    assert [r["meterPower"] for r in dispatcher.get_topic_window(STATION, "SCHEDULE-DEVICE-METER")] == [41.5, 42.5]
    assert dispatcher.get_topic_window("nowhere", "SCHEDULE-DEVICE-METER") == []
    module_input = dispatcher.get_module_input(STATION, "operation_optimization")
    assert module_input["meterPower"] == 42.5 and module_input["meterPower_window"] == [41.5, 42.5]
    assert set(dispatcher.get_all_inputs(STATION)) == set(d_a.config.MODULE_DEPENDENCIES) | {
        "load_prediction",
        "pv_prediction",
        "evaluation_model",
        "SOH_model",
        "customer_mining",
    }
    assert dispatcher.clean_expired() == []
    dispatcher.reload_config(d_a.config)  # the seeds' call: the configuration module itself
    assert dispatcher.get_module_input(STATION, "operation_optimization")["meterPower"] == 42.5


async def test_kafka_clients_as_the_reference_shows(seed_config) -> None:
    """KafkaProducerClient(config).send / close; KafkaConsumerClient(topics, config, max_retries,
    retry_interval).poll(timeout_ms) -> {TopicPartition: [Message]} with dict values;
    AsyncKafkaProducerClient / AsyncKafkaConsumerClient start, send, getone, stop; the async
    consumer's values are bytes the caller decodes, as the seeds' main loop does."""
    import uuid

    from d_a import AsyncKafkaConsumerClient, AsyncKafkaProducerClient, KafkaConsumerClient, KafkaProducerClient
    from d_a.config import KAFKA_CONFIG

    topic = f"seed-clients-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducerClient(KAFKA_CONFIG, max_retries=5, retry_interval=1)
    producer.send(topic, {"stationId": STATION, "备注": "快充", "seq": 1})
    producer.close()
    async_producer = AsyncKafkaProducerClient(KAFKA_CONFIG)
    await async_producer.start()
    await async_producer.send(topic, {"stationId": STATION, "seq": 2})
    await async_producer.stop()

    consumer = KafkaConsumerClient([topic], KAFKA_CONFIG, max_retries=5, retry_interval=1)
    polled = []
    try:
        for _ in range(60):
            for tp, messages in consumer.poll(timeout_ms=1000).items():
                assert tp.topic == topic
                polled += [m.value for m in messages]
            if len(polled) == 2:
                break
    finally:
        consumer.close()
    assert sorted(v["seq"] for v in polled) == [1, 2] and any(v.get("备注") == "快充" for v in polled)

    config = {**KAFKA_CONFIG, "consumer": {**KAFKA_CONFIG["consumer"], "group_id": f"async-{topic}"}}
    async_consumer = AsyncKafkaConsumerClient([topic], config, loop=None)
    await async_consumer.start()
    try:
        values = []
        for _ in range(60):
            msg = await async_consumer.getone()
            if msg is not None:
                value_str = msg.value.decode("utf-8")
                values.append(json.loads(value_str))
            if len(values) == 2:
                break
        assert await async_consumer.getone(timeout_ms=200) is None  # nothing more: None, as documented
    finally:
        await async_consumer.stop()
    assert sorted(v["seq"] for v in values) == [1, 2]


def test_exception_hierarchy() -> None:
    from d_a import DataAnalysisError, DispatcherError, KafkaConnectionError

    assert issubclass(KafkaConnectionError, DataAnalysisError)
    assert issubclass(DispatcherError, DataAnalysisError)
    assert issubclass(DataAnalysisError, Exception)


async def test_callback_return_value_is_uploaded_and_none_is_not(memory, caplog) -> None:
    """'返回值会自动上传到Kafka'. Deliberate difference: the seeds upload the module input when a
    callback returns None; d_a uploads nothing for None (it is no output, as in the batch
    document) and says so once in the log (docs/MIGRATION.md)."""
    from d_a import AsyncDataAnalysisService

    caplog.set_level(logging.INFO, "d_a")

    def my_callback(station_id, module_input):
        return None if station_id == "ST0002" else {"forecast": [1, 2, 3]}

    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(callback=my_callback)
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "ST0001", "meterPower": 1.0}, key="ST0001")
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "ST0002", "meterPower": 2.0}, key="ST0002")
        await until(lambda: service.get_service_status()["counters"]["callbacks"] >= 2, timeout=15)
        await until(lambda: read_memory("MODULE-OUTPUT-OPERATION_OPTIMIZATION"), timeout=15)
    finally:
        await service.stop()
    uploaded = read_memory("MODULE-OUTPUT-OPERATION_OPTIMIZATION")
    assert [(u["station_id"], u["output"]) for u in uploaded] == [("ST0001", {"forecast": [1, 2, 3]})]
    assert "callback returned None for station ST0002: nothing uploaded" in caplog.text


async def test_data_quality_example_callback(memory) -> None:
    """The `_data_quality` block and the reference's degrade-by-availability callback."""
    from d_a import AsyncDataAnalysisService

    decisions = []

    def callback(station_id, module_input):
        quality = module_input.get("_data_quality", {})
        if quality.get("availability_ratio", 0) < 0.8:
            decisions.append(("degraded", quality["missing_topics"]))
            return None
        decisions.append(("full", quality["available_topics"]))
        return {"ok": True}

    service = AsyncDataAnalysisService(module_name="load_prediction")
    await service.start(callback)
    try:
        publish_memory("SCHEDULE-STATION-PARAM", [{"stationId": STATION, "stationLat": 30.5, "stationLng": 120.3}])
        await until(lambda: decisions, timeout=15)
    finally:
        await service.stop()
    kind, topics = decisions[0]
    assert kind == "degraded" and "SCHEDULE-STATION-REALTIME-DATA" in topics


def test_kafka_config_nested_and_flat_forms() -> None:
    """Both KAFKA_CONFIG forms of the reference give the same client settings."""
    from d_a.config import normalize_kafka_config

    nested = {
        "consumer": {
            "bootstrap_servers": ["localhost:9092"],
            "group_id": "data_analysis_group",
            "auto_offset_reset": "latest",
            "enable_auto_commit": True,
            "max_poll_records": 500,
            "session_timeout_ms": 30000,
        },
        "producer": {
            "bootstrap_servers": ["localhost:9092"],
            "acks": "all",
            "retries": 3,
            "max_in_flight_requests_per_connection": 5,
            "compression_type": "gzip",
        },
    }
    flat = {
        "bootstrap_servers": ["localhost:9092"],
        "group_id": "data_analysis_group",
        "auto_offset_reset": "latest",
        "enable_auto_commit": True,
    }
    a, b = normalize_kafka_config(nested), normalize_kafka_config(flat)
    assert a.consumer["group_id"] == b.consumer["group_id"] == "data_analysis_group"
    assert a.bootstrap_servers == b.bootstrap_servers == ["localhost:9092"]
    assert a.producer["compression_type"] == "gzip" and a.ignored == () and b.ignored == ()


async def test_offset_commit_config_and_offset_manager(memory) -> None:
    """OFFSET_COMMIT_CONFIG as a dict; OffsetManager's track_message / should_commit / commit."""
    from d_a import OffsetManager
    from d_a.kafka import AsyncMemoryConsumer

    OFFSET_COMMIT_CONFIG = {  # noqa: N806 - the seeds' name
        "commit_interval_seconds": 5.0,
        "commit_batch_size": 3,
        "max_commit_retries": 3,
        "commit_retry_delay": 1.0,
    }
    for i in range(3):
        publish_memory("SEED-OFFSETS", {"stationId": STATION, "seq": i}, key=STATION)
    consumer = AsyncMemoryConsumer(["SEED-OFFSETS"], memory, group_id="seed-offsets", auto_offset_reset="earliest")
    await consumer.start()
    manager = OffsetManager(consumer, OFFSET_COMMIT_CONFIG)
    for msg in await consumer.getmany(timeout_ms=1000):
        manager.track_message(msg)
    assert manager.should_commit()
    assert await manager.commit()
    await consumer.stop()
    committed = {tp.partition: offset for tp, offset in manager.committed_offsets.items()}
    assert sum(committed.values()) == 3


def test_topic_detail_and_module_dependencies_examples() -> None:
    """A TOPIC_DETAIL entry as the reference writes it (camelCase fields, 7 days of 15-second
    data) and MODULE_DEPENDENCIES: a module reads its dependencies' outputs."""
    from d_a import DataDispatcher

    config = {
        "TOPIC_DETAIL": {
            "REAL-STATION-DATA": {
                "fields": ["stationId", "timestamp", "totalPower"],
                "frequency": "15秒",
                "modules": ["load_prediction", "evaluation_model"],
                "window_size": 7 * 24 * 60 * 4,
            },
        },
        "MODULE_DEPENDENCIES": {"operation_optimization": ["load_prediction"]},
    }
    dispatcher = DataDispatcher(config=config)
    for i in range(3):
        dispatcher.update_topic_data(
            STATION, "REAL-STATION-DATA", {"stationId": STATION, "timestamp": 1.7e9 + 15 * i, "totalPower": 10.0 + i}
        )
    dispatcher.update_topic_data(
        STATION, "MODULE-OUTPUT-LOAD_PREDICTION", {"station_id": STATION, "forecast": [1, 2], "timestamp": 1.7e9}
    )
    load = dispatcher.get_module_input(STATION, "load_prediction")
    assert load["totalPower"] == 12.0 and load["totalPower_window"] == [10.0, 11.0, 12.0]
    operation = dispatcher.get_module_input(STATION, "operation_optimization")
    assert operation["load_prediction_forecast"] == [1, 2]


async def test_consumer_lag_info(seed_config) -> None:
    """`service.consumer.get_lag_info()` per topic (multi-consumer diagnostics)."""
    from d_a import AsyncDataAnalysisService
    from d_a.config import KAFKA_CONFIG

    await into_kafka(simulated(stations=1, seconds=2), KAFKA_CONFIG)
    service = AsyncDataAnalysisService(module_name="pv_prediction", kafka_config=KAFKA_CONFIG)
    seen = []
    await service.start(lambda s, m: seen.append(s))
    try:
        await until(lambda: seen, timeout=60)
        lag = service.consumer.get_lag_info()
    finally:
        await service.stop()
    assert set(lag) >= {"SCHEDULE-ENVIRONMENT-WEATHER", "SCHEDULE-DEVICE-PV"}
    assert any(info["position"] for partitions in lag.values() for info in partitions.values())


@pytest.mark.parametrize("form", ["start", "constructor"])
async def test_result_handler_forms(memory, form: str) -> None:
    """The constructor documents `result_handler(station_id, result)`, `start` documents
    `result_handler(station_id, module_input, result)`: both are called after the upload."""
    from d_a import AsyncDataAnalysisService

    calls = []

    def two(station_id, result):
        calls.append((station_id, result))

    def three(station_id, module_input, result):
        calls.append((station_id, module_input["stationId"], result))

    if form == "constructor":
        service = AsyncDataAnalysisService(module_name="operation_optimization", result_handler=two)
        await service.start(lambda s, m: {"v": 1})
    else:
        service = AsyncDataAnalysisService(module_name="operation_optimization")
        await service.start(lambda s, m: {"v": 1}, result_handler=three)
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": STATION, "meterPower": 1.0}, key=STATION)
        await until(lambda: calls, timeout=15)
        await asyncio.sleep(0.05)
    finally:
        await service.stop()
    expected = (STATION, {"v": 1}) if form == "constructor" else (STATION, STATION, {"v": 1})
    assert calls == [expected]
    assert len(read_memory("MODULE-OUTPUT-OPERATION_OPTIMIZATION")) == 1


async def test_copy_of_kafka_config_with_single_consumer_mode(memory) -> None:
    """'如资源紧张，可将 multi_consumer_mode 置 False': a copy of `d_a.config.KAFKA_CONFIG` with
    `consumer.multi_consumer_mode = False` is accepted (it once clashed with the top-level copy)."""
    import copy

    from d_a import AsyncDataAnalysisService
    from d_a.config import KAFKA_CONFIG
    from d_a.kafka.consumer_plan import plan_consumers

    config = copy.deepcopy(KAFKA_CONFIG)
    config["consumer"]["multi_consumer_mode"] = False
    service = AsyncDataAnalysisService(module_name="load_prediction", kafka_config=config)
    assert service.config.kafka.multi_consumer_mode is False
    plan = plan_consumers(
        "seed",
        service.topics,
        service.config.kafka,
        group_id=None,
        multi_consumer_mode=None,
        max_retries=None,
        retry_interval=None,
    )
    assert not plan.multi_consumer_mode and len(plan.members) == 1


def test_enable_auto_commit_true_is_overridden_loudly(memory, caplog) -> None:
    """The seeds' examples often set `enable_auto_commit: True`; the aiokafka consumer would then
    commit fetched offsets before any callback ran (data lost in a crash). A service keeps
    committing after callbacks and says so with a warning naming the setting."""
    from d_a import DataAnalysisService

    config = {"bootstrap_servers": ["localhost:9092"], "group_id": "g", "enable_auto_commit": True}
    service = DataAnalysisService(module_name="load_prediction", kafka_config=config)
    assert service.config.kafka.consumer["enable_auto_commit"] is False
    assert "enable_auto_commit=True is not used by the service" in caplog.text
