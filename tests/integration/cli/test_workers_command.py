"""`d-a run --workers 2` as operators use it: two worker processes sharing one module's stations,
one /metrics with a `worker` label, /health that notices a killed worker and its restart, and a
SIGTERM that stops every worker."""

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
from helpers import wait_for
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from d_a.kafka import AsyncKafkaProducerClient
from d_a.kafka.broker import free_port

JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "auto_offset_reset": "earliest"}
STATIONS = [f"W{n:03d}" for n in range(8)]


def get(url: str) -> tuple[int, bytes] | None:
    """Status and body; None while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError):
        return None


def health(port: int) -> tuple[int, dict] | None:
    answer = get(f"http://127.0.0.1:{port}/health")
    return None if answer is None else (answer[0], json.loads(answer[1]))


def per_worker(port: int, family: str) -> dict[str, float]:
    """The samples of one family of the supervisor's /metrics, by worker label (summed)."""
    answer = get(f"http://127.0.0.1:{port}/metrics")
    assert answer is not None and answer[0] == 200
    totals: dict[str, float] = {}
    for metric in text_string_to_metric_families(answer[1].decode()):
        if metric.name == family:
            for sample in metric.samples:
                totals[sample.labels["worker"]] = totals.get(sample.labels["worker"], 0.0) + sample.value
    return totals


def is_worker(pid: int) -> bool:
    """Whether `pid` is still one of this test's `d-a run` processes (not a reused pid)."""
    try:
        return b"d_a.cli" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextlib.contextmanager
def supervisor(tmp_path: Path, config: Path, port: int, pids: set[int]) -> Iterator[subprocess.Popen]:
    """`d-a run --workers 2` for the block; on failure it and every worker in `pids` are killed."""
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DATA_ANALYSIS_LOG": str(tmp_path / "d_a.log")}
    command = [sys.executable, "-m", "d_a.cli", "run", "--config", str(config), "--callback", "site_model:predict"]
    output = (tmp_path / "output.txt").open("wb")  # not a pipe: three processes log into it unread
    process = subprocess.Popen(
        [*command, "--workers", "2", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    except BaseException:
        print((tmp_path / "output.txt").read_text(errors="replace"))
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids:
            if is_worker(pid):
                os.kill(pid, signal.SIGKILL)
        output.close()


def test_two_workers_share_a_module_and_come_back_after_a_kill(kafka_bootstrap: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    topic, group = f"WORKERS-{tag}", f"workers-{tag}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    (tmp_path / "site_model.py").write_text(
        textwrap.dedent("""
        MODULE_NAME = "site_model"

        def predict(station_id, module_input):
            return None
    """),
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": [kafka_bootstrap], "consumer": {"group_id": group, **JOIN}},
                "topics": {topic: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["site_model"]}},
                "module_dependencies": {},
                "service": {"scale_out": True, "restore_horizon_seconds": 3600},
            }
        ),
        encoding="utf-8",
    )

    async def produce() -> None:
        async with AsyncKafkaProducerClient({"bootstrap_servers": kafka_bootstrap}) as producer:
            for n, station in enumerate(STATIONS):
                await producer.send(topic, {"stationId": station, "seq": n}, key=station)

    asyncio.run(produce())
    port, pids = free_port(), set()

    def workers() -> list[dict]:
        answer = health(port)
        found = answer[1]["workers"] if answer else []
        pids.update(w["pid"] for w in found if w["pid"])
        return found

    def healthy() -> bool:
        answer = health(port)
        workers()
        return answer is not None and answer[0] == 200

    with supervisor(tmp_path, config, port, pids) as process:
        wait_for(healthy, 60, interval=0.2, what=lambda: health(port))
        first = {w["worker"]: w["pid"] for w in workers()}
        assert sorted(first) == [0, 1] and all(first.values())

        # every station ran once, on one worker or the other; both workers are scraped
        wait_for(lambda: sum(per_worker(port, "d_a_callbacks").values()) >= len(STATIONS), 60, interval=0.2)
        assert set(per_worker(port, "d_a_callbacks")) == {"0", "1"}
        assert set(per_worker(port, "d_a_callback_duration_seconds")) == {"0", "1"}

        os.kill(first[1], signal.SIGKILL)
        wait_for(lambda: health(port)[0] == 503, 30, interval=0.1)  # noticed before it came back

        def restarted() -> bool:
            again = {w["worker"]: w for w in workers()}[1]
            return again["restarts"] == 1 and again["healthy"] and again["pid"] != first[1]

        wait_for(restarted, 60, interval=0.2, what=lambda: health(port))
        wait_for(healthy, 60, interval=0.2, what=lambda: health(port))
        assert {w["worker"]: w["restarts"] for w in workers()} == {0: 0, 1: 1}
        assert first[0] in pids and len(pids) == 3

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert not [pid for pid in pids if is_worker(pid)]
