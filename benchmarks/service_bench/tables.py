"""docs/PERFORMANCE.md's service-benchmark figures, made from the results file: between BEGIN and END
the document holds, per transport, a table of the newest recorded runs (one column each, newest
first). tests/docs/test_performance.py fails when the document differs from what this makes, so the
tables are regenerated, never edited by hand.

    python -m benchmarks.service_bench.tables --write docs/PERFORMANCE.md   # from the repository's root
    python -m benchmarks.service_bench.tables --check docs/PERFORMANCE.md   # exit 1 when it differs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .record import RESULTS, RUN_FIELDS, read
from .report import TARGET_P95_MS, TARGET_PER_CORE, TARGET_STATIONS, ms

BEGIN = "<!-- service-bench:begin -->"
END = "<!-- service-bench:end -->"
NEWEST_RUNS = 3
TRANSPORTS = {"memory": "in memory", "embedded": "embedded broker", "kafka": "Kafka cluster (`D_A_BOOTSTRAP`)"}
REPO = RESULTS.parents[2]

Figures = dict[str, Any]


@dataclass
class RecordedRun:
    """The records of one run: its shared fields, and each result's figures by (scenario, transport,
    stations)."""

    fields: dict[str, Any]
    figures: dict[tuple[str, str, int | None], Figures] = field(default_factory=dict)

    def get(self, scenario: str, transport: str, stations: int) -> Figures:
        """The figures of a run at `stations` (work per tick, latency); none if it made no such run."""
        return self.figures.get((scenario, transport, stations), {})

    def one(self, scenario: str, transport: str) -> Figures:
        """The figures of a scenario run once per transport (throughput, idle, start-up)."""
        return next((f for (s, t, _), f in self.figures.items() if (s, t) == (scenario, transport)), {})

    def transports(self) -> set[str]:
        return {transport for _, transport, _ in self.figures}


def recorded_runs(records: Iterable[dict[str, Any]]) -> list[RecordedRun]:
    """The records grouped by run (the same date, commit, build and flags), newest first."""
    runs: dict[tuple, RecordedRun] = {}
    for r in records:
        key = tuple(str(r.get(name)) for name in ("date", "commit", "build", "flags"))
        run = runs.setdefault(key, RecordedRun({name: r.get(name) for name in RUN_FIELDS}))
        run.figures[(r["scenario"], r["transport"], r.get("stations"))] = r["figures"]
    return sorted(runs.values(), key=lambda run: str(run.fields["date"]), reverse=True)


Cell = Callable[[RecordedRun], "str | None"]  # a run's figure as shown, None when it has none
Row = tuple[str, Cell]


def number(value: float | None, spec: str, unit: str = "") -> str | None:
    return None if value is None else f"{value:{spec}}{unit}"


def ms_pair(first: float | None, second: float | None) -> str | None:
    """`a / b ms` as the benchmark prints milliseconds; None when neither was measured."""
    return None if first is None and second is None else f"{ms(first)} / {ms(second)} ms"


def run_rows() -> list[Row]:
    """Which run each column is, and the machine's speed during it."""

    def commit(run: RecordedRun) -> str:
        changed = "+" if run.fields["dirty"] else ""
        return f"`{run.fields['commit'] or '?'}{changed}`, {run.fields['build']}"

    def flags(run: RecordedRun) -> str:
        return f"`{run.fields['flags']}`" if run.fields["flags"] else "(none)"

    def machine(run: RecordedRun) -> str | None:
        at = run.fields["machine"] or {}
        return None if "start" not in at else f"{at['start']:.2f} / {number(at.get('end'), '.2f') or '-'} s"

    return [
        ("commit, build", commit),
        ("flags", flags),
        ("cores", lambda run: number(run.fields["cores"], "d")),
        ("fixed workload, start / end", machine),
    ]


def throughput_rows(transport: str) -> list[Row]:
    """Messages per CPU-second (against the target, in memory) and per second of wall clock."""
    memory = transport == "memory"

    def per_core(run: RecordedRun) -> str | None:
        f = run.one("throughput", transport)
        if not f:
            return None
        missed = memory and (f["stalled"] or f["msgs_per_cpu_second"] < TARGET_PER_CORE)
        stalled = f" (stalled at {f['messages']:,})" if f["stalled"] else ""
        return f"{f['msgs_per_cpu_second']:,.0f}{stalled}{' (missed)' if missed else ''}"

    def wall(run: RecordedRun) -> str | None:
        return number(run.one("throughput", transport).get("msgs_per_second"), ",.0f")

    target = f" (target {TARGET_PER_CORE:,.0f})" if memory else ""
    return [(f"messages per CPU-second{target}", per_core), ("messages/s, wall clock", wall)]


def tick_rows(transport: str, stations: int, runs: list[RecordedRun]) -> list[Row]:
    """The work per tick at `stations`: CPU per station-second, and a tick's wall time."""

    def get(run: RecordedRun) -> Figures:
        return run.get("work_per_tick", transport, stations)

    tick_stations = next((get(run)["tick_stations"] for run in runs if get(run)), stations // 10)
    return [
        (
            f"CPU per station-second, {stations:,} stations",
            lambda run: number(get(run).get("cpu_ms_per_station_second"), ".3f", " ms"),
        ),
        (
            f"a tick served in, p50 / p95, {stations:,} stations ({tick_stations:,} a tick)",
            lambda run: ms_pair(get(run).get("tick_p50_ms"), get(run).get("tick_p95_ms")),
        ),
    ]


def kafka_rows(transport: str) -> list[Row]:
    """The start-up and the idle cost (Kafka only)."""

    def start(run: RecordedRun) -> str | None:
        f = run.one("start_up", transport)
        if not f:
            return None
        return (
            f"{f['started_seconds']:.2f} / {f['first_callback_seconds']:.2f} s "
            f"(session_timeout_ms {f['session_timeout_ms']:,})"
        )

    def idle(run: RecordedRun) -> str | None:
        f = run.one("idle", transport)
        if not f:
            return None
        consumers = f"{f['topics']} consumers" if f["multi_consumer"] else f"1 consumer of {f['topics']} topics"
        return f"{100 * f['cpu_share']:.0f}% ({consumers}, {f['waits']})"

    return [("start-up: `start()` returned / first callback", start), ("idle service, share of a core", idle)]


def latency_rows(transport: str, stations: int) -> list[Row]:
    """The latency run at `stations`: latency (against the target at 1,000), staleness, callbacks/s
    (about 1.0 per station-second when the service keeps up) and, in memory, the car-order age."""

    def get(run: RecordedRun, key: str) -> Any:
        return run.get("latency", transport, stations).get(key)

    def p95(run: RecordedRun) -> str | None:
        value = get(run, "latency_p95_ms")
        missed = stations == TARGET_STATIONS and value is not None and value > TARGET_P95_MS
        return None if value is None else f"{ms(value)} ms{' (missed)' if missed else ''}"

    def order_age(run: RecordedRun) -> str | None:
        if get(run, "orders") is None:
            return None
        unseen = f"{get(run, 'orders_unseen'):,} of {get(run, 'orders'):,} never seen"
        return f"{ms_pair(get(run, 'order_age_p95_ms'), get(run, 'order_age_max_ms'))} ({unseen})"

    target = f" (target {TARGET_P95_MS:.0f} ms)" if stations == TARGET_STATIONS else ""
    return [
        (f"p95 latency, {stations:,} stations{target}", p95),
        (
            f"p50 / p99 latency, {stations:,} stations",
            lambda run: ms_pair(get(run, "latency_p50_ms"), get(run, "latency_p99_ms")),
        ),
        (f"p95 staleness, {stations:,} stations", lambda run: number(get(run, "staleness_p95_ms"), ",.1f", " ms")),
        (f"callbacks/s, {stations:,} stations", lambda run: number(get(run, "callbacks_per_second"), ",.0f")),
        (f"car-order age p95 / max, {stations:,} stations", order_age),
    ]


def table(transport: str, runs: list[RecordedRun]) -> list[str]:
    """The markdown table of `runs` on `transport`: a row per figure any of them has."""
    stations = sorted(
        {
            s
            for run in runs
            for (scenario, t, s) in run.figures
            if t == transport and scenario in ("work_per_tick", "latency")
        }
    )
    rows = throughput_rows(transport)
    for n in stations:
        rows += tick_rows(transport, n, runs)
    rows += kafka_rows(transport)
    for n in stations:
        rows += latency_rows(transport, n)
    lines = [
        f"| figure ({TRANSPORTS.get(transport, transport)}) | "
        + " | ".join(str(run.fields["date"]).replace("T", " ")[:16] for run in runs)
        + " |",
        "| --- |" + " --- |" * len(runs),
    ]
    for label, cell in [*run_rows(), *rows]:
        cells = [cell(run) for run in runs]
        if any(c is not None for c in cells):
            lines.append(f"| {label} | " + " | ".join(c or "-" for c in cells) + " |")
    return lines


def region(records: Iterable[dict[str, Any]], source: str = "benchmarks/results/service.jsonl") -> str:
    """The text between BEGIN and END: a table per transport of its newest NEWEST_RUNS runs."""
    runs = recorded_runs(records)
    lines = [
        "Made by `python -m benchmarks.service_bench.tables --write docs/PERFORMANCE.md` from",
        f"`{source}` (do not edit by hand): the newest recorded runs of",
        "`bench_service.py --record`, newest first; dates UTC, the commit d_a was imported from (`+`: its",
        "sources differed from it).",
    ]
    if not runs:
        lines += ["", "No recorded runs."]
    for transport, title in TRANSPORTS.items():
        newest = [run for run in runs if transport in run.transports()][:NEWEST_RUNS]
        if newest:
            lines += ["", f"### Service, {title}", "", *table(transport, newest)]
    return "\n".join(lines)


def rewrite(document: str, new_region: str) -> str:
    """`document` with the text between its BEGIN and END lines replaced by `new_region` (the markers
    count on lines of their own only, so that the document can name them)."""
    lines = document.split("\n")
    begins = [i for i, line in enumerate(lines) if line == BEGIN]
    ends = [i for i, line in enumerate(lines) if line == END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError(f"the document needs one line {BEGIN} and, after it, one line {END}")
    return "\n".join([*lines[: begins[0] + 1], new_region, *lines[ends[0] :]])


def shown(path: Path) -> str:
    """`path` as the region names it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docs/PERFORMANCE.md's service tables from the results file")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", type=Path, metavar="DOCUMENT", help="rewrite the document's marked region")
    action.add_argument("--check", type=Path, metavar="DOCUMENT", help="exit 1 when the region differs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file (default: %(default)s)")
    args = parser.parse_args(argv)
    new_region = region(read(args.results), shown(args.results))
    document = args.write or args.check
    if document is None:
        print(new_region)
        return 0
    text = document.read_text(encoding="utf-8")
    updated = rewrite(text, new_region)
    if args.check:
        if updated != text:
            print(f"{document}: the service figures differ from {args.results}; run with --write", file=sys.stderr)
        return int(updated != text)
    document.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
