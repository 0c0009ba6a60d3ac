"""Crash at random points: `d-a run` killed with SIGKILL at random moments while it fetches, runs
callbacks, uploads and commits, restarted each time. Against what was produced: every message's
data reached a callback at least once, and every REALTIME-DATA batch was uploaded at least once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import yaml
from conftest import report, scale
from helpers import wait_for

from d_a.cli.dead_letters import read_to_end
from d_a.kafka import AsyncKafkaProducerClient
from d_a.kafka.cluster import KafkaTransport
from d_a.topics.fields import parse_time

SEQ = "SITE-SEQ"
REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
OUTPUT = "MODULE-OUTPUT-CRASH_MODEL"
STATIONS = [f"S{i}" for i in range(5)]
JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "auto_offset_reset": "earliest"}
MODEL = """
import os, random, time

MODULE_NAME = "crash_model"
_written = {}


def predict(station_id, module_input):
    seqs = module_input.get("seq_window") or []
    new = seqs[_written.get(station_id, 0):]
    _written[station_id] = len(seqs)
    if new:
        line = (station_id + " " + " ".join(str(s) for s in new) + "\\n").encode()
        fd = os.open(os.environ["D_A_TEST_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    time.sleep(random.random() * 0.01)  # a callback is often running when the process dies
    return {"seen": len(seqs)}
"""


def realtime_message(at: datetime) -> dict:
    send_time = at.strftime("%Y-%m-%d %H:%M:%S")
    records = [
        {
            "stationId": station,
            "hostCode": f"H{station}",
            "sendTime": send_time,
            "gunPower": {"gunNo": [1, 2], "outputPowerPerGunAvg": [10.0, 20.0], "outputPowerPerGunMax": [15.0, 25.0]},
            "outputPowerPerStationAvg": 30.0,
            "outputPowerPerStationMax": 40.0,
        }
        for station in STATIONS
    ]
    return {"realTimeData": records}


class Feeder(threading.Thread):
    """Produces the seq messages and a REALTIME-DATA message a second, at a steady pace."""

    def __init__(self, bootstrap: str, messages: int, seconds: float) -> None:
        super().__init__(name="crash-feeder", daemon=True)
        self.bootstrap, self.messages, self.seconds = bootstrap, messages, seconds
        self.batch_ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._feed())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    async def _feed(self) -> None:
        start = datetime(2025, 11, 1, 0, 0, 0)
        per_second = max(1, int(self.messages / self.seconds))
        async with AsyncKafkaProducerClient({"bootstrap_servers": self.bootstrap}) as producer:
            seq, second = 0, 0
            while seq < self.messages:
                tick = time.monotonic()
                at = start + timedelta(seconds=second)
                await producer.send(REALTIME, realtime_message(at))
                self.batch_ids.append(f"{REALTIME}_{int(parse_time(at.strftime('%Y-%m-%d %H:%M:%S')))}")
                chunk = range(seq, min(self.messages, seq + per_second))
                await producer.send_many(
                    SEQ, [(STATIONS[s % 5], {"stationId": STATIONS[s % 5], "seq": s}) for s in chunk]
                )
                seq, second = chunk.stop, second + 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def write_setup(tmp_path: Path, bootstrap: str) -> Path:
    (tmp_path / "crash_model.py").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    config = {
        "kafka": {"bootstrap_servers": [bootstrap], "consumer": {"group_id": "crash", **JOIN}},
        "topics": {
            SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["crash_model"], "window_size": 100_000},
            REALTIME: {
                "kind": "replace",
                "defines_batch": True,
                "envelope": "realTimeData",
                "parser": "realtime_data",
                "fields": ["stationId", "hostCode", "gunNo", "outputPowerPerGunAvg", "outputPowerPerStationAvg"],
                "modules": ["crash_model"],
            },
        },
        "module_dependencies": {},
        "module_output_topics": {"crash_model": OUTPUT},
        "offset_commit": {"commit_interval_seconds": 0.2, "commit_batch_size": 20},
        "service": {"batch_timeout": 2.0, "stop_timeout": 10.0},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def start_service(tmp_path: Path, config: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "D_A_TEST_OUT": str(out), "DATA_ANALYSIS_LOG": str(log)}
    command = [sys.executable, "-m", "d_a.cli", "run", "--config", str(config), "--callback", "crash_model:predict"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lines(out: Path) -> int:
    return len(out.read_text().splitlines()) if out.exists() else 0


def seen_seqs(out: Path) -> set[int]:
    if not out.exists():
        return set()
    return {int(s) for line in out.read_text().splitlines() for s in line.split()[1:]}


def started_count(log: Path) -> int:
    return log.read_text(errors="replace").count("service started") if log.exists() else 0


def uploaded_batches(bootstrap: str) -> set[str]:
    async def read() -> list:
        async with KafkaTransport({"bootstrap_servers": bootstrap}).async_global_reader([OUTPUT]) as reader:
            return (await read_to_end(reader, 60))[0]

    values = [orjson.loads(m.raw) for m in asyncio.run(read())]
    return {v["batch_id"] for v in values if "batch_id" in v}  # single results have none


def test_sigkill_at_random_moments_loses_nothing(embedded_broker, tmp_path: Path) -> None:
    # the feed outlasts the kills: a restarted service shows it runs by new callbacks
    kills, messages, seconds = scale(2, 10), scale(2_000, 30_000), scale(20.0, 150.0)
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    bootstrap = embedded_broker.bootstrap
    config, out, log = write_setup(tmp_path, bootstrap), tmp_path / "seen.txt", tmp_path / "d_a.log"
    feeder = Feeder(bootstrap, messages, seconds)
    feeder.start()
    recoveries: list[float] = []
    process = start_service(tmp_path, config, out, log)
    try:
        for kill in range(kills):
            wait_for(lambda kill=kill: started_count(log) > kill, 60, interval=0.05, what="the service to start")
            before = lines(out)
            wait_for(lambda before=before: lines(out) > before, 60, interval=0.05, what="a callback after a start")
            time.sleep(rng.uniform(0.1, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            killed_at = time.monotonic()
            process = start_service(tmp_path, config, out, log)
            count = lines(out)
            with contextlib.suppress(AssertionError):  # no callback in time: no recovery figure
                wait_for(lambda count=count: lines(out) > count, 60, interval=0.05)
                recoveries.append(time.monotonic() - killed_at)
        feeder.join(seconds + 60)
        assert feeder.error is None, feeder.error
        everything = set(range(messages))
        wait_for(
            lambda: seen_seqs(out) >= everything,
            120,
            interval=0.05,
            what=lambda: f"never seen: {sorted(everything - seen_seqs(out))[:20]}",
        )
        wait_for(lambda: uploaded_batches(bootstrap) >= set(feeder.batch_ids), 60, interval=0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    missing_batches = set(feeder.batch_ids) - uploaded_batches(bootstrap)
    assert not missing_batches
    report(
        "crash (SIGKILL)",
        seed=seed,
        messages=messages,
        batches=len(feeder.batch_ids),
        kills=kills,
        lost=len(set(range(messages)) - seen_seqs(out)),
        recovery_seconds="/".join(f"{r:.1f}" for r in recoveries),
    )
