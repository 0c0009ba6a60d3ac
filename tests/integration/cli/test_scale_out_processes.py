"""Scale-out across processes, as operators run it: `d-a run` processes of one consumer group share
a module's stations, fed by a producer that keys by station and one that keys nothing. One is
killed (SIGKILL) mid-stream: its stations run on the others within a measured time. One is added:
stations move to it, and once the group has settled no station runs in two processes. Every
message reaches a callback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from helpers import until
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from d_a.kafka import AsyncKafkaProducerClient
from d_a.kafka.broker import free_port
from d_a.kafka.slots import slot_of

SLOTS = 6
STATIONS = [f"P{n:03d}" for n in range(12)]
DEADLINE = 90.0  # a hang guard for each wait, not a timing check
MODEL = """
    import json, os, threading, time

    MODULE_NAME = "site_model"
    _lock = threading.Lock()
    _out = open(os.path.join(os.environ["RUNS_DIR"], f"runs-{os.getpid()}.jsonl"), "a", encoding="utf-8")

    def predict(station_id, module_input):
        line = {"pid": os.getpid(), "t": time.time(), "station": station_id,
                "seq": module_input.get("seq_window") or [], "useq": module_input.get("useq_window") or []}
        with _lock:
            _out.write(json.dumps(line) + "\\n")
            _out.flush()
"""


@dataclass
class Run:
    pid: int
    t: float
    station: str
    seq: list[int]
    useq: list[int]


@dataclass
class Group:
    """The processes of the test and what their callbacks saw."""

    tmp_path: Path
    config: Path
    processes: dict[int, tuple[subprocess.Popen, int]] = field(default_factory=dict)  # pid -> (process, port)

    def start(self) -> int:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(self.tmp_path), "RUNS_DIR": str(self.tmp_path)}
        env["DATA_ANALYSIS_LOG"] = str(self.tmp_path / f"d_a-{len(self.processes)}.log")
        output = (self.tmp_path / f"output-{len(self.processes)}.txt").open("wb")
        command = [sys.executable, "-m", "d_a.cli", "run", "--config", str(self.config)]
        command += ["--callback", "site_model:predict", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        output.close()
        self.processes[process.pid] = (process, port)
        return process.pid

    def alive(self) -> dict[int, int]:
        return {pid: port for pid, (process, port) in self.processes.items() if process.poll() is None}

    def runs(self) -> list[Run]:
        found = []
        for path in self.tmp_path.glob("runs-*.jsonl"):
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    found.append(Run(**json.loads(line)))
        return found

    def owned(self) -> dict[int, set[int]]:
        """Per live process, the slots its /metrics says it owns (a process not answering: none)."""
        return {pid: _owned_slots(port) for pid, port in self.alive().items()}

    def close(self) -> None:
        for process, _ in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _owned_slots(port: int) -> set[int]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return set()
    return {
        int(sample.labels["slot"])
        for metric in text_string_to_metric_families(text)
        if metric.name == "d_a_owned_slot"
        for sample in metric.samples
    }


class Feed:
    """Sends one keyed and one unkeyed message every 20 ms, for the stations in turn."""

    def __init__(self, bootstrap: str, keyed: str, unkeyed: str) -> None:
        self.producer = AsyncKafkaProducerClient({"bootstrap_servers": bootstrap})
        self.keyed, self.unkeyed = keyed, unkeyed
        self.sent = 0
        self._task: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            station = STATIONS[self.sent % len(STATIONS)]
            await self.producer.send(self.keyed, {"stationId": station, "seq": self.sent}, key=station)
            await self.producer.send(self.unkeyed, {"stationId": station, "useq": self.sent})
            self.sent += 1
            await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Feed]:
        await self.producer.start()
        self._task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            await self.stop()
            await self.producer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _settled(group: Group) -> bool:
    """Every slot owned by exactly one live process."""
    owned = group.owned()
    slots = [slot for found in owned.values() for slot in found]
    return sorted(slots) == list(range(SLOTS))


def test_processes_share_stations_survive_a_kill_and_take_in_a_newcomer(kafka_bootstrap: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    keyed, unkeyed, group_id = f"SEQ-{tag}", f"USEQ-{tag}", f"procs-{tag}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(t, num_partitions=SLOTS, replication_factor=1) for t in (keyed, unkeyed)])
    finally:
        admin.close()
    (tmp_path / "site_model.py").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    window = {"window_size": 100_000, "modules": ["site_model"]}
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": [kafka_bootstrap],
                    "consumer": {
                        "group_id": group_id,
                        "auto_offset_reset": "earliest",
                        "session_timeout_ms": 6000,
                        "heartbeat_interval_ms": 1000,
                        "fetch_max_wait_ms": 50,
                    },
                },
                "topics": {
                    keyed: {"fields": ["seq"], "types": {"seq": "integer"}, "keyed_by_station": True, **window},
                    unkeyed: {"fields": ["useq"], "types": {"useq": "integer"}, **window},
                },
                "module_dependencies": {},
                "service": {"scale_out": True, "restore_horizon_seconds": 3600, "configure_logging": False},
            }
        ),
        encoding="utf-8",
    )
    group = Group(tmp_path, config)
    try:
        asyncio.run(_scenario(group, kafka_bootstrap, keyed, unkeyed))
    except BaseException:
        for output in sorted(tmp_path.glob("output-*.txt")):
            print(output.name, output.read_text(errors="replace")[-4000:])
        raise
    finally:
        group.close()


async def _scenario(group: Group, bootstrap: str, keyed: str, unkeyed: str) -> None:
    for _ in range(3):
        group.start()
    feed = Feed(bootstrap, keyed, unkeyed)
    async with feed.running():
        await until(lambda: _settled(group), DEADLINE, interval=0.2, what=group.owned)
        await until(lambda: {r.station for r in group.runs()} >= set(STATIONS), DEADLINE, interval=0.2)

        # killed: its stations run on the others, and how soon is measured
        victim = max(group.owned().items(), key=lambda item: len(item[1]))[0]
        lost = {s for s in STATIONS if slot_of(s, SLOTS) in group.owned()[victim]}
        group.processes[victim][0].send_signal(signal.SIGKILL)
        killed_at = time.time()

        def elsewhere() -> dict[str, float]:
            return {r.station: r.t for r in group.runs() if r.pid != victim and r.t > killed_at and r.station in lost}

        await until(lambda: set(elsewhere()) == lost, DEADLINE, interval=0.2, what=lambda: sorted(elsewhere()))
        moved_after = max(elsewhere().values()) - killed_at
        print(f"stations of the killed process ran on the others {moved_after:.1f} s after the kill")

        # added: stations move to it; once settled each station runs in its slot's owner only
        newcomer = group.start()
        await until(lambda: group.owned().get(newcomer) and _settled(group), DEADLINE, interval=0.2, what=group.owned)
        owners = {slot: pid for pid, slots in group.owned().items() for slot in slots}
        settled_at = time.time() + 1.0  # callbacks running at the hand-over finish meanwhile
        await asyncio.sleep(6.0)
        assert group.owned() == {pid: {s for s, p in owners.items() if p == pid} for pid in group.alive()}
    sent = feed.sent
    after = [r for r in group.runs() if r.t > settled_at]
    assert {r.station for r in after} == set(STATIONS)
    for run in after:
        assert run.pid == owners[slot_of(run.station, SLOTS)], (run.station, run.pid, owners)
    assert any(r.pid == newcomer for r in after)

    def seen() -> tuple[set[int], set[int]]:
        runs = group.runs()
        return {n for r in runs for n in r.seq}, {n for r in runs for n in r.useq}

    await until(lambda: all(found >= set(range(sent)) for found in seen()), DEADLINE, interval=0.2)
