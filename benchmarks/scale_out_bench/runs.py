"""The two runs, each on an embedded broker of its own with a new consumer group: `backlog` (drain a
pre-loaded backlog) and `live` (real-time feed: latency, CPU, memory). Each returns what it measured."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service_bench.env import KAFKA_GROUP, MODULE
from service_bench.feeders import ProcessFeeder

from d_a.kafka import EmbeddedBroker

from . import procs
from .group import Group, running
from .layout import RESTORE_HORIZON_SECONDS, backlog, config_document, create_topics, load, module_topics
from .worker import Report, WorkerSpec

SETTLE_TIMEOUT_SECONDS = 120.0  # group joins on the embedded broker take 3 s each (session_timeout_ms 6,000)
STALL_SECONDS = 30.0  # no progress for this long: the run is reported as stalled
CATCH_UP_QUIET_SECONDS = 0.5  # after a live run: this long without new messages, every worker idle
FEED_MARGIN_SECONDS = 10.0  # the feeder's feed lasts this much longer than warm-up + measurement
POLL_SECONDS = 0.01


@dataclass(frozen=True)
class Setting:
    """One run of the matrix."""

    kind: str  # backlog | live
    callback: str  # trivial | heavy
    stations: int
    workers: int
    pair: int  # the runs of one pair (the same setting but the workers) are compared with each other


@dataclass(frozen=True)
class Options:
    partitions: int
    backlog_per_1000: int
    warm_up: float
    measure: float
    service: dict[str, Any] = field(default_factory=dict)  # more service settings of the workers

    def backlog_size(self, stations: int) -> int:
        return self.backlog_per_1000 * stations // 1000


@dataclass
class WorkerFigures:
    """One worker at the end of a run: slots, stations, messages, callbacks, CPU and memory."""

    slots: int
    stations: int
    messages: int
    callbacks: int
    cpu: float  # CPU seconds over the timed part
    rss: int
    rss_base: int
    rss_start: int  # at the start of the timed part


@dataclass
class BacklogResult:
    setting: Setting
    messages: int  # pre-loaded: keyed + split + global
    keyed: int
    split: int
    global_: int
    load_seconds: float  # publishing the backlog (not timed)
    settle_seconds: float  # workers started -> the group settled (not timed)
    seconds: float  # released -> every message consumed, every worker idle
    worker_cpu: float
    broker_cpu: float
    consumed: int  # by the engines: keyed messages, the splitters' pieces, each worker's calendar
    callbacks: int
    split_pieces: int
    split_cpu: float
    workers: list[WorkerFigures]
    loads: tuple[float, float]
    stalled: bool
    at: float = 0.0  # wall clock (epoch seconds) when the timed part began

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class LiveResult:
    setting: Setting
    settle_seconds: float
    seconds: float  # measured
    fed: int  # published by the feeder during the measurement
    consumed: int  # by the engines during the measurement
    callbacks: int
    samples: list[float]  # latency ms, sorted
    worker_cpu: float
    broker_cpu: float
    feeder_cpu: float
    deferring: float  # share of the workers' reports during the measurement with runs deferred (`newest`)
    caught_up: float | None  # seconds from the feed's end until every worker was idle (None: not in STALL_SECONDS)
    workers: list[WorkerFigures]
    loads: tuple[float, float]
    at: float = 0.0  # wall clock (epoch seconds) when the measurement began

    def percentile(self, q: float) -> float | None:
        if not self.samples:
            return None
        return self.samples[min(len(self.samples) - 1, int(q * len(self.samples)))]

    @property
    def p50(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def worker_specs(bootstrap: str, setting: Setting, options: Options, *, gated: bool) -> list[WorkerSpec]:
    """The run's workers: one new group, the configuration with the keyed topics marked."""
    group = f"so-bench-{uuid.uuid4().hex[:8]}"
    config = config_document(module_topics())
    kafka = {"bootstrap_servers": bootstrap, **KAFKA_GROUP}
    return [
        WorkerSpec(
            f"w{n}",
            bootstrap,
            group,
            setting.callback,
            MODULE,
            config,
            kafka,
            RESTORE_HORIZON_SECONDS,
            gated,
            dict(options.service),
        )
        for n in range(1, setting.workers + 1)
    ]


def settled(partitions: int) -> Callable[[list[Report]], bool]:
    """The group has settled: every slot owned by exactly one worker, none of them rebuilding, each
    worker owning some; the splitters' group likewise over the split topics' partitions."""
    split = sorted((t, p) for t in module_topics().split for p in range(partitions))

    def check(reports: list[Report]) -> bool:
        owned = sorted(slot for r in reports for slot in r.owned)
        assigned = sorted(tp for r in reports for tp in r.split_assigned)
        each = all(r.owned and r.split_assigned and not r.rebuilding and r.slots == partitions for r in reports)
        return each and owned == list(range(partitions)) and assigned == split

    return check


def broker_pid(broker: EmbeddedBroker) -> int | None:
    process = broker._process  # the benchmark reads the broker's CPU from /proc
    return None if process is None else process.pid


def figures(first: list[Report], last: list[Report], cpu: list[float]) -> list[WorkerFigures]:
    return [
        WorkerFigures(
            len(b.owned), b.stations, b.messages - a.messages, b.callbacks - a.callbacks, c, b.rss, b.rss_base, a.rss
        )
        for a, b, c in zip(first, last, cpu, strict=True)
    ]


async def run_backlog(setting: Setting, options: Options) -> BacklogResult:
    """Load the backlog, start the workers with their fetches held, release them once the group has
    settled, and time until every message is consumed and every worker idle."""
    data = backlog(setting.stations, options.backlog_size(setting.stations))
    topics = module_topics()
    with EmbeddedBroker() as broker:
        await create_topics(broker.bootstrap, topics.all, options.partitions)
        t0 = time.perf_counter()
        await load(broker.bootstrap, data.messages)
        load_seconds = time.perf_counter() - t0
        async with running(worker_specs(broker.bootstrap, setting, options, gated=True)) as group:
            settle = await group.until(settled(options.partitions), SETTLE_TIMEOUT_SECONDS, "the group settling")
            load0 = procs.load()
            first = group.reports
            pids = group.pids()
            cpu0 = [procs.cpu_seconds(p) for p in pids]
            broker0 = procs.cpu_seconds(broker_pid(broker))
            at, t0 = time.time(), time.perf_counter()
            group.go()
            done = await drained(group, data.keyed, data.split, data.global_)
            seconds = time.perf_counter() - t0
            cpu = [procs.cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
            broker_cpu = procs.cpu_seconds(broker_pid(broker)) - broker0
            last = group.reports
    return BacklogResult(
        setting,
        len(data.messages),
        data.keyed,
        data.split,
        data.global_,
        load_seconds,
        settle,
        seconds,
        sum(cpu),
        broker_cpu,
        sum(r.messages for r in last) - sum(r.messages for r in first),
        sum(r.callbacks for r in last) - sum(r.callbacks for r in first),
        sum(r.split_pieces for r in last),
        sum(r.split_cpu for r in last),
        figures(first, last, cpu),
        (load0, procs.load()),
        not done,
        at,
    )


async def drained(group: Group, keyed: int, split: int, global_: int) -> bool:
    """Wait until the splitters have split all `split` source messages and the engines have consumed
    every keyed message, every piece and each worker's copy of the global ones, every worker idle
    (each report is one worker's consistent snapshot); False when nothing moved for STALL_SECONDS."""
    seen, moved_at = (-1, -1), time.perf_counter()
    while True:
        group.check()
        reports = group.reports
        consumed = sum(r.messages for r in reports)
        pieces = sum(r.split_pieces for r in reports)
        split_done = sum(r.split_messages for r in reports) >= split
        expected = keyed + pieces + len(reports) * global_
        if split_done and consumed >= expected and all(r.idle for r in reports):
            return True
        now = (consumed + pieces, sum(r.callbacks for r in reports))
        if now != seen:
            seen, moved_at = now, time.perf_counter()
        elif time.perf_counter() - moved_at > STALL_SECONDS:
            return False
        await asyncio.sleep(POLL_SECONDS)


async def run_live(setting: Setting, options: Options) -> LiveResult:
    """Start the feeder (its feed generated beforehand) and the workers; once the group has settled
    the feed begins; after the warm-up, measure; then stop the feed and wait for the catch-up (the
    latency samples of the catch-up count: they are of messages sent during the measurement)."""
    topics = module_topics()
    seconds = options.warm_up + options.measure + FEED_MARGIN_SECONDS
    with EmbeddedBroker() as broker:
        await create_topics(broker.bootstrap, topics.all, options.partitions)
        feeder = await ProcessFeeder.start(broker.bootstrap, setting.stations, list(topics.fed), seconds)
        try:
            async with running(worker_specs(broker.bootstrap, setting, options, gated=False)) as group:
                settle = await group.until(settled(options.partitions), SETTLE_TIMEOUT_SECONDS, "the group settling")
                feeder.go()
                await asyncio.sleep(options.warm_up)
                group.check()
                result = await measure(group, feeder, broker, setting, options.measure)
                result.settle_seconds = settle
                await feeder.stop()
                result.caught_up = await caught_up(group)
                result.samples = sorted(group.samples or [])
                group.samples = None
        finally:
            await feeder.stop()
    return result


async def measure(
    group: Group, feeder: ProcessFeeder, broker: EmbeddedBroker, setting: Setting, seconds: float
) -> LiveResult:
    """The measurement of a live run: samples, counters and CPU over `seconds`."""
    pids, bpid, fpid = group.pids(), broker_pid(broker), feeder.process.pid
    load0 = procs.load()
    first, fed0 = group.reports, await feeder.published()
    cpu0 = [procs.cpu_seconds(p) for p in pids]
    broker0, feeder0 = procs.cpu_seconds(bpid), procs.cpu_seconds(fpid)
    group.samples, group.sampled, group.deferring = [], 0, 0
    at, t0 = time.time(), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    cpu = [procs.cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    broker_cpu, feeder_cpu = procs.cpu_seconds(bpid) - broker0, procs.cpu_seconds(fpid) - feeder0
    last, fed = group.reports, await feeder.published() - fed0
    return LiveResult(
        setting,
        0.0,
        elapsed,
        fed,
        sum(r.messages for r in last) - sum(r.messages for r in first),
        sum(r.callbacks for r in last) - sum(r.callbacks for r in first),
        [],
        sum(cpu),
        broker_cpu,
        feeder_cpu,
        group.deferring / max(1, group.sampled),
        None,
        figures(first, last, cpu),
        (load0, procs.load()),
        at,
    )


async def caught_up(group: Group) -> float | None:
    """Seconds until nothing new was consumed for CATCH_UP_QUIET_SECONDS with every worker idle
    (the quiet time not counted); None when that did not happen within STALL_SECONDS."""
    t0 = time.perf_counter()
    consumed, quiet_since = -1, t0
    while time.perf_counter() - t0 < STALL_SECONDS:
        group.check()
        reports = group.reports
        now = time.perf_counter()
        total = sum(r.messages for r in reports)
        if total != consumed or not all(r.idle for r in reports):
            consumed, quiet_since = total, now
        elif now - quiet_since >= CATCH_UP_QUIET_SECONDS:
            return quiet_since - t0
        await asyncio.sleep(POLL_SECONDS)
    return None
