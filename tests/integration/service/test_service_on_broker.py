"""The async service through a real broker: at-least-once across an unclean restart, and the
batch upload of document 002 as a consumer of the output topic sees it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson

from d_a.kafka import AsyncKafkaConsumerClient, AsyncKafkaProducerClient
from d_a.service import AsyncDataAnalysisService
from d_a.simulator import StationSimulator
from d_a.topics.fields import parse_time

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
DEADLINE_SECONDS = 60.0  # group joins on a loaded 2-core machine; a hang, not a timing check


async def until(condition: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


async def crash(service: AsyncDataAnalysisService) -> None:
    """Stop like a killed process: no final commit, no batch flush, running callbacks abandoned."""
    assert service.engine is not None
    await service.engine.abort()
    service.engine = None


async def test_every_message_reaches_a_callback_across_an_unclean_restart(kafka_config: dict) -> None:
    topic, group = f"SITE-SEQ-{uuid.uuid4().hex[:8]}", f"restart-{uuid.uuid4().hex[:8]}"
    config = {
        "topics": {topic: {"fields": ["seq"], "modules": ["seq_model"], "window_size": 5000}},
        "module_dependencies": {},
        "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
    }
    seen: set[int] = set()
    running = asyncio.Event()  # cleared: callbacks hang, as a stuck model would when the process dies

    async def model(station_id, module_input):
        await running.wait()
        seen.update(module_input["seq_window"])

    def service() -> AsyncDataAnalysisService:
        return AsyncDataAnalysisService("seq_model", kafka_config=kafka_config, config=config, group_id=group)

    async with AsyncKafkaProducerClient(kafka_config) as producer:

        async def send(seqs: range) -> None:
            await producer.send_many(topic, [(f"S{seq % 7}", {"stationId": f"S{seq % 7}", "seq": seq}) for seq in seqs])

        await send(range(100))  # the topic exists before the first service subscribes
        first = service()
        running.set()
        await first.start(model)
        try:
            await send(range(100, 300))
            await until(lambda: len(seen) >= 200 and first.get_service_status()["offsets_committed"] > 0)
            running.clear()
            await send(range(300, 600))
            await until(lambda: first.get_service_status()["counters"]["messages"] >= 600)
        finally:
            await crash(first)
        before_restart = set(seen)
        await send(range(600, 1000))
        second = service()
        running.set()
        await second.start(model)
        try:
            await until(lambda: seen >= set(range(1000)))
        finally:
            await second.stop()
    assert not before_restart >= set(range(300, 600))  # consumed, but no callback had seen them
    assert seen >= set(range(1000))


async def test_document_002_batch_reaches_the_output_topic_once_without_the_none_station(kafka_config: dict) -> None:
    suffix = uuid.uuid4().hex[:8]
    config = {"module_output_topic_prefix": f"OUT-{suffix}-", "module_output_topics": {}}
    hour = datetime(2031, 1, 1) + timedelta(hours=uuid.uuid4().int % 50_000)  # a batch id no other run has
    sim = StationSimulator(stations=3, history_hours=1, start=hour, topics=[REALTIME])
    (message,) = sim.initial_messages()
    rows = orjson.loads(message.value)["realTimeData"]
    a, b, c = (row["stationId"] for row in rows)
    batch_id = f"{REALTIME}_{int(parse_time(rows[0]['sendTime']))}"

    def model(station_id, module_input):
        return None if station_id == b else {"forecast": [module_input["outputPowerPerStationAvg"]]}

    service = AsyncDataAnalysisService(
        "load_prediction", kafka_config=kafka_config, config=config, group_id=f"batch-{suffix}"
    )
    await service.start(model)
    try:
        async with AsyncKafkaProducerClient(kafka_config) as producer:
            await producer.send(REALTIME, orjson.loads(message.value))
        await until(lambda: service.get_service_status()["counters"]["batches_completed"] >= 1)
    finally:
        await service.stop()

    uploads: list[dict] = []
    async with AsyncKafkaConsumerClient(
        [service.output_topic], kafka_config, group_id=f"reader-{suffix}", decode_json=True
    ) as reader:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not uploads and time.monotonic() < deadline:
            uploads += [m.value for m in await reader.getmany(timeout_ms=500)]
        await asyncio.sleep(0.5)  # a second upload of the batch would have arrived by now
        uploads += [m.value for m in await reader.getmany(timeout_ms=500)]
    ours = [upload for upload in uploads if upload.get("batch_id") == batch_id]
    assert len(ours) == 1, uploads
    (batch,) = ours
    assert (batch["module"], batch["station_count"]) == ("load_prediction", 2)
    by_station = {result["station_id"]: result for result in batch["stations"]}
    assert set(by_station) == {a, c}
    assert by_station[a]["forecast"] == [rows[0]["outputPowerPerStationAvg"]]
    assert by_station[c]["forecast"] == [rows[2]["outputPowerPerStationAvg"]]
