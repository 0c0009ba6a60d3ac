"""`d-a run --workers N`: a supervisor of N worker processes on one host.

The parent runs no service. It starts N `d-a run` children (environment `D_A_WORKER=0..N-1`),
each serving its /metrics, /health and /ready on a loopback port of its own, and restarts a child
that exits with an error or by a signal (after 1 s, doubling up to 30 s; back to 1 s once a child
ran 60 s). SIGTERM or SIGINT is forwarded to every child; a child still running
`service.stop_timeout` + 15 s later is killed. With `--metrics-port` the supervisor serves one
/metrics (every worker's, labelled `worker="<i>"`), /health and /ready for all workers.

The workers share the stations through Kafka's consumer group, so `service.scale_out` must be on:
without it each would consume everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, load_config
from ..errors import ConfigError
from ..kafka.broker import free_port
from ..logs import log_file_path, setup_logging
from .worker_http import LOOPBACK, SupervisorServer, WorkerProbes

__all__ = ["RestartDelay", "Launcher", "Supervisor", "Worker", "WorkerState", "supervise", "worker_arguments"]

logger = logging.getLogger("d_a.cli")

WORKER_ENV = "D_A_WORKER"
STOP_GRACE_SECONDS = 15.0  # on top of service.stop_timeout before a worker is killed
# `d-a run` options the supervisor sets for each worker itself, or handles itself
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
NOT_FORWARDED = frozenset({"command", "handler", "workers", "metrics_port", "metrics_host"})

Spawn = Callable[[int], tuple["subprocess.Popen[bytes]", int]]


def supervise(args: argparse.Namespace) -> int:
    """Run `args.workers` workers of `d-a run` until SIGTERM/SIGINT; the process exit code."""
    setup_logging(args.log_level)
    try:
        config = checked_config(args)
    except ConfigError as exc:
        print(f"d-a run: {exc}", file=sys.stderr)
        return 2
    launcher = Launcher(tuple(worker_arguments(args)), log_file_path())
    workers = [Worker(index, launcher) for index in range(args.workers)]
    supervisor = Supervisor(workers, config.service.stop_timeout + STOP_GRACE_SECONDS)
    server = None
    if args.metrics_port is not None:
        try:
            server = SupervisorServer(WorkerProbes(supervisor.states), args.metrics_port, args.metrics_host).start()
        except OSError as exc:
            print(f"d-a run: --metrics-port {args.metrics_port}: cannot listen: {exc}", file=sys.stderr)
            return 2
        logger.info(
            "metrics and health of %d workers on port %d (/metrics, /health, /ready)", args.workers, server.port
        )
    previous = {sig: signal.signal(sig, lambda signum, _: supervisor.request_stop(signum)) for sig in STOP_SIGNALS}
    try:
        return supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()


def checked_config(args: argparse.Namespace) -> Config:
    """The configuration the workers will load; ConfigError when N workers cannot share the work."""
    if args.sync:
        raise ConfigError("--workers needs the async service: --sync cannot share stations between workers")
    if args.transport == "memory":
        raise ConfigError("--workers needs Kafka: with --transport memory every worker would have a broker of its own")
    if args.metrics_port is not None:
        try:
            import prometheus_client  # noqa: F401 - only whether it is installed
        except ImportError as exc:
            raise ConfigError("--metrics-port needs prometheus-client: pip install 'data-analysis[metrics]'") from exc
    config = load_config(args.config)
    if not config.service.scale_out:
        raise ConfigError(
            f"--workers {args.workers} needs service.scale_out: true in the configuration (and "
            "service.restore_horizon_seconds): without it every worker would consume every station"
        )
    return config


def worker_arguments(args: argparse.Namespace) -> list[str]:
    """The `d-a run` arguments of `args` a worker gets: all but --workers and the metrics options."""
    arguments = []
    for name, value in vars(args).items():
        if name in NOT_FORWARDED or value is None or value is False:
            continue
        option = "--" + name.replace("_", "-")
        arguments.extend([option] if value is True else [option, str(value)])
    return arguments


def worker_log_file(log_file: Path, index: int) -> Path:
    """Worker `index`'s log file next to the supervisor's (one rotating file per process)."""
    return log_file.with_name(f"{log_file.stem}.worker{index}{log_file.suffix}")


@dataclass(frozen=True)
class Launcher:
    """Starts worker `index`: `python -m d_a.cli run <arguments>` with its metrics on a free loopback port."""

    arguments: tuple[str, ...]
    log_file: Path

    def __call__(self, index: int) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        command = [sys.executable, "-m", "d_a.cli", "run", *self.arguments]
        command += ["--metrics-port", str(port), "--metrics-host", LOOPBACK]
        env = {**os.environ, WORKER_ENV: str(index), "DATA_ANALYSIS_LOG": str(worker_log_file(self.log_file, index))}
        return subprocess.Popen(command, env=env), port


class RestartDelay:
    """Seconds before a restart: `first`, doubling up to `longest`; `first` again after a child
    ran `reset_after` seconds."""

    def __init__(self, first: float = 1.0, longest: float = 30.0, reset_after: float = 60.0) -> None:
        self.first, self.longest, self.reset_after = first, longest, reset_after
        self._next = first

    def delay(self, ran_for: float) -> float:
        """The wait before restarting a child that ran `ran_for` seconds."""
        if ran_for >= self.reset_after:
            self._next = self.first
        delay, self._next = self._next, min(self._next * 2, self.longest)
        return delay


@dataclass(frozen=True)
class WorkerState:
    """What /health and /metrics show of a worker."""

    worker: int
    pid: int | None
    alive: bool
    restarts: int
    port: int | None


class Worker:
    """One child process: started, restarted after an error exit, stopped.

    Only the supervisor's loop calls its methods; `state()` may be called from any thread.
    """

    def __init__(self, index: int, spawn: Spawn, backoff: RestartDelay | None = None) -> None:
        self.index = index
        self.spawn = spawn
        self.backoff = backoff or RestartDelay()
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.restart_at: float | None = None  # when the child is due again; None: not waiting
        self.exit_code: int | None = None  # of the last child that exited
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        """No child runs or is due to restart, and the last one exited 0."""
        return self.process is None and self.restart_at is None and self.exit_code == 0

    def start(self, now: float) -> None:
        """Spawn the child (at `now` on the supervisor's clock)."""
        process, port = self.spawn(self.index)
        with self._lock:
            self.process, self.port, self.started_at, self.restart_at = process, port, now, None
        again = f" (restart {self.restarts})" if self.restarts else ""
        logger.info("worker %d started%s: pid %d, metrics on %s:%d", self.index, again, process.pid, LOOPBACK, port)

    def check(self, now: float) -> None:
        """Notice the child's exit (and schedule its restart), or restart it once its backoff is over."""
        if self.process is not None:
            code = self.process.poll()
            if code is not None:
                self._exited(code, now)
        elif self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.start(now)

    def _exited(self, code: int, now: float) -> None:
        pid, ran_for = self._reaped(code), now - self.started_at
        if code == 0:
            logger.info("worker %d (pid %d) exited with code 0 after %.1f s; not restarted", self.index, pid, ran_for)
            return
        delay = self.backoff.delay(ran_for)
        self.restart_at = now + delay
        logger.warning(
            "worker %d (pid %d) exited with code %d%s after %.1f s; restarting it in %g s",
            self.index,
            pid,
            code,
            _signal_name(code),
            ran_for,
            delay,
        )

    def forward(self, signum: int) -> None:
        """Send `signum` to the child, if one runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stopped(self) -> bool:
        """After `forward`: whether no child runs any more (its exit is logged once)."""
        if self.process is None:
            return True
        code = self.process.poll()
        if code is None:
            return False
        pid = self._reaped(code)
        log = logger.info if code == 0 else logger.warning
        log("worker %d (pid %d) stopped with code %d%s", self.index, pid, code, _signal_name(code))
        return True

    def kill(self, waited: float) -> None:
        """SIGKILL the child that did not stop in `waited` seconds."""
        if self.process is None:
            return
        logger.warning("worker %d (pid %d) still running after %g s: killing it", self.index, self.process.pid, waited)
        self.process.kill()
        self._reaped(self.process.wait())

    def state(self) -> WorkerState:
        """A consistent snapshot, for the HTTP threads."""
        with self._lock:
            process = self.process
            return WorkerState(
                worker=self.index,
                pid=process.pid if process is not None else None,
                alive=process is not None and process.returncode is None,
                restarts=self.restarts,
                port=self.port,
            )

    def _reaped(self, code: int) -> int:
        """Forget the exited child; its pid."""
        assert self.process is not None
        pid = self.process.pid
        with self._lock:
            self.process, self.exit_code = None, code
        return pid


def _signal_name(code: int) -> str:
    """` (SIGKILL)` for an exit code -9, else nothing."""
    if code >= 0:
        return ""
    try:
        return f" ({signal.Signals(-code).name})"
    except ValueError:
        return ""


class Supervisor:
    """Keeps the workers running until a stop is requested, then stops them all."""

    def __init__(
        self,
        workers: list[Worker],
        stop_timeout: float,
        *,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.stop_timeout = stop_timeout
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._signal: int = signal.SIGTERM

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop the workers by forwarding `signum` (safe in a signal handler)."""
        if not self._stop.is_set():
            self._signal = signum
            self._stop.set()

    def states(self) -> list[WorkerState]:
        """Every worker's snapshot, in worker order."""
        return [worker.state() for worker in self.workers]

    def run(self) -> int:
        """Start the workers and keep them running; after a stop 0 if every one exited 0, else 1."""
        try:
            for worker in self.workers:
                if not self._stop.is_set():
                    worker.start(self.clock())
            logger.info("supervising %d workers; SIGTERM or SIGINT stops them", len(self.workers))
            while not self._stop.wait(self.interval):
                for worker in self.workers:
                    worker.check(self.clock())
                if all(worker.done for worker in self.workers):
                    logger.info("every worker exited 0 by itself: nothing left to supervise")
                    return 0
        except BaseException as exc:
            logger.error("supervisor failed (%s: %s): stopping the workers", type(exc).__name__, exc)
            self._stop_all()
            raise
        return self._stop_all()

    def _stop_all(self) -> int:
        name = signal.Signals(self._signal).name
        logger.info("stop requested: sending %s to the workers, waiting up to %g s", name, self.stop_timeout)
        for worker in self.workers:
            worker.forward(self._signal)
        deadline = self.clock() + self.stop_timeout
        while not all([worker.stopped() for worker in self.workers]) and self.clock() < deadline:  # polls each
            time.sleep(min(self.interval, 0.1))
        for worker in self.workers:
            if not worker.stopped():
                worker.kill(self.stop_timeout)
        unclean = [worker.index for worker in self.workers if not worker.done]
        if unclean:
            logger.warning("workers %s did not stop cleanly (exit code not 0)", ", ".join(map(str, unclean)))
            return 1
        logger.info("all %d workers stopped cleanly", len(self.workers))
        return 0
