"""Broker restart under load: the embedded broker stopped and started on the same port while the
service consumes and uploads. No crash, /health 503 then 200, recovery time printed, nothing lost.

The embedded broker keeps its data in memory, so a restart empties it: what it had acknowledged
but no callback had seen yet is produced again after the restart (a Kafka cluster keeps it). It
also refuses commits of offsets its lost log had (UnknownTopicOrPartition, retried by aiokafka
until d_a's commit timeout): commits are tried once per round here, so the stop is quick.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

from conftest import report, scale
from helpers import until

from d_a import AsyncDataAnalysisService
from d_a.kafka import AsyncKafkaProducerClient
from d_a.kafka.broker import free_port
from d_a.metrics import HealthCheck, MetricsServer, ServiceMetrics

SEQ = "SITE-SEQ"
STATIONS = [f"S{i}" for i in range(10)]
WAIT = 90.0  # seconds: a hang guard (group joins and reconnects on a loaded machine)
# The restarted broker's partitions start empty at offset 0, while the consumer's position is where
# it was. Nothing is produced until the consumer had time to rejoin the group and find that
# position out of range (then it reads the new log from its start): data produced sooner could
# take the new log past the old position, and the consumer would skip what lies before it. Kafka
# keeps its log, so this wait is the embedded broker's, not d_a's.
REJOIN_SECONDS = 6.0  # the session timeout below
CONFIG = {
    "topics": {SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 100_000}},
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.2, "max_commit_retries": 0},
}


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


async def test_broker_restart_under_load(embedded_broker) -> None:
    messages, rate = scale(2_000, 60_000), scale(300, 1_000)
    bootstrap = embedded_broker.bootstrap
    kafka = {
        "bootstrap_servers": bootstrap,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_retries": 2,
        "retry_interval": 0.2,
    }
    seen: set[int] = set()
    acked: list[int] = []
    service = AsyncDataAnalysisService("seq_model", kafka_config=kafka, config=CONFIG, group_id="restart")
    await service.start(lambda station, data: seen.update(data["seq_window"]))
    server = MetricsServer(
        ServiceMetrics(service.get_service_status),
        HealthCheck(service.get_service_status, grace=1.0),
        free_port(),
        "127.0.0.1",
    ).start()
    url = f"http://127.0.0.1:{server.port}/health"

    producing = asyncio.Event()  # cleared while the broker restarts (see REJOIN_SECONDS)
    producing.set()

    async def feed(producer: AsyncKafkaProducerClient) -> None:
        """Steady `rate` messages a second; a send that fails is tried again until the broker takes it."""
        for start in range(0, messages, rate // 10):
            tick = time.monotonic()
            chunk = range(start, min(messages, start + rate // 10))
            while True:
                await producing.wait()
                try:
                    await producer.send_many(
                        SEQ, [(STATIONS[s % 10], {"stationId": STATIONS[s % 10], "seq": s}) for s in chunk]
                    )
                    break
                except Exception:  # noqa: BLE001 - the broker is down: try again
                    await asyncio.sleep(0.2)
            acked.extend(chunk)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

    async def health_is(code: int) -> bool:
        return await asyncio.to_thread(health, url) == code

    try:
        async with AsyncKafkaProducerClient(kafka) as producer:
            feeding = asyncio.create_task(feed(producer))
            await until(lambda: len(seen) >= messages // 4, WAIT, interval=0.1)
            assert await health_is(200)
            producing.clear()
            stopped_with = set(acked)
            embedded_broker.stop()
            to_503 = await until(lambda: health_is(503), WAIT, interval=0.1)
            restart_at = time.monotonic()
            embedded_broker.start()
            to_200 = await until(lambda: health_is(200), WAIT, interval=0.1)
            await asyncio.sleep(REJOIN_SECONDS)
            lost = sorted(stopped_with - seen)  # acknowledged by the broker that forgot them, not seen yet
            for start in range(0, len(lost), 500):
                part = lost[start : start + 500]
                await producer.send_many(
                    SEQ, [(STATIONS[s % 10], {"stationId": STATIONS[s % 10], "seq": s}) for s in part]
                )
            producing.set()
            first_new = len(seen)
            await until(lambda: len(seen) > first_new, WAIT, interval=0.1)
            to_callbacks = time.monotonic() - restart_at
            await feeding
            await until(lambda: seen >= set(range(messages)), 120, interval=0.1)
        status = service.get_service_status()
    finally:
        server.stop()
        await service.stop()
    assert status["main_loop_alive"] and status["counters"]["callback_errors"] == 0
    report(
        "broker restart under load",
        messages=messages,
        rate_per_s=rate,
        health_503_after_s=f"{to_503:.1f}",
        health_200_after_restart_s=f"{to_200:.1f}",
        callbacks_after_restart_s=f"{to_callbacks:.1f}",
        reproduced_after_restart=len(lost),
        lost=len(set(range(messages)) - seen),
    )
