"""A model served by a service tells which gun each status column is, and each topic's host,
although REALTIME-DATA, DEVICE-GUN and CAR-ORDER all carry `gunNo` and `hostCode`."""

from __future__ import annotations

import orjson
from helpers import until

from d_a import AsyncDataAnalysisService
from d_a.simulator import StationSimulator

REALTIME, GUN, ORDER = "SCHEDULE-STATION-REALTIME-DATA", "SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-ORDER"


def newest_per_gun(guns: list, table: list[list]) -> dict:
    """Each gun's newest reported value in an aligned table (a row per 15-second slot)."""
    return {gun: next((row[i] for row in reversed(table) if row[i] is not None), None) for i, gun in enumerate(guns)}


def model(station_id: str, data: dict) -> dict:
    """Reads gun status by gun number, through the per-topic view and the table's own key order."""
    guns = data["_topics"][GUN]
    return {
        "status": newest_per_gun(guns["gunNo"], guns["status_window"]),
        "status_flat": newest_per_gun(data["status_gunNo"], data["status_window"]),
        "realtime_guns": data["gunNo"],
        "hosts": {topic: view["hostCode"] for topic, view in data["_topics"].items() if "hostCode" in view},
    }


async def test_a_model_reads_gun_status_by_gun_number_and_each_topics_host() -> None:
    sim = StationSimulator(stations=1, seed=3, history_hours=2, topics=(REALTIME, GUN, ORDER))
    messages = []
    for message in sim.initial_messages() + sim.advance(11):  # gun 4 has not reported yet
        value = orjson.loads(message.value)
        if message.topic in (GUN, ORDER) and value["gunNo"] in (3, 4):
            value["hostCode"] = "H0002"  # guns 3 and 4 sit on the station's second host
        messages.append((message.topic, message.key, value))
    status = {value["gunNo"]: value["status"] for topic, _, value in messages if topic == GUN}
    newest = {topic: value for topic, _, value in messages if topic != REALTIME}
    hosts = {
        "SCHEDULE-STATION-PARAM": None,  # no station parameters sent: the flat hostCode is empty
        REALTIME: "H0001",
        GUN: newest[GUN]["hostCode"],
        ORDER: newest[ORDER]["hostCode"],
        "SCHEDULE-DEVICE-HOST-DCDC": None,
        "SCHEDULE-DEVICE-HOST-ACDC": None,
    }
    assert sorted(status) == [1, 2, 3] and hosts[GUN] != hosts[ORDER]

    results: list[dict] = []
    service = AsyncDataAnalysisService("operation_optimization", transport="memory")
    await service.start(lambda station, data: results.append(model(station, data)))
    try:
        for topic, key, value in messages:
            service.transport.broker.produce(topic, orjson.dumps(value), key=key)
        await until(lambda: any(r["status"] == status and r["hosts"] == hosts for r in results))
    finally:
        await service.stop()
    seen = next(r for r in results if r["status"] == status and r["hosts"] == hosts)
    assert seen["status_flat"] == status
    assert seen["realtime_guns"] == [1, 2, 3, 4]  # REALTIME-DATA's gun order, not the status columns'
