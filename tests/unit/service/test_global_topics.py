"""Global topics (the calendar) on the in-memory transport: every station's first callback has
them however late the global reader is, and after a reload adds one. (Published before or after
start, and after a restart: tests/service/test_global_data.py, on both transports.)"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import pytest
from helpers import until, wait_for
from service_helpers import publish

from d_a.kafka import (
    AsyncMemoryGlobalReader,
    InMemoryBroker,
    KafkaMessage,
    MemoryGlobalReader,
    MemoryTransport,
    TopicPartition,
)
from d_a.service import AsyncDataAnalysisService, DataAnalysisService
from d_a.simulator import StationSimulator

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
CALENDAR = "SCHEDULE-ENVIRONMENT-CALENDAR"
HOLIDAYS = "SITE-HOLIDAY-NAMES"


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


class LaggingReader(AsyncMemoryGlobalReader):
    """A global reader that fetches `delay` seconds late (a consumer of its own, behind the others),
    or never when `stuck`; it counts the end-offset queries."""

    def __init__(self, topics: list[str], broker: InMemoryBroker, delay: float, stuck: bool) -> None:
        super().__init__(topics, broker)
        self.delay, self.stuck = delay, stuck
        self.queries = 0
        self.query_seconds = 0.0  # how long an end-offset query takes (a broker round trip)

    async def getmany(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        await asyncio.sleep(timeout_ms / 1000 if self.stuck else self.delay)
        return [] if self.stuck else await super().getmany(timeout_ms)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        self.queries += 1
        await asyncio.sleep(self.query_seconds)
        return await super().end_offsets()


class LaggingTransport(MemoryTransport):
    def __init__(self, broker: InMemoryBroker, *, delay: float = 0.3, stuck: bool = False, **options: object) -> None:
        super().__init__(broker, **options)  # type: ignore[arg-type]
        self.delay, self.stuck = delay, stuck
        self.readers: list[LaggingReader] = []

    def async_global_reader(self, topics):  # type: ignore[no-untyped-def]
        self.readers.append(LaggingReader(list(topics), self.broker, self.delay, self.stuck))
        return self.readers[-1]


def has_calendar(module_input: dict) -> bool:
    return module_input.get("dayOfWeek") is not None and module_input.get("holiday") is not None


async def test_a_calendar_published_after_start_reaches_first_callbacks_even_when_its_reader_lags(broker) -> None:
    transport = LaggingTransport(broker, delay=0.3)
    first: dict[str, dict] = {}
    stations = [f"S{i:02d}" for i in range(20)]
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    await service.start(lambda station, data: first.setdefault(station, data))
    try:
        await until(lambda: service.get_service_status()["global_topics"][CALENDAR]["loaded"])
        queries_at_start = transport.readers[0].queries
        publish(broker, CALENDAR, calendar())
        publish(broker, REALTIME, realtime(stations))  # the consumer has it long before the reader
        await until(lambda: len(first) == len(stations))
    finally:
        await service.stop()
    assert all(has_calendar(data) for data in first.values()), [s for s, d in first.items() if not has_calendar(d)]
    assert transport.readers[0].queries - queries_at_start <= 2  # the waiting stations share their query


async def test_more_new_stations_than_workers_all_get_the_calendar_in_few_rounds(broker) -> None:
    """A first run that waits for the global reader gives its worker back (the station is parked
    until the reader's round ends): 40 new stations on 4 workers, with end-offset queries that take
    0.2 s, all have the calendar in their first input, and share a few queries."""
    transport = LaggingTransport(broker, delay=0.3)
    first: dict[str, dict] = {}
    stations = [f"S{i:02d}" for i in range(40)]
    service = AsyncDataAnalysisService("load_prediction", transport=transport, max_workers=4)
    await service.start(lambda station, data: first.setdefault(station, data))
    try:
        await until(lambda: service.get_service_status()["global_topics"][CALENDAR]["loaded"])
        reader = transport.readers[0]
        queries_at_start, reader.query_seconds = reader.queries, 0.2
        publish(broker, CALENDAR, calendar())
        publish(broker, REALTIME, realtime(stations))
        await until(lambda: len(first) == len(stations))
        parked = dict(service.engine.scheduler.parked)
    finally:
        await service.stop()
    assert all(has_calendar(data) for data in first.values()), [s for s, d in first.items() if not has_calendar(d)]
    assert reader.queries - queries_at_start <= 3, reader.queries - queries_at_start
    assert parked == {}


class LaggingSyncReader(MemoryGlobalReader):
    """The blocking global reader, fetching 0.3 s late."""

    def poll(self, timeout_ms: int = 1000) -> list[KafkaMessage]:
        time.sleep(0.3)
        return super().poll(timeout_ms)


class LaggingSyncTransport(MemoryTransport):
    def global_reader(self, topics):  # type: ignore[no-untyped-def]
        return LaggingSyncReader(topics, self.broker)


def test_the_thread_based_service_waits_for_a_lagging_calendar_too(broker) -> None:
    first: dict[str, dict] = {}
    service = DataAnalysisService("load_prediction", transport=LaggingSyncTransport(broker))
    service.start(lambda station, data: first.setdefault(station, data))
    try:
        wait_for(lambda: service.get_service_status()["global_topics"][CALENDAR]["loaded"])
        publish(broker, CALENDAR, calendar())
        publish(broker, REALTIME, realtime(["A", "B"]))
        wait_for(lambda: len(first) == 2)
    finally:
        service.stop()
    assert all(has_calendar(data) for data in first.values()), first


async def test_a_bootstrap_that_times_out_is_logged_and_stations_then_run(broker, caplog) -> None:
    publish(broker, CALENDAR, calendar())
    first: dict[str, dict] = {}
    service = AsyncDataAnalysisService(
        "load_prediction", transport=LaggingTransport(broker, stuck=True), global_bootstrap_timeout=0.3
    )
    with caplog.at_level(logging.WARNING, logger="d_a.service"):
        await service.start(lambda station, data: first.setdefault(station, data))
        try:
            publish(broker, REALTIME, realtime(["A"]))
            await until(lambda: "A" in first)
            status = service.get_service_status()
        finally:
            await service.stop()
    assert not has_calendar(first["A"])  # it ran without: the reader never got the calendar
    warning = next(r.getMessage() for r in caplog.records if "global_bootstrap_timeout" in r.getMessage())
    assert CALENDAR in warning and "at 0/1" in warning
    assert status["global_topics"][CALENDAR]["loaded"] is False


async def test_a_global_topic_added_by_reload_config_is_bootstrapped(broker) -> None:
    transport = LaggingTransport(broker, delay=0.3, auto_offset_reset="latest")
    inputs: list[dict] = []
    service = AsyncDataAnalysisService("load_prediction", transport=transport)
    await service.start(lambda station, data: inputs.append(data))
    try:
        publish(broker, REALTIME, realtime(["A"]))
        await until(lambda: inputs)
        publish(broker, HOLIDAYS, {"holidayName": "Spring Festival"})  # before the service knows the topic
        document = service.config.legacy()
        document["TOPIC_DETAIL"][HOLIDAYS] = {
            "fields": ["holidayName"],
            "modules": ["load_prediction"],
            "scope": "global",
            "kind": "latest",
            "window_size": 1,
        }
        await service.reload_config(document)
        runs_before = len(inputs)
        publish(broker, REALTIME, realtime(["A"], hour="2025-11-01 09:00:00"))
        await until(lambda: len(inputs) > runs_before)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert inputs[runs_before]["holidayName"] == "Spring Festival"
    assert status["global_topics"][HOLIDAYS]["loaded"] is True


@pytest.mark.parametrize("topics", [[CALENDAR], [CALENDAR, REALTIME]])
def test_only_a_service_with_station_topics_reads_global_topics_apart(topics) -> None:
    service = AsyncDataAnalysisService(topics=topics, transport="memory")
    expected = (CALENDAR,) if len(topics) > 1 else ()
    assert service.options.engine.global_topics == expected
