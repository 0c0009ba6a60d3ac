"""Slow or failing outputs: a `batch_upload_handler` or a producer that fails for a while. The
batches are kept and tried again, the messages that opened them stay uncommitted meanwhile, and
every batch is handed over in the end with every station's result."""

from __future__ import annotations

import asyncio

import orjson
from conftest import report
from helpers import until

from d_a import AsyncDataAnalysisService
from d_a.kafka import InMemoryBroker, MemoryTransport, TopicPartition

BATCHES = "SITE-BATCH"
OUTPUT = "MODULE-OUTPUT-BATCH_MODEL"
STATIONS = [f"S{i}" for i in range(5)]
CONFIG = {
    "topics": {
        BATCHES: {
            "kind": "replace",
            "defines_batch": True,
            "envelope": "records",
            "fields": ["stationId", "v"],
            "modules": ["batch_model"],
        }
    },
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 1},
    "service": {"batch_timeout": 5.0},
}


def publish_batch(broker: InMemoryBroker, second: int) -> None:
    send_time = f"2025-11-01 00:00:{second:02d}"
    records = [{"stationId": s, "v": second, "sendTime": send_time} for s in STATIONS]
    broker.produce(BATCHES, orjson.dumps({"records": records}), key=b"all")


def committed(broker: InMemoryBroker, group: str) -> int | None:
    (partition,) = [p for p, end in broker.end_offsets(BATCHES).items() if end]
    return broker.committed(group, TopicPartition(BATCHES, partition))


async def test_a_failing_batch_handler_loses_nothing_and_holds_the_offsets() -> None:
    broker = InMemoryBroker()
    handed: dict[str, list] = {}
    failures = 0
    failing = True

    async def handler(batch_id: str, results: list) -> None:
        nonlocal failures
        if failing:
            failures += 1
            raise ConnectionError("the results store is down")
        handed[batch_id] = results

    service = AsyncDataAnalysisService("batch_model", transport=MemoryTransport(broker), config=CONFIG, group_id="h")
    await service.start(lambda station, data: {"v": data["v"]}, batch_upload_handler=handler)
    try:
        for second in range(3):
            publish_batch(broker, second)
        await until(
            lambda: failures >= 3 and service.get_service_status()["batches_waiting_retry"] == 3, 30, interval=0.02
        )
        await asyncio.sleep(1.0)  # commits every 0.05 s: none may pass a batch not handed over
        held_at = committed(broker, "h")
        assert held_at in (None, 0), held_at
        failing = False
        recovery = await until(lambda: len(handed) == 3 and committed(broker, "h") == 3, 30, interval=0.02)
        status = service.get_service_status()
    finally:
        await service.stop()
    assert all(sorted(r["station_id"] for r in results) == STATIONS for results in handed.values())
    assert status["batches_waiting_retry"] == 0 and status["counters"]["upload_errors"] == failures
    report("failing batch handler", batches=3, failed_attempts=failures, recovered_in_s=f"{recovery:.1f}", lost=0)


async def test_an_output_topic_that_fails_for_a_while_gets_every_batch() -> None:
    broker = InMemoryBroker()
    service = AsyncDataAnalysisService("batch_model", transport=MemoryTransport(broker), config=CONFIG, group_id="p")
    await service.start(lambda station, data: {"v": data["v"]})
    try:
        broker.fail_produces(OUTPUT, 10**9)
        for second in range(3):
            publish_batch(broker, second)
        await until(lambda: service.get_service_status()["batches_waiting_retry"] == 3, 30, interval=0.02)
        await asyncio.sleep(1.5)  # a retry fails meanwhile
        assert committed(broker, "p") in (None, 0)
        broker.fail_produces(OUTPUT, 0)

        def uploaded() -> set[str]:
            return {m.value["batch_id"] for m in broker.messages(OUTPUT)}

        recovery = await until(lambda: len(uploaded()) == 3 and committed(broker, "p") == 3, 30, interval=0.02)
    finally:
        await service.stop()
    for message in broker.messages(OUTPUT):
        assert sorted(r["station_id"] for r in message.value["stations"]) == STATIONS
    report("failing output topic", batches=3, recovered_in_s=f"{recovery:.1f}", lost=0)
