"""`d-a run` as operators use it: a callback by dotted path, /metrics, /health, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from helpers import until, wait_for
from prometheus_client.parser import text_string_to_metric_families

from d_a.kafka import AsyncKafkaProducerClient
from d_a.kafka.broker import free_port
from d_a.metrics import HealthCheck, MetricsServer, ServiceMetrics
from d_a.service import AsyncDataAnalysisService

METER = "SCHEDULE-DEVICE-METER"
JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "auto_offset_reset": "earliest"}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await consumer._client.fetch_all_metadata()
        total = 0
        for partition in partitions.partitions_for_topic(topic) or ():
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


@contextlib.contextmanager
def running(config: Path, callback: str, out: Path, port: int) -> Iterator[subprocess.Popen]:
    """`d-a run` of `callback` (a module in the config's directory, writing to `out`) for the
    block, which must then stop cleanly on SIGTERM; killed if the block failed."""
    env = {
        **os.environ,
        "PYTHONPATH": str(config.parent),
        "D_A_TEST_OUT": str(out),
        "DATA_ANALYSIS_LOG": str(config.parent / "d_a.log"),
    }
    command = [sys.executable, "-m", "d_a.cli", "run", "--config", str(config), "--callback", callback]
    process = subprocess.Popen(
        [*command, "--metrics-port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_processes_stations_serves_metrics_and_commits_on_sigterm(kafka_bootstrap: str, tmp_path) -> None:
    group = f"run-{uuid.uuid4().hex[:8]}"
    (tmp_path / "site_model.py").write_text(
        textwrap.dedent("""
        import os
        MODULE_NAME = "operation_optimization"

        def predict(station_id, module_input):
            with open(os.environ["D_A_TEST_OUT"], "a", encoding="utf-8") as out:
                out.write(station_id + "\\n")
            return {"plan": module_input["meterPower"]}
    """),
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": [kafka_bootstrap], "consumer": {"group_id": group, **JOIN}},
                "offset_commit": {"commit_interval_seconds": 3600, "commit_batch_size": 100000},
            }
        ),
        encoding="utf-8",
    )
    out, port = tmp_path / "calls.txt", free_port()

    async def produce() -> None:
        async with AsyncKafkaProducerClient({"bootstrap_servers": kafka_bootstrap}) as producer:
            for i in range(5):
                await producer.send(METER, {"stationId": f"RUN{group}-{i}", "meterPower": float(i)}, key=f"S{i}")

    asyncio.run(produce())
    with running(config, "site_model:predict", out, port):
        wait_for(lambda: out.exists() and len(set(out.read_text().split())) >= 5, 60, interval=0.1)
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        callbacks = families["d_a_callbacks"].samples[0].value
        consumed = {s.labels["topic"]: s.value for s in families["d_a_messages_consumed"].samples}
        assert callbacks >= 5 and consumed[METER] >= 5
        for delay in ("d_a_end_to_end_latency_seconds", "d_a_data_staleness_seconds"):
            observed = {s.name: s.value for s in families[delay].samples}
            assert observed[f"{delay}_count"] >= 1, delay
        status, body = get(f"http://127.0.0.1:{port}/health")
        assert status == 200 and json.loads(body)["healthy"] is True
        assert asyncio.run(committed_total(kafka_bootstrap, f"{group}.operation_optimization-{METER}", METER)) < 5
    # the final commit on SIGTERM: a restart would not process these messages again
    assert asyncio.run(committed_total(kafka_bootstrap, f"{group}.operation_optimization-{METER}", METER)) >= 5


def test_health_turns_503_while_the_broker_is_down(embedded_broker) -> None:
    async def scenario() -> list[int]:
        service = AsyncDataAnalysisService(
            "operation_optimization",
            kafka_config={"bootstrap_servers": embedded_broker.bootstrap, **JOIN},
            group_id=f"health-{uuid.uuid4().hex[:6]}",
        )
        await service.start(lambda s, d: None)
        metrics = ServiceMetrics(service.get_service_status)
        server = MetricsServer(
            metrics, HealthCheck(service.get_service_status, grace=1.0), free_port(), host="127.0.0.1"
        ).start()
        url = f"http://127.0.0.1:{server.port}/health"
        codes = []
        try:
            codes.append((await asyncio.to_thread(get, url))[0])
            embedded_broker.stop()
            await until(lambda: health_is(url, 503), 40, interval=0.3)
            codes.append(503)
            embedded_broker.start()
            await until(lambda: health_is(url, 200), 40, interval=0.3)
            codes.append(200)
        finally:
            server.stop()
            await service.stop()
        return codes

    async def health_is(url: str, code: int) -> bool:
        return (await asyncio.to_thread(get, url))[0] == code

    assert asyncio.run(scenario()) == [200, 503, 200]


def test_a_restarted_run_restores_its_windows(kafka_bootstrap: str, tmp_path) -> None:
    """`d-a run` with service.state_dir, stopped and started again: the second run's first inputs
    hold the readings of the first run too, `/ready` says when it runs, `d-a state inspect` shows
    the checkpoint in between."""
    group = f"state-{uuid.uuid4().hex[:8]}"
    stations = [f"{group}-{i}" for i in range(3)]
    (tmp_path / "window_model.py").write_text(
        textwrap.dedent("""
        import json, os
        MODULE_NAME = "operation_optimization"

        def predict(station_id, module_input):
            with open(os.environ["D_A_TEST_OUT"], "a", encoding="utf-8") as out:
                out.write(json.dumps([station_id, module_input["meterPower_window"]]) + "\\n")
    """),
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    state_dir = tmp_path / "state"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": [kafka_bootstrap], "consumer": {"group_id": group, **JOIN}},
                "service": {"state_dir": str(state_dir), "checkpoint_interval_seconds": 1.0},
            }
        ),
        encoding="utf-8",
    )

    async def produce(power: float) -> None:
        async with AsyncKafkaProducerClient({"bootstrap_servers": kafka_bootstrap}) as producer:
            for station in stations:
                reading = {"stationId": station, "meterPower": power, "sendTime": f"2026-12-01 10:0{int(power)}:00"}
                await producer.send(METER, reading, key=station)

    def ready(port: int) -> bool:
        try:
            return get(f"http://127.0.0.1:{port}/ready")[0] == 200
        except urllib.error.URLError:  # not listening yet
            return False

    def windows_seen(out) -> dict[str, list]:
        """Each of this test's stations' last window (the topic holds other tests' stations too)."""
        seen: dict[str, list] = {}
        for line in out.read_text().splitlines() if out.exists() else []:
            station, window = json.loads(line)
            if station in stations:
                seen[station] = window
        return seen

    def run_until(out, port, wanted) -> None:
        with running(config, "window_model:predict", out, port):
            wait_for(lambda: ready(port), 60, interval=0.2)
            wait_for(lambda: windows_seen(out) == wanted, 60, interval=0.1, what=lambda: windows_seen(out))

    asyncio.run(produce(1.0))
    run_until(tmp_path / "first.txt", free_port(), dict.fromkeys(stations, [1.0]))
    inspected = subprocess.run(
        [sys.executable, "-m", "d_a.cli", "state", "inspect", "--config", str(config), "--json"],
        capture_output=True,
        check=True,
    )
    checkpoint = json.loads(inspected.stdout)[f"{group}.operation_optimization"]["checkpoint"]
    assert checkpoint["stations"] >= len(stations)  # the topic holds other tests' stations too
    asyncio.run(produce(2.0))
    run_until(tmp_path / "second.txt", free_port(), dict.fromkeys(stations, [1.0, 2.0]))
