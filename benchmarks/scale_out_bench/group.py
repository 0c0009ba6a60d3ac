"""The parent's handle on a run's worker processes: starts them, keeps each one's latest report (read as
they come, on the event loop), waits for conditions on them, releases them, and stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .worker import Report, WorkerSpec, main

POLL_SECONDS = 0.01
STOP_SECONDS = 60.0  # a worker not gone this long after `stop` is terminated, then killed
ABORT_SECONDS = 5.0  # the same after an error or Ctrl-C (the broker may be gone: Ctrl-C reaches it too)
KILL_SECONDS = 5.0


class WorkerFailed(RuntimeError):
    """A worker reported an error or died."""


@dataclass
class Handle:
    """One worker process and its pipes (the parent's ends)."""

    spec: WorkerSpec
    process: BaseProcess
    commands: Connection
    reports: Connection
    latest: Report | None = None
    stopped: Report | None = None
    gone: bool = False


@dataclass
class Group:
    """The workers of one run. While `samples` is a list, every report's latency samples go to it
    (and `sampled` / `deferring` count the reports, and those of a worker whose runs were deferred)."""

    handles: list[Handle]
    samples: list[float] | None = None
    sampled: int = 0
    deferring: int = 0
    failure: str | None = None
    _fds: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, specs: Iterable[WorkerSpec]) -> Group:
        """Start a process per spec ("spawn": a fresh interpreter, as a worker of a host would be)."""
        context = multiprocessing.get_context("spawn")
        group = cls([])
        loop = asyncio.get_running_loop()
        try:
            for spec in specs:
                commands_in, commands = context.Pipe(duplex=False)
                reports, reports_out = context.Pipe(duplex=False)
                process = context.Process(
                    target=main, args=(spec, commands_in, reports_out), name=spec.name, daemon=True
                )
                process.start()
                commands_in.close()
                reports_out.close()
                handle = Handle(spec, process, commands, reports)
                group.handles.append(handle)
                loop.add_reader(reports.fileno(), group._read, handle)
                group._fds.append(reports.fileno())
        except BaseException:
            group.kill()
            raise
        return group

    def _read(self, handle: Handle) -> None:
        try:
            while handle.reports.poll():
                kind, body = handle.reports.recv()
                if kind == "error":
                    self.failure = self.failure or body
                elif kind == "stopped":
                    handle.stopped = body
                else:
                    self._note(handle, body)
        except (EOFError, OSError):
            handle.gone = True
            self._forget(handle)

    def _note(self, handle: Handle, report: Report) -> None:
        handle.latest = report
        if self.samples is not None:
            self.samples += report.latencies
            self.sampled += 1
            self.deferring += report.deferring

    def _forget(self, handle: Handle) -> None:
        fd = handle.reports.fileno() if not handle.reports.closed else None
        if fd is not None and fd in self._fds:
            asyncio.get_running_loop().remove_reader(fd)
            self._fds.remove(fd)

    @property
    def reports(self) -> list[Report]:
        """Every worker's latest report (raises until every worker has reported once)."""
        found = [h.latest for h in self.handles]
        if any(r is None for r in found):
            raise LookupError("a worker has not reported yet")
        return [r for r in found if r is not None]

    def pids(self) -> list[int | None]:
        return [h.process.pid for h in self.handles]

    def check(self) -> None:
        """WorkerFailed when a worker said it failed, or its process ended."""
        if self.failure is not None:
            raise WorkerFailed(self.failure)
        for h in self.handles:
            if not h.process.is_alive():
                raise WorkerFailed(f"{h.spec.name} exited with code {h.process.exitcode}")

    async def until(self, condition: Callable[[list[Report]], bool], timeout: float, what: str) -> float:
        """Wait until `condition(reports)` holds; the seconds waited. TimeoutError naming `what`."""
        t0 = time.perf_counter()
        while True:
            self.check()
            try:
                if condition(self.reports):
                    return time.perf_counter() - t0
            except LookupError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"{what}: not within {timeout:g} s ({self.describe()})")
            await asyncio.sleep(POLL_SECONDS)

    def describe(self) -> str:
        found = [(h.spec.name, h.latest) for h in self.handles]
        return "; ".join(
            f"{name}: not started"
            if r is None
            else f"{name}: slots {r.owned}, split {len(r.split_assigned)}, {r.messages:,} messages, idle {r.idle}"
            for name, r in found
        )

    def go(self) -> None:
        for h in self.handles:
            h.commands.send("go")

    async def stop(self, wait: float = STOP_SECONDS) -> None:
        """Ask every worker to stop; terminate, then kill, those not gone within `wait` seconds."""
        for h in self.handles:
            with contextlib.suppress(OSError):
                h.commands.send("stop")
        deadline = time.monotonic() + wait
        while any(h.process.is_alive() for h in self.handles) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        """End every process still running (terminate, then kill) and close the pipes."""
        for h in self.handles:
            if h.process.is_alive():
                h.process.terminate()
                h.process.join(KILL_SECONDS)
            if h.process.is_alive():
                h.process.kill()
                h.process.join(KILL_SECONDS)
        loop = asyncio.get_running_loop()
        for fd in self._fds:
            loop.remove_reader(fd)
        self._fds.clear()
        for h in self.handles:
            if not h.reports.closed:
                try:  # a last report sent before the pipe closed
                    while h.reports.poll():
                        kind, body = h.reports.recv()
                        if kind == "stopped":
                            h.stopped = body
                except (EOFError, OSError):
                    pass
            h.commands.close()
            h.reports.close()


@contextlib.asynccontextmanager
async def running(specs: Iterable[WorkerSpec]) -> AsyncIterator[Group]:
    """The workers of `specs`, stopped on the way out (quickly after an error or an interruption)."""
    group = Group.start(specs)
    try:
        yield group
    except BaseException:
        await group.stop(ABORT_SECONDS)
        raise
    await group.stop()
