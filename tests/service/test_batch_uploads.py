"""Batch uploads: one upload per REALTIME-DATA message with every station's result (document 002),
to a `batch_upload_handler` or, without one, to the module's output topic, once."""

from __future__ import annotations

import asyncio

import orjson
from helpers import until

from d_a.simulator import StationSimulator
from d_a.topics.fields import parse_time

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
PARAM = "SCHEDULE-STATION-PARAM"


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


async def test_document_002_batch_example_one_upload_without_the_none_station(transport) -> None:
    service = transport.async_service("load_prediction", batch_timeout=5.0)
    uploads = []

    def model(station_id, module_input):
        return None if station_id == "B" else {"forecast": [module_input["outputPowerPerStationAvg"]]}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append((batch_id, results)))
    try:
        await transport.publish(REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads, transport.deadline)
        await asyncio.sleep(0.1)
    finally:
        await service.stop()
    ((batch_id, results),) = uploads
    assert batch_id.startswith(transport.topic(REALTIME) + "_")
    assert results == [{"station_id": "A", "forecast": [30.0]}, {"station_id": "C", "forecast": [30.0]}]


async def test_document_002_batch_reaches_the_output_topic_once_without_the_none_station(transport) -> None:
    sim = StationSimulator(stations=3, history_hours=1, topics=[REALTIME])
    (message,) = sim.initial_messages()
    rows = orjson.loads(message.value)["realTimeData"]
    a, b, c = (row["stationId"] for row in rows)
    batch_id = f"{transport.topic(REALTIME)}_{int(parse_time(rows[0]['sendTime']))}"

    def model(station_id, module_input):
        return None if station_id == b else {"forecast": [module_input["outputPowerPerStationAvg"]]}

    service = transport.async_service("load_prediction", group_id="batch")
    await service.start(model)
    try:
        await transport.publish(REALTIME, orjson.loads(message.value))
        await until(lambda: service.get_service_status()["counters"]["batches_completed"] >= 1, transport.deadline)
    finally:
        await service.stop()  # a second upload of the batch would be on the topic by now

    uploads = await transport.values(service.output_topic)
    ours = [upload for upload in uploads if upload.get("batch_id") == batch_id]
    assert len(ours) == 1, uploads
    (batch,) = ours
    assert (batch["module"], batch["station_count"]) == ("load_prediction", 2)
    by_station = {result["station_id"]: result for result in batch["stations"]}
    assert set(by_station) == {a, c}
    assert by_station[a]["forecast"] == [rows[0]["outputPowerPerStationAvg"]]
    assert by_station[c]["forecast"] == [rows[2]["outputPowerPerStationAvg"]]


async def test_a_raising_station_is_left_out_and_counted(transport) -> None:
    service = transport.async_service("load_prediction")
    uploads = []

    async def model(station_id, module_input):
        if station_id == "B":
            raise RuntimeError("model blew up")
        return {"ok": station_id}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        await transport.publish(REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads, transport.deadline)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert [r["station_id"] for r in uploads[0]] == ["A", "C"]
    assert status["counters"]["callback_errors"] == 1
    assert status["errors"].get("RuntimeError", 0) >= 1


async def test_a_station_that_never_reports_is_uploaded_after_the_timeout(transport) -> None:
    service = transport.async_service("load_prediction", batch_timeout=0.3, stop_timeout=0.2)
    uploads = []

    async def model(station_id, module_input):
        if station_id == "C":
            await asyncio.sleep(30)
        return {"ok": True}

    await service.start(model, batch_upload_handler=lambda batch_id, results: uploads.append(results))
    try:
        await transport.publish(REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: uploads, transport.deadline)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert [r["station_id"] for r in uploads[0]] == ["A", "B"]
    assert status["counters"]["batches_timed_out"] == 1


async def test_without_a_handler_batches_and_singles_go_to_the_output_topic(transport) -> None:
    service = transport.async_service("load_prediction")
    assert service.output_topic == transport.topic("MODULE-OUTPUT-LOAD_PREDICTION")
    await service.start(lambda s, data: {"forecast": [1, 2], "station": s})

    async def uploaded(count: int) -> bool:
        return len(await transport.values(service.output_topic)) >= count

    try:
        await transport.publish(REALTIME, realtime(["A", "B"]))
        await until(lambda: uploaded(1), transport.deadline, interval=0.05)
        await transport.publish(PARAM, [{"stationId": "Z", "stationLat": 30.0, "stationLng": 120.0}])
        await until(lambda: uploaded(2), transport.deadline, interval=0.05)
    finally:
        await service.stop()
    messages = await transport.values(service.output_topic)
    batch = next(m for m in messages if "batch_id" in m)
    assert batch["module"] == "load_prediction" and batch["station_count"] == 2
    assert [s["station_id"] for s in batch["stations"]] == ["A", "B"]
    assert batch["stations"][0]["forecast"] == [1, 2]
    single = next(m for m in messages if "batch_id" not in m)
    assert (single["station_id"], single["output"]) == ("Z", {"forecast": [1, 2], "station": "Z"})
