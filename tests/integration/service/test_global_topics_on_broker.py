"""Global topics through a real broker: every station's first callback has the calendar, in multi-
and single-consumer mode, whichever consumer happens to fetch first. The race showed on a fresh
broker with fresh topics, so every repetition starts one. (The calendar's other cases, on both
transports: tests/service/test_global_data.py.)"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from helpers import until

from d_a.kafka import AsyncKafkaProducerClient, EmbeddedBroker
from d_a.service import AsyncDataAnalysisService
from d_a.simulator import StationSimulator

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
CALENDAR = "SCHEDULE-ENVIRONMENT-CALENDAR"
REPETITIONS = 10
DEADLINE_SECONDS = 60.0  # group joins on a loaded 2-core machine; a hang, not a timing check

logger = logging.getLogger(__name__)


def kafka_config(bootstrap: str, multi_consumer_mode: bool) -> dict:
    return {
        "bootstrap_servers": bootstrap,
        "multi_consumer_mode": multi_consumer_mode,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "fetch_max_wait_ms": 50,
        "max_retries": 3,
        "retry_interval": 0.2,
    }


async def create_topics(bootstrap: str, topics: list[str]) -> None:
    """The service's topics exist before it subscribes (consumers find topics created later only
    at their next metadata refresh)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1) for topic in topics])
    finally:
        await admin.close()


async def first_inputs_of_document_002(bootstrap: str, *, multi_consumer_mode: bool, calendar_first: bool) -> dict:
    """Calendar, then a REALTIME-DATA message of five stations (document 002); each station's first input."""
    sim = StationSimulator(stations=5, history_hours=1, topics=[REALTIME, CALENDAR])
    messages = {m.topic: orjson.loads(m.value) for m in sim.initial_messages()}
    stations = {row["stationId"] for row in messages[REALTIME]["realTimeData"]}
    config = kafka_config(bootstrap, multi_consumer_mode)
    service = AsyncDataAnalysisService("load_prediction", kafka_config=config, group_id="first-inputs")
    await create_topics(bootstrap, service.topics)
    first: dict[str, dict] = {}

    def model(station_id: str, module_input: dict) -> None:
        first.setdefault(station_id, module_input)

    async with AsyncKafkaProducerClient(config) as producer:
        if calendar_first:
            await producer.send(CALENDAR, messages[CALENDAR])
        await service.start(model)
        try:
            if not calendar_first:
                await producer.send(CALENDAR, messages[CALENDAR])
            await producer.send(REALTIME, messages[REALTIME])
            await until(lambda: set(first) >= stations, DEADLINE_SECONDS, interval=0.02)
            status = service.get_service_status()
        finally:
            await service.stop()
    assert status["global_topics"][CALENDAR]["messages"] == 1
    return first


@pytest.mark.parametrize("multi_consumer_mode", [True, False], ids=["multi-consumer", "single-consumer"])
async def test_every_first_callback_of_document_002_has_the_calendar_on_fresh_brokers(
    fresh_brokers: Callable[[], EmbeddedBroker], multi_consumer_mode: bool
) -> None:
    began = time.monotonic()
    for repetition in range(REPETITIONS):
        broker = fresh_brokers()
        first = await first_inputs_of_document_002(
            broker.bootstrap, multi_consumer_mode=multi_consumer_mode, calendar_first=repetition % 2 == 0
        )
        broker.close()
        seen = {station: (data["dayOfWeek"], data["holiday"]) for station, data in first.items()}
        assert all(day is not None and holiday is not None for day, holiday in seen.values()), (repetition, seen)
        assert len(set(seen.values())) == 1, (repetition, seen)  # today's row, the same for every station
    logger.info("%d repetitions in %.1f s", REPETITIONS, time.monotonic() - began)
