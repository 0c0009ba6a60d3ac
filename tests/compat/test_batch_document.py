"""The seeds' batch result aggregation document (002)."""

from __future__ import annotations

import time

import pytest
from helpers import until
from seed_helpers import publish_memory, read_memory

MODULE_NAME = "load_prediction"


def realtime_message(stations: list[str], send_time: str = "2025-11-14 10:00:00") -> dict:
    rows = [
        {
            "stationId": station,
            "hostCode": f"H-{station}",
            "sendTime": send_time,
            "gunPower": {"gunNo": [1, 2], "outputPowerPerGunAvg": [5.0, 6.0], "outputPowerPerGunMax": [7.0, 8.0]},
            "outputPowerPerStationAvg": 11.0,
            "outputPowerPerStationMax": 15.0,
        }
        for station in stations
    ]
    return {"realTimeData": rows}


async def test_one_message_three_stations_one_upload(memory) -> None:
    """The document's scenario: one REALTIME-DATA message with stations A, B, C; B returns None.
    One call of the batch handler with A and C, each with `station_id`; the batch id is built
    from the newest sendTime; the handler's payload reaches Kafka as the document writes it."""
    from d_a import AsyncDataAnalysisService

    calls = []

    async def my_callback(station_id, module_input):
        if station_id == "B":
            return None
        return {"result": 123 if station_id == "A" else 789, "prediction": [1, 2, 3], "confidence": 0.95}

    async def result_handler(batch_id, batch_results_list):
        calls.append((batch_id, batch_results_list))
        payload = {
            "batch_id": batch_id,
            "module": MODULE_NAME,
            "timestamp": time.time(),
            "stations": batch_results_list,
            "station_count": len(batch_results_list),
        }
        await service_producer.send("MODULE-OUTPUT-LOAD_PREDICTION", payload)

    service = AsyncDataAnalysisService(module_name=MODULE_NAME)
    service_producer = service.transport.async_producer()  # the document's `producer`, in memory here
    await service_producer.start()
    await service.start(my_callback, batch_upload_handler=result_handler)
    try:
        publish_memory("SCHEDULE-STATION-REALTIME-DATA", realtime_message(["A", "B", "C"]))
        await until(lambda: calls, timeout=15)
    finally:
        await service.stop()
        await service_producer.stop()
    batch_id, results = calls[0]
    epoch = int(time.mktime(time.strptime("2025-11-14 10:00:00", "%Y-%m-%d %H:%M:%S")))
    assert batch_id == f"SCHEDULE-STATION-REALTIME-DATA_{epoch}"
    assert results == [
        {"station_id": "A", "result": 123, "prediction": [1, 2, 3], "confidence": 0.95},
        {"station_id": "C", "result": 789, "prediction": [1, 2, 3], "confidence": 0.95},
    ]
    handler_payloads = [u for u in read_memory("MODULE-OUTPUT-LOAD_PREDICTION") if "stations" in u]
    assert [p["station_count"] for p in handler_payloads] == [2]


def test_result_handler_in_the_batch_form_fails_loudly(memory) -> None:
    """The document names its batch handler `result_handler(batch_id, batch_results_list)`; the API
    reference and the deployment guide call it `batch_upload_handler`. Given as `result_handler`, it
    would be called per station: d_a refuses it and names the fix."""
    from d_a import AsyncDataAnalysisService

    async def result_handler(batch_id, batch_results_list):
        pass

    with pytest.raises(TypeError, match="pass a \\(batch_id, results_list\\) handler as batch_upload_handler="):
        AsyncDataAnalysisService(module_name=MODULE_NAME, result_handler=result_handler)


async def test_batch_timeout_attribute(memory) -> None:
    """`service._batch_timeout = 10.0` (the document's configuration) sets the batch timeout; a
    batch missing a station is uploaded after it with the others."""
    from d_a import AsyncDataAnalysisService

    calls = []
    service = AsyncDataAnalysisService(module_name=MODULE_NAME, required_topics=["SCHEDULE-STATION-PARAM"])
    service._batch_timeout = 10.0
    assert service._batch_timeout == 10.0
    service._batch_timeout = 0.3
    await service.start(lambda s, m: {"v": s}, batch_upload_handler=lambda batch_id, results: calls.append(results))
    try:
        assert service.batch_aggregator.batch_timeout == 0.3
        publish_memory("SCHEDULE-STATION-PARAM", [{"stationId": "A"}, {"stationId": "B"}])
        await until(lambda: service.get_service_status()["counters"]["messages"] == 1, timeout=15)
        publish_memory("SCHEDULE-STATION-REALTIME-DATA", realtime_message(["A", "B", "LATE"]))
        await until(lambda: calls, timeout=5)
    finally:
        await service.stop()
    assert calls[0] == [{"station_id": "A", "v": "A"}, {"station_id": "B", "v": "B"}]


async def test_runs_outside_a_batch_fall_back_to_the_result_handler(memory) -> None:
    """'降级处理': data of another topic is no batch: only the per-station result handler runs."""
    from d_a import AsyncDataAnalysisService

    batches, singles = [], []
    service = AsyncDataAnalysisService(module_name="operation_optimization")
    await service.start(
        lambda s, m: {"v": 1},
        result_handler=lambda station_id, module_input, result: singles.append(station_id),
        batch_upload_handler=lambda batch_id, results: batches.append(batch_id),
    )
    try:
        publish_memory("SCHEDULE-DEVICE-METER", {"stationId": "A", "meterPower": 3.0}, key="A")
        await until(lambda: singles, timeout=15)
    finally:
        await service.stop()
    assert singles == ["A"] and batches == []
