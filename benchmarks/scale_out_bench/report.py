"""The printed figures: a table per run kind, the targets, the per-station costs and a plan for
10,000 stations derived from them."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .runs import BacklogResult, LiveResult, Options, Setting

TARGET_SPEED_UP = 1.5  # 2 workers drain a backlog at least this much faster than 1
TARGET_P95_MS = 100.0  # 2 workers serve 2,000 live stations with p95 at most this
TARGET_STATIONS = 2_000
PLAN_STATIONS = 10_000
PROMPT_P95_MS = 500.0  # a live run with p95 within this served its stations promptly
PLAN_UTILISATION = 0.6  # a core per instance, this busy at the steady rate: room for bursts and catch-ups
MB = 1024 * 1024


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 1000 else f"{value:,.1f}"


def label(setting: Setting) -> str:
    return f"{setting.callback:7s} {setting.stations:>6,} {setting.workers:>2}"


def load_text(loads: tuple[float, float]) -> str:
    return f"{loads[0]:.2f}/{loads[1]:.2f}"


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def paired(results: Sequence[BacklogResult], result: BacklogResult) -> list[BacklogResult]:
    """The other runs of `result`'s pair (its setting with other worker counts, made next to it)."""
    return [r for r in results if r is not result and r.setting.pair == result.setting.pair]


def print_backlog_header(per_1000: int, partitions: int) -> None:
    print(
        f"\nbacklog: {per_1000:,} simulator messages per 1,000 stations pre-loaded, {partitions} partitions "
        "(slots); timed from the release of the settled group until all consumed and idle"
    )
    print(
        f"  {'callback stations  N':22s} {'messages':>9s} {'settle':>7s} {'drain':>7s} {'msgs/s':>8s} "
        f"{'vs 1':>5s} {'wrk CPU':>8s} {'us/msg':>7s} {'broker':>7s} {'runs':>6s} "
        f"{'split src>pieces, CPU':>22s} {'load 1m':>10s} {'at':>8s}"
    )


def print_backlog(result: BacklogResult, results: Sequence[BacklogResult]) -> None:
    one = [r for r in paired(results, result) if r.setting.workers == 1]
    ratio = f"{result.rate / one[0].rate:.2f}x" if one and result.setting.workers != 1 else ""
    split = f"{result.split:,}>{result.split_pieces:,}, {1000 * result.split_cpu:,.0f} ms"
    per_message = 1e6 * result.worker_cpu / result.messages
    print(
        f"  {label(result.setting):22s} {result.messages:>9,} {result.settle_seconds:>6.1f}s {result.seconds:>6.2f}s "
        f"{result.rate:>8,.0f} {ratio:>5s} {result.worker_cpu:>7.2f}s {per_message:>7.1f} "
        f"{result.broker_cpu:>6.2f}s {result.callbacks:>6,} {split:>22s} {load_text(result.loads):>10s} "
        f"{clock(result.at)}" + ("  STALLED" if result.stalled else "")
    )
    if result.setting.workers > 1:
        shares = ", ".join(f"{w.slots} slots {w.messages:,} msgs {w.cpu:.2f} CPU-s" for w in result.workers)
        print(f"  {'':22s} per worker: {shares}")


def print_live_header(warm_up: float, measure: float) -> None:
    print(
        f"\nlive: a feeder process at the simulator's real-time rates, {warm_up:.0f} s warm-up, {measure:.0f} s "
        "measured; latency = triggering message's timestamp -> callback, all workers' samples"
    )
    print(
        f"  {'callback stations  N':22s} {'fed/s':>7s} {'cons/fed':>8s} {'runs/s':>7s} {'p50':>7s} {'p95':>7s} "
        f"{'p99':>7s} {'max ms':>7s} {'samples':>8s} {'workers':>8s} {'broker':>7s} {'feeder':>7s} "
        f"{'defer':>5s} {'caught up':>9s} {'RSS/wrk':>8s} {'load 1m':>10s} {'at':>8s}"
    )


def print_live(result: LiveResult) -> None:
    s = result.seconds
    caught = "no" if result.caught_up is None else f"{result.caught_up:.1f}s"
    rss = max(w.rss for w in result.workers) / MB
    print(
        f"  {label(result.setting):22s} {result.fed / s:>7,.0f} {result.consumed / max(1, result.fed):>8.2f} "
        f"{result.callbacks / s:>7,.0f} {ms(result.p50):>7s} {ms(result.percentile(0.95)):>7s} "
        f"{ms(result.percentile(0.99)):>7s} {ms(result.samples[-1] if result.samples else None):>7s} "
        f"{len(result.samples):>8,} {result.worker_cpu / s:>7.2f}c {result.broker_cpu / s:>6.2f}c "
        f"{result.feeder_cpu / s:>6.2f}c {result.deferring:>5.0%} {caught:>9s} {rss:>6.0f}MB "
        f"{load_text(result.loads):>10s} {clock(result.at)}"
    )
    if result.setting.workers > 1:
        shares = ", ".join(
            f"{w.slots} slots {w.stations:,} stations {w.cpu / s:.2f} cores {w.rss / MB:.0f} MB" for w in result.workers
        )
        print(f"  {'':22s} per worker: {shares}")


def print_targets(backlogs: Sequence[BacklogResult], lives: Sequence[LiveResult]) -> None:
    print("\ntargets")
    for result in backlogs:
        if result.setting.workers != 2:
            continue
        for one in (r for r in paired(backlogs, result) if r.setting.workers == 1):
            ratio = result.rate / one.rate
            verdict = "met" if ratio >= TARGET_SPEED_UP else "MISSED"
            print(
                f"  backlog {result.setting.callback}, {result.setting.stations:,} stations: 2 workers "
                f"{ratio:.2f}x as fast as 1 (target >= {TARGET_SPEED_UP}x): {verdict}"
            )
    for result in lives:
        if result.setting.workers == 2 and result.setting.stations == TARGET_STATIONS:
            p95 = result.percentile(0.95)
            kept = result.caught_up is not None
            met = p95 is not None and p95 <= TARGET_P95_MS and kept
            print(
                f"  live {result.setting.callback}, {TARGET_STATIONS:,} stations, 2 workers: p95 {ms(p95)} ms "
                f"(target <= {TARGET_P95_MS:.0f} ms){'' if kept else ', did not keep up'}: {'met' if met else 'MISSED'}"
            )


def print_costs(lives: Sequence[LiveResult]) -> None:
    """Per station-second and per station, from each live run."""
    if not lives:
        return
    print(
        "\nper-station costs (live runs): CPU ms per station-second of the workers (service, splitter and "
        "callbacks), the broker and the feeder; callbacks per station-second; each worker's resident memory "
        "above its base (interpreter and imports, measured before the service was made) per station it holds, "
        "and how fast that grew during the measurement"
    )
    print(
        f"  {'callback stations  N':22s} {'service':>8s} {'broker':>7s} {'feeder':>7s} {'runs':>6s} "
        f"{'base MB':>8s} {'RSS MB':>8s} {'KB/station':>11s} {'KB/st/min':>10s}"
    )
    for r in lives:
        station_seconds = r.setting.stations * r.seconds
        base = sum(w.rss_base for w in r.workers) / len(r.workers) / MB
        rss = sum(w.rss for w in r.workers) / len(r.workers) / MB
        per_station = [(w.rss - w.rss_base) / w.stations / 1024 for w in r.workers if w.stations]
        growth = [60 * (w.rss - w.rss_start) / w.stations / r.seconds / 1024 for w in r.workers if w.stations]
        print(
            f"  {label(r.setting):22s} {1000 * r.worker_cpu / station_seconds:>8.3f} "
            f"{1000 * r.broker_cpu / station_seconds:>7.3f} {1000 * r.feeder_cpu / station_seconds:>7.3f} "
            f"{r.callbacks / station_seconds:>6.2f} {base:>8.0f} {rss:>8.0f} "
            f"{sum(per_station) / max(1, len(per_station)):>11.0f} {sum(growth) / max(1, len(growth)):>10.1f}"
        )
    slope = memory_slope(lives)
    if slope is not None:
        print(f"  1 worker, RSS difference between the station counts: {slope / 1024:,.0f} KB per station")
    print_models(lives)


def memory_slope(lives: Sequence[LiveResult]) -> float | None:
    """Bytes of a 1-worker run's RSS per station, from the difference between its two station counts."""
    ones = sorted((r for r in lives if r.setting.workers == 1), key=lambda r: r.setting.stations)
    counts = sorted({r.setting.stations for r in ones})
    if len(counts) < 2:
        return None
    low = [r.workers[0].rss for r in ones if r.setting.stations == counts[0]]
    high = [r.workers[0].rss for r in ones if r.setting.stations == counts[-1]]
    return (sum(high) / len(high) - sum(low) / len(low)) / (counts[-1] - counts[0])


@dataclass(frozen=True)
class CostModel:
    """A worker's CPU per station-second = `per_station` + `per_run` x runs per station-second, fitted
    on the 1-worker live runs of one callback (least squares): the stations' data costs every second
    whether they run or not (ingest, upkeep), each run its module input and callback. A worker that
    falls behind coalesces runs, so its runs per station-second, not its station count, set its CPU."""

    callback: str
    per_station: float  # CPU seconds per station-second
    per_run: float  # CPU seconds per run

    def cost(self, runs: float) -> float:
        return self.per_station + self.per_run * runs


def fit(lives: Sequence[LiveResult], callback: str) -> CostModel | None:
    points = [
        (r.callbacks / ss, r.worker_cpu / ss)
        for r in lives
        if r.setting.workers == 1 and r.setting.callback == callback
        for ss in [r.setting.stations * r.seconds]
    ]
    if len({round(x, 3) for x, _ in points}) < 2:
        return None
    mx, my = sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return CostModel(callback, my - slope * mx, slope)


def prompt_runs(lives: Sequence[LiveResult]) -> float | None:
    """Runs per station-second when stations are served promptly: the most of the trivial runs whose
    p95 stayed within PROMPT_P95_MS (about one a second: every second of car orders triggers one)."""
    prompt = [
        r.callbacks / (r.setting.stations * r.seconds)
        for r in lives
        if r.setting.callback == "trivial" and (r.percentile(0.95) or float("inf")) <= PROMPT_P95_MS
    ]
    return max(prompt, default=None)


def print_models(lives: Sequence[LiveResult]) -> None:
    models = [m for m in (fit(lives, c) for c in ("trivial", "heavy")) if m is not None]
    if models:
        print("  1 worker, CPU per station-second = a + b x runs per station-second (fitted on its runs):")
    for m in models:
        print(
            f"    {m.callback:7s} a = {1000 * m.per_station:.3f} ms per station-second, "
            f"b = {1000 * m.per_run:.3f} ms per run"
        )


def print_plan(lives: Sequence[LiveResult], options: Options) -> None:
    """Instances, slots and memory for PLAN_STATIONS: each callback's cost model at the prompt runs
    per station-second; an instance per core, PLAN_UTILISATION busy; memory from the 1-worker runs'
    RSS per station (after the runs' seconds of data: windows keep filling beyond that)."""
    runs = prompt_runs(lives)
    models = [m for m in (fit(lives, c) for c in ("trivial", "heavy")) if m is not None]
    if runs is None or not models:
        print(f"\nplan for {PLAN_STATIONS:,} stations: needs 1-worker live runs at two station counts and a prompt one")
        return
    slope = memory_slope(lives) or 0.0
    ones = [r for r in lives if r.setting.workers == 1]
    base = sum(r.workers[0].rss_base for r in ones) / len(ones)
    print(
        f"\nplan for {PLAN_STATIONS:,} stations: {runs:.2f} runs per station-second (served promptly), "
        f"an instance per core, {PLAN_UTILISATION:.0%} busy at that rate; memory {slope / 1024:,.0f} KB per "
        f"station (after {options.warm_up + options.measure:.0f} s of live data) over a {base / MB:.0f} MB base"
    )
    for model in models:
        cost = model.cost(runs)
        cores = cost * PLAN_STATIONS
        instances = max(1, math.ceil(cores / PLAN_UTILISATION))
        slots = 12 * math.ceil(2 * instances / 12)
        memory = base + slope * PLAN_STATIONS / instances
        print(
            f"  {model.callback:7s} callback: {1000 * cost:.3f} ms CPU per station-second -> {cores:.1f} cores busy "
            f"-> {instances} instances of {PLAN_STATIONS // instances:,} stations, about {memory / MB:,.0f} MB each; "
            f"{slots} partitions per topic (>= 2 slots each, room to double)"
        )
    brokers = [r.broker_cpu / (r.setting.stations * r.seconds) for r in lives]
    print(
        f"  embedded broker (Tansu): {1000 * min(brokers):.3f}-{1000 * max(brokers):.3f} ms CPU per station-second "
        f"in these runs (-> {min(brokers) * PLAN_STATIONS:.1f}-{max(brokers) * PLAN_STATIONS:.1f} cores at "
        f"{PLAN_STATIONS:,}; it follows the consumers' fetches more than the stations; a Kafka cluster's is its own)"
    )
