"""A worker process: one AsyncDataAnalysisService of the run's scaled-out group, driven by the parent
over two one-way pipes (`main` is the multiprocessing target).

Commands (parent -> worker): `go` opens the fetch gate, `stop` stops the service and ends the
process (so does the parent's end of the pipe closing). Reports (worker -> parent), every
REPORT_SECONDS once the service has started: `("report", Report)`; at the end `("stopped", Report)`;
`("error", text)` when the service failed.

The gate: with `WorkerSpec.gated` every AsyncKafkaConsumerClient of this process (the service's and
its splitter's) holds its fetches until `go`. Group joins and rebalances go on meanwhile (aiokafka's
coordinator runs on its own), so the parent can wait until the group has settled and then release
all workers on a backlog nobody has read yet. The global reader (the calendar, the splitter's
station parameters) is not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

REPORT_SECONDS = 0.05
HEAVY_CPU_SECONDS = 0.002


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker runs: its name, the broker, the group, the callback, the configuration."""

    name: str
    bootstrap: str
    group: str
    callback: str  # trivial | heavy
    module: str
    config: dict[str, Any]
    kafka: dict[str, Any]
    horizon_seconds: float
    gated: bool
    settings: dict[str, Any] = field(default_factory=dict)  # more service settings (e.g. backlog_runs)


@dataclass
class Report:
    """A worker's state: slots, counters, splitter, memory, and the latency samples since the last report."""

    name: str
    pid: int
    slots: int = 0
    owned: list[int] = field(default_factory=list)
    split_assigned: list[tuple[str, int]] = field(default_factory=list)
    rebuilding: bool = False  # windows of slots moved here are being rebuilt (tails)
    messages: int = 0  # consumed by the engine, the global reader's included
    callbacks: int = 0
    idle: bool = True
    deferring: bool = False  # triggered runs wait: the consumer looks behind (backlog_runs: newest)
    queue: int = 0
    held: int = 0
    stations: int = 0
    split_messages: int = 0
    split_pieces: int = 0
    split_cpu: float = 0.0  # CPU seconds in `split_message` (cutting messages; not decoding, not sending)
    rss: int = 0
    rss_base: int = 0  # resident memory before the service was made (interpreter and imports)
    latencies: list[float] = field(default_factory=list)


def trivial(station_id: str, module_input: Any) -> dict[str, Any]:
    """The cheap model: a small dict per run (service_bench's `callback`)."""
    return {"stationId": station_id, "inputs": len(module_input or ())}


def heavy(station_id: str, module_input: Any) -> dict[str, Any]:
    """A model costing HEAVY_CPU_SECONDS of CPU per run: a busy loop on this thread's CPU clock
    (sync callbacks run on the service's threads), then a small dict."""
    end = time.thread_time() + HEAVY_CPU_SECONDS
    while time.thread_time() < end:
        pass
    return {"stationId": station_id, "inputs": len(module_input or ())}


CALLBACKS = {"trivial": trivial, "heavy": heavy}


def main(spec: WorkerSpec, commands: Connection, reports: Connection) -> None:
    """The process: serve until told to stop. Ctrl-C reaches the whole process group: the parent
    handles it (and stops this process), so the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(serve(spec, commands, reports))
    except BaseException as exc:  # noqa: BLE001 - told to the parent, which stops the run
        with contextlib.suppress(OSError):
            reports.send(("error", f"{spec.name}: {type(exc).__name__}: {exc}"))
        raise


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def install_gate(go: asyncio.Event) -> None:
    """Hold every consumer client's fetches in this process until `go` is set."""
    from d_a.kafka.async_clients import AsyncKafkaConsumerClient

    fetch = AsyncKafkaConsumerClient.getmany

    async def gated(self: AsyncKafkaConsumerClient, timeout_ms: int = 1000, max_records: int | None = None) -> Any:
        if not go.is_set():
            await go.wait()
        return await fetch(self, timeout_ms, max_records)

    AsyncKafkaConsumerClient.getmany = gated  # type: ignore[method-assign]


def time_splits(spent: list[float]) -> None:
    """Add the CPU seconds of each `split_message` call (on the event loop's thread) to `spent[0]`."""
    from d_a.service import splitter

    split = splitter.split_message

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return split(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - t0

    splitter.split_message = timed  # type: ignore[assignment]


def listen(commands: Connection, loop: asyncio.AbstractEventLoop, go: asyncio.Event, stop: asyncio.Event) -> None:
    """The command pipe, on a thread of its own: `go`, `stop` (or the parent gone)."""
    while True:
        try:
            command = commands.recv()
        except (EOFError, OSError):
            command = "stop"
        loop.call_soon_threadsafe((go if command == "go" else stop).set)
        if command != "go":
            return


async def serve(spec: WorkerSpec, commands: Connection, reports: Connection) -> None:
    from d_a.service.async_service import AsyncDataAnalysisService

    go, stop = asyncio.Event(), asyncio.Event()
    if not spec.gated:
        go.set()
    install_gate(go)
    split_cpu = [0.0]
    time_splits(split_cpu)
    threading.Thread(target=listen, args=(commands, asyncio.get_running_loop(), go, stop), daemon=True).start()
    base = rss_bytes()
    service = AsyncDataAnalysisService(
        spec.module,
        kafka_config=spec.kafka,
        config=spec.config,
        group_id=spec.group,
        scale_out=True,
        restore_horizon_seconds=spec.horizon_seconds,
        configure_logging=False,
        **spec.settings,
    )
    await service.start(CALLBACKS[spec.callback])
    try:
        while not stop.is_set():
            reports.send(("report", snapshot(spec.name, service, split_cpu[0], base)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_SECONDS)
        last = snapshot(spec.name, service, split_cpu[0], base)
    finally:
        go.set()  # a held fetch would keep the service from stopping
        await service.stop()
    reports.send(("stopped", last))


def snapshot(name: str, service: Any, split_cpu: float, rss_base: int) -> Report:
    """The worker's state, read from the engine (cheaper than `get_service_status()`, which walks
    every station; `ownership.status()` is its `scale_out` part)."""
    engine = service.engine
    scale = engine.ownership.status() if engine.ownership is not None else {}
    splitter = service._splitter  # the benchmark looks inside: whose source partitions, how much split
    return Report(
        name=name,
        pid=os.getpid(),
        slots=scale.get("slots", 0),
        owned=list(scale.get("owned", [])),
        split_assigned=sorted((tp.topic, tp.partition) for tp in splitter.consumer.assignment()) if splitter else [],
        rebuilding=bool(engine.tails),
        messages=engine.stats.counters["messages"] + sum(engine.globals.messages.values()),
        callbacks=engine.stats.counters["callbacks"],
        idle=engine.scheduler.idle,
        deferring=engine.scheduler.deferring,
        queue=engine.scheduler.queue.qsize(),
        held=engine.tracker.held_messages,
        stations=len(engine.dispatcher.stations()),
        split_messages=0 if splitter is None else splitter.messages,
        split_pieces=0 if splitter is None else splitter.pieces,
        split_cpu=split_cpu,
        rss=rss_bytes(),
        rss_base=rss_base,
        latencies=engine.stats.drain()[0],
    )
