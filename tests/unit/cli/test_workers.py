"""`d-a run --workers N`: what is refused before any worker starts, what each worker is started
with, how a dying worker comes back, how a stop ends, and what the supervisor's endpoints show."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers import wait_for
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from d_a.cli import build_parser, main
from d_a.cli.supervisor import Launcher, RestartDelay, Supervisor, Worker, WorkerState, worker_arguments
from d_a.cli.worker_http import SupervisorServer, WorkerProbes, relabeled
from d_a.kafka.broker import free_port

SCALE_OUT = {"service": {"scale_out": True, "restore_horizon_seconds": 3600}}


def config_file(tmp_path: Path, document: dict) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", "--callback", "site_model:predict", *args])
    return code, capsys.readouterr().err


# refused before anything starts


@pytest.fixture(autouse=True)
def _no_worker_starts_by_mistake(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal that regressed fails here at once instead of supervising workers forever."""

    def started(self, index: int) -> None:
        raise AssertionError(f"worker {index} started")

    monkeypatch.setattr(Launcher, "__call__", started)


def test_workers_without_scale_out_exit_2_naming_the_setting(tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "--workers", "2", "--config", config_file(tmp_path, {}))
    assert code == 2
    assert "service.scale_out" in err and "--workers 2" in err


def test_scale_out_without_its_horizon_is_a_config_error(tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "--workers", "2", "--config", config_file(tmp_path, {"service": {"scale_out": True}}))
    assert code == 2
    assert "restore_horizon_seconds" in err


@pytest.mark.parametrize(("option", "named"), [(["--sync"], "--sync"), (["--transport", "memory"], "memory")])
def test_workers_refuse_sync_and_the_memory_transport(tmp_path: Path, capsys, option: list, named: str) -> None:
    code, err = run(capsys, "--workers", "3", *option, "--config", config_file(tmp_path, SCALE_OUT))
    assert code == 2
    assert "--workers" in err and named in err


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_workers_must_be_a_whole_number_of_at_least_1(capsys, count: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--callback", "m:f", "--workers", count])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_a_missing_config_file_exits_2_naming_it(tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "--workers", "2", "--config", str(tmp_path / "absent.yaml"))
    assert code == 2 and "absent.yaml" in err


# what a worker is started with


def test_a_worker_gets_the_same_arguments_without_workers_and_metrics() -> None:
    given = [
        "run",
        "--config",
        "/etc/d_a/config.yaml",
        "--callback",
        "pkg.model:predict",
        "--module",
        "operation_optimization",
        "--result-handler",
        "pkg.out:handle",
        "--log-level",
        "DEBUG",
        "--workers",
        "4",
        "--metrics-port",
        "9100",
        "--metrics-host",
        "10.0.0.1",
    ]
    parser = build_parser()
    args = parser.parse_args(given)
    forwarded = worker_arguments(args)
    assert not {"--workers", "--metrics-port", "--metrics-host", "4", "9100"} & set(forwarded)
    again = parser.parse_args(["run", *forwarded])
    differs = {k for k in vars(args) if getattr(again, k) != getattr(args, k)}
    assert differs == {"workers", "metrics_port", "metrics_host"}
    assert (again.workers, again.metrics_port, again.metrics_host) == (1, None, "0.0.0.0")


# restarts


def test_backoff_doubles_to_30_s_and_starts_over_after_a_long_run() -> None:
    backoff = RestartDelay()
    assert [backoff.delay(ran_for=2.0) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(ran_for=60.0) == 1
    assert backoff.delay(ran_for=1.0) == 2


class Children:
    """Spawns `python -c script` as worker processes and stops whatever is left at the end."""

    def __init__(self, script: str) -> None:
        self.script = textwrap.dedent(script)
        self.started: list[subprocess.Popen[bytes]] = []

    def __call__(self, index: int) -> tuple[subprocess.Popen[bytes], int]:
        process = subprocess.Popen([sys.executable, "-c", self.script, str(index)])
        self.started.append(process)
        return process, 40000 + index

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def children():
    made: list[Children] = []

    def make(script: str) -> Children:
        made.append(Children(script))
        return made[-1]

    yield make
    for spawned in made:
        spawned.close()


def test_a_worker_that_fails_is_restarted_after_its_backoff(children, caplog) -> None:
    spawn = children("import sys; sys.exit(3)")
    worker = Worker(1, spawn)
    worker.start(now=100.0)
    spawn.started[0].wait()
    worker.check(now=100.5)
    assert not worker.state().alive and worker.restarts == 0
    assert "worker 1" in caplog.text and "exited with code 3" in caplog.text and "restarting it in 1 s" in caplog.text
    worker.check(now=101.4)  # still in its backoff
    assert len(spawn.started) == 1
    worker.check(now=101.5)
    assert len(spawn.started) == 2 and worker.restarts == 1 and worker.state().pid == spawn.started[1].pid
    spawn.started[1].wait()
    worker.check(now=101.6)
    assert "restarting it in 2 s" in caplog.text


def test_a_worker_killed_by_a_signal_is_restarted_and_one_that_exits_0_is_not(children, caplog) -> None:
    killed = children("import time; time.sleep(60)")
    worker = Worker(0, killed)
    worker.start(now=0.0)
    killed.started[0].kill()
    killed.started[0].wait()
    worker.check(now=1.0)
    assert "exited with code -9 (SIGKILL)" in caplog.text
    worker.check(now=2.0)
    assert worker.restarts == 1 and worker.state().alive

    done = children("pass")
    finished = Worker(2, done)
    finished.start(now=0.0)
    done.started[0].wait()
    finished.check(now=1.0)
    finished.check(now=100.0)
    assert len(done.started) == 1 and finished.done and not finished.state().alive


# stopping

STOPS_ON_SIGTERM = """
    import pathlib, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pathlib.Path(sys.argv[0] + sys.argv[1]).touch()
    time.sleep(60)
"""


def supervised(spawn: Children, count: int, stop_timeout: float) -> tuple[Supervisor, threading.Thread, list]:
    supervisor = Supervisor([Worker(i, spawn) for i in range(count)], stop_timeout, interval=0.05)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()))
    thread.start()
    return supervisor, thread, result


def test_a_stop_is_forwarded_and_exits_0_when_every_worker_exits_0(children, tmp_path: Path) -> None:
    spawn = children(STOPS_ON_SIGTERM.replace("sys.argv[0]", repr(str(tmp_path / "up-"))))
    supervisor, thread, result = supervised(spawn, 2, stop_timeout=30)
    try:
        wait_for(lambda: len(list(tmp_path.glob("up-*"))) == 2, 30, interval=0.05)
    finally:
        supervisor.request_stop()
        thread.join(60)
    assert result == [0]
    assert [p.poll() for p in spawn.started] == [0, 0]


def test_a_worker_ignoring_the_stop_is_killed_and_the_exit_code_is_1(children, tmp_path: Path, caplog) -> None:
    ignoring = STOPS_ON_SIGTERM.replace("lambda *_: sys.exit(0)", "signal.SIG_IGN")
    spawn = children(ignoring.replace("sys.argv[0]", repr(str(tmp_path / "up-"))))
    supervisor, thread, result = supervised(spawn, 1, stop_timeout=0.5)
    try:
        wait_for(lambda: len(list(tmp_path.glob("up-*"))) == 1, 30, interval=0.05)
    finally:
        supervisor.request_stop()
        thread.join(60)
    assert result == [1]
    assert spawn.started[0].poll() == -9
    assert "worker 0" in caplog.text and "killing it" in caplog.text


def test_workers_already_started_are_stopped_when_starting_another_fails(children) -> None:
    spawn = children("import time; time.sleep(60)")

    def second_fails(index: int) -> tuple[subprocess.Popen[bytes], int]:
        if index == 1:
            raise OSError("no more processes")
        return spawn(index)

    supervisor = Supervisor([Worker(i, second_fails) for i in range(2)], stop_timeout=10, interval=0.05)
    with pytest.raises(OSError, match="no more processes"):
        supervisor.run()
    assert spawn.started[0].poll() is not None


# the supervisor's endpoints


def exposition(callbacks: float, observed: float) -> str:
    registry = CollectorRegistry()

    class Service:
        def collect(self):
            yield CounterMetricFamily("d_a_callbacks", "Station callbacks run", value=callbacks)

    registry.register(Service())
    Histogram("d_a_callback_duration_seconds", "Time", registry=registry, buckets=(1.0,)).observe(observed)
    return generate_latest(registry).decode()


def test_metrics_of_the_workers_are_one_family_each_with_a_worker_label() -> None:
    registry = CollectorRegistry()

    class Merged:
        def collect(self):
            return relabeled({0: exposition(3, 0.5), 1: exposition(5, 2.0)})

    registry.register(Merged())
    text = generate_latest(registry).decode()
    assert text.count("# TYPE d_a_callbacks_total counter") == 1
    families = {f.name: f for f in text_string_to_metric_families(text)}  # valid Prometheus text
    callbacks = {s.labels["worker"]: s.value for s in families["d_a_callbacks"].samples}
    assert callbacks == {"0": 3.0, "1": 5.0}
    buckets = {
        (s.labels["worker"], s.labels["le"]): s.value
        for s in families["d_a_callback_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets == {("0", "1.0"): 1.0, ("0", "+Inf"): 1.0, ("1", "1.0"): 0.0, ("1", "+Inf"): 1.0}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_health_is_200_only_while_every_worker_runs_and_answers_200() -> None:
    states = [WorkerState(0, 101, True, 0, 1000), WorkerState(1, 102, True, 2, 1001)]
    answers = {
        (1000, "/health"): (200, b"{}"),
        (1001, "/health"): (200, b"{}"),
        (1000, "/ready"): (200, b"{}"),
        (1001, "/ready"): (503, b"{}"),
        (1000, "/metrics"): (200, exposition(3, 0.5).encode()),
        (1001, "/metrics"): (200, exposition(5, 2.0).encode()),
    }
    probes = WorkerProbes(lambda: states, lambda port, path: answers.get((port, path)))
    server = SupervisorServer(probes, free_port(), "127.0.0.1").start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        status, body = get(url + "/health")
        assert status == 200
        assert json.loads(body)["workers"] == [
            {"worker": 0, "pid": 101, "alive": True, "healthy": True, "restarts": 0},
            {"worker": 1, "pid": 102, "alive": True, "healthy": True, "restarts": 2},
        ]
        status, body = get(url + "/ready")
        assert status == 503 and [w["ready"] for w in json.loads(body)["workers"]] == [True, False]
        status, body = get(url + "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        assert {s.labels["worker"]: s.value for s in families["d_a_callbacks"].samples} == {"0": 3.0, "1": 5.0}
        assert {s.labels["worker"]: s.value for s in families["d_a_worker_restarts"].samples} == {"0": 0, "1": 2}

        states[1] = WorkerState(1, None, False, 3, 1001)  # waiting for its restart
        status, body = get(url + "/health")
        assert status == 503
        assert json.loads(body)["workers"][1] == {
            "worker": 1,
            "pid": None,
            "alive": False,
            "healthy": False,
            "restarts": 3,
        }
        families = {f.name: f for f in text_string_to_metric_families(get(url + "/metrics")[1].decode())}
        assert {s.labels["worker"]: s.value for s in families["d_a_worker_up"].samples} == {"0": 1.0, "1": 0.0}
        assert {s.labels["worker"] for s in families["d_a_callbacks"].samples} == {"0"}
    finally:
        server.stop()
