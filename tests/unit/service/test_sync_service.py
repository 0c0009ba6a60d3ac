"""DataAnalysisService: the thread-based service of the seeds."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import wait_for
from service_helpers import publish

from d_a.errors import KafkaConnectionError
from d_a.kafka.broker import free_port
from d_a.service import DataAnalysisService


def test_1000_stations_are_all_served_by_32_threads(transport, broker) -> None:
    served: dict[str, int] = {}
    threads: set[str] = set()
    lock = threading.Lock()

    def model(station_id, module_input):
        time.sleep(0.002)
        with lock:
            served[station_id] = served.get(station_id, 0) + 1
            threads.add(threading.current_thread().name)
        return {"plan": module_input["meterPower"]}

    service = DataAnalysisService("operation_optimization", transport=transport, max_workers=32)
    service.start(model)
    try:
        for i in range(1000):
            publish(
                broker, "SCHEDULE-DEVICE-METER", {"stationId": f"ST{i:04d}", "meterPower": float(i)}, key=f"ST{i:04d}"
            )
        wait_for(lambda: len(served) == 1000, timeout=30)
        status = service.get_service_status()
    finally:
        service.stop()
    assert len(served) == 1000
    assert len(threads) <= 32
    assert status["main_thread_alive"] and status["station_count"] == 1000
    assert service.get_service_status()["main_thread_alive"] is False


def test_foreground_start_blocks_until_stop(transport, broker) -> None:
    calls = []
    service = DataAnalysisService("operation_optimization", transport=transport)
    stopper = threading.Timer(0.5, service.stop)
    stopper.start()
    publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 1.0}, key="S1")
    started = time.monotonic()
    service.start(lambda s, data: calls.append(s), background=False)
    assert time.monotonic() - started >= 0.45
    assert calls == ["S1"]


def test_station_management_and_inputs(transport, broker) -> None:
    calls = []
    service = DataAnalysisService("operation_optimization", transport=transport)
    service.start(lambda s, data: calls.append(s))
    try:
        publish(broker, "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 2.5}, key="S1")
        wait_for(lambda: calls)
        assert service.get_inputs("S1", "operation_optimization")["meterPower"] == 2.5
        assert service.get_inputs("S1")["operation_optimization"]["meterPower"] == 2.5
        assert "operation_optimization" in service.get_outputs("S1")
        service.add_station("S2", lambda s, data: calls.append(f"own-{s}"))
        wait_for(lambda: "own-S2" in calls)
        service.remove_station("S1")
        wait_for(lambda: "S1" not in service.get_station_status())
    finally:
        service.stop()


def test_unreachable_kafka_fails_start_with_kafka_connection_error() -> None:
    service = DataAnalysisService(
        "operation_optimization",
        kafka_config={
            "bootstrap_servers": f"127.0.0.1:{free_port()}",
            "max_retries": 2,
            "retry_interval": 0.05,
            "bootstrap_timeout_ms": 200,
        },
    )
    with pytest.raises(KafkaConnectionError, match="after 2 attempts"):
        service.start(lambda s, d: None)


def test_seed_start_forms_and_reload_adding_a_topic(transport, broker) -> None:
    """`start(callback, result_handler, background)` and `start(callback, False)`-style positional
    background; reload_config subscribes a topic added to the module's configuration."""
    handled, inputs = [], []
    service = DataAnalysisService("pv_prediction", transport=transport)
    service.start(lambda s, data: inputs.append(data) or {"ok": 1}, lambda s, r: handled.append(r), True)
    try:
        publish(broker, "SCHEDULE-DEVICE-PV", {"stationId": "S1", "pvId": "PV1", "pvPreDcPower": 3.5}, key="S1")
        wait_for(lambda: handled == [{"ok": 1}])
        document = service.config.legacy()
        document["TOPIC_DETAIL"]["SITE-IRRADIANCE"] = {"fields": ["ghi"], "modules": ["pv_prediction"]}
        service.reload_config(document)
        assert "SITE-IRRADIANCE" in service.topics
        publish(broker, "SITE-IRRADIANCE", {"stationId": "S1", "ghi": 812.0}, key="S1")
        wait_for(lambda: inputs[-1].get("ghi") == 812.0)
    finally:
        service.stop()
