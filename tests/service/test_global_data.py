"""Global data (the calendar): in every station's first callback, whether it was published before
the service started or after, with the async and the thread-based service, and again after a
restart (a global reader reads it from the beginning, whatever the group committed)."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
import pytest
from helpers import until, wait_for

from d_a.metrics import ServiceMetrics
from d_a.simulator import StationSimulator

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
CALENDAR = "SCHEDULE-ENVIRONMENT-CALENDAR"
PARAM = "SCHEDULE-STATION-PARAM"


def calendar() -> dict:
    (message,) = StationSimulator(stations=1, topics=[CALENDAR]).initial_messages()
    return orjson.loads(message.value)


def realtime(stations: list[str], hour: str = "2025-11-01 08:00:00") -> dict:
    row = {
        "hostCode": "H1",
        "sendTime": hour,
        "gunPower": {"gunNo": [1], "outputPowerPerGunAvg": [10.0], "outputPowerPerGunMax": [15.0]},
        "outputPowerPerStationAvg": 10.0,
        "outputPowerPerStationMax": 15.0,
    }
    return {"realTimeData": [{"stationId": s, **row} for s in stations]}


def has_calendar(module_input: dict) -> bool:
    return module_input.get("dayOfWeek") is not None and module_input.get("holiday") is not None


async def test_a_calendar_published_before_start_is_in_every_first_callback(transport) -> None:
    await transport.publish(CALENDAR, calendar())
    first: dict[str, dict] = {}
    service = transport.async_service("load_prediction", offset_reset="latest")  # the packaged default
    await service.start(lambda station, data: first.setdefault(station, data))
    try:
        await until(lambda: transport.reading(service), transport.deadline)  # from the end, before what follows
        await transport.publish(REALTIME, realtime(["A", "B", "C"]))
        await until(lambda: len(first) == 3, transport.deadline)
        status = service.get_service_status()
    finally:
        await service.stop()
    calendar_topic = transport.topic(CALENDAR)
    assert all(has_calendar(data) for data in first.values()), first
    assert status["global_topics"][calendar_topic] == {"loaded": True, "messages": 1, "position": 1, "end_offset": 1}
    assert status["messages_per_topic"][calendar_topic] == 1
    scraped = ServiceMetrics(service.get_service_status).registry
    assert scraped.get_sample_value("d_a_global_topic_loaded", {"topic": calendar_topic}) == 1


@pytest.mark.parametrize("calendar_first", [True, False], ids=["calendar-before-start", "calendar-after-start"])
def test_the_thread_based_service_gives_first_callbacks_the_calendar(transport, calendar_first: bool) -> None:
    """Through kafka-python's clients on a broker."""
    sim = StationSimulator(stations=5, history_hours=1, topics=[REALTIME, CALENDAR])
    messages = {m.topic: orjson.loads(m.value) for m in sim.initial_messages()}
    stations = {row["stationId"] for row in messages[REALTIME]["realTimeData"]}
    if calendar_first:
        transport.publish_sync(CALENDAR, messages[CALENDAR])
    first: dict[str, dict] = {}
    service = transport.sync_service("load_prediction", offset_reset="latest")
    service.start(lambda station, data: first.setdefault(station, data))
    try:
        wait_for(lambda: transport.reading(service), transport.deadline)
        if not calendar_first:
            transport.publish_sync(CALENDAR, messages[CALENDAR])
        transport.publish_sync(REALTIME, messages[REALTIME])
        wait_for(lambda: set(first) >= stations, transport.deadline, what=lambda: sorted(first))
        assert service.get_service_status()["global_topics"][transport.topic(CALENDAR)]["loaded"] is True
    finally:
        service.stop()
    assert all(has_calendar(data) for data in first.values()), first


async def test_a_calendar_published_before_a_station_is_in_its_first_callback(transport) -> None:
    today = dt.date.today()
    days = [today + dt.timedelta(days=d) for d in range(-1, 2)]
    calendar = {
        "calendar": [
            {"date": d.isoformat(), "dayOfWeek": d.isoweekday(), "holiday": int(d.weekday() >= 5)} for d in days
        ]
    }
    service = transport.async_service("load_prediction")
    first_inputs = {}

    def model(station_id, module_input):
        first_inputs.setdefault(station_id, module_input)

    await service.start(model)
    try:
        await transport.publish(CALENDAR, calendar)
        await asyncio.sleep(0.2)
        assert first_inputs == {}  # no station yet
        await transport.publish(PARAM, [{"stationId": "LATE", "stationLat": 30.0, "stationLng": 120.0}])
        await until(lambda: "LATE" in first_inputs, transport.deadline)
    finally:
        await service.stop()
    data = first_inputs["LATE"]
    assert (data["date"], data["dayOfWeek"], data["holiday"]) == (
        today.isoformat(),
        today.isoweekday(),
        int(today.weekday() >= 5),
    )


async def test_a_restarted_service_reads_the_committed_calendar_again(transport) -> None:
    first: dict[str, dict] = {}

    def service():
        return transport.async_service("load_prediction", group_id="same-group")

    one = service()
    await one.start(lambda station, data: first.setdefault(station, data))
    try:
        await transport.publish(CALENDAR, calendar())
        await transport.publish(REALTIME, realtime(["BEFORE"]))
        await until(lambda: "BEFORE" in first, transport.deadline)
    finally:
        await one.stop()  # commits what the callbacks have seen
    two = service()
    await two.start(lambda station, data: first.setdefault(station, data))
    try:
        await transport.publish(REALTIME, realtime(["AFTER"], hour="2025-11-01 09:00:00"))
        await until(lambda: "AFTER" in first, transport.deadline)
    finally:
        await two.stop()
    assert has_calendar(first["BEFORE"]) and has_calendar(first["AFTER"])
