"""docs/PERFORMANCE.md's service-benchmark tables are made from the results file, never by hand.

The marked region must be what `benchmarks/service_bench/tables.py` makes from
benchmarks/results/service.jsonl; a run's records go into a results file and come back out as the
tables. No benchmark runs here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.service_bench import record, tables  # noqa: E402
from benchmarks.service_bench.results import IdleCost, Latency, StartUp, Throughput, TickCost  # noqa: E402

PERFORMANCE = REPO / "docs" / "PERFORMANCE.md"


def test_the_service_tables_are_made_from_the_results_file() -> None:
    text = PERFORMANCE.read_text(encoding="utf-8")
    made = tables.rewrite(text, tables.region(record.read(record.RESULTS)))
    assert text == made, (
        "docs/PERFORMANCE.md's service tables differ from benchmarks/results/service.jsonl: run "
        "`python -m benchmarks.service_bench.tables --write docs/PERFORMANCE.md` instead of editing them"
    )


def a_run(date: str, build: str, flags: str) -> record.Run:
    return record.Run(date, "abc1234", build == "pure", build, 2, flags, {"start": 0.11, "end": 0.23})


def results() -> list:
    samples = [float(n) for n in range(1, 101)]  # p50 51, p95 96, p99 100 ms
    return [
        Throughput("memory", 1_000, 50_000, 2.0, 1.6, 2_000, 1_000, 0.0, 50_000),
        TickCost("memory", 1_000, 100, 5, 5_000, 2.5, [40.0, 50.0, 60.0]),
        Latency("memory", 1_000, 5.0, 25_000, 25_000, 5_000, samples, samples, 90, 3, [1.0, 1.5], 2),
        StartUp("embedded", None, 12, 8_000, 4.08, 4.12),
        IdleCost("embedded", 10, 12, True, "fetch_max_wait_ms 10", 0.49),
        Latency("embedded", 100, 5.0, 2_500, 2_500, 650, samples[:10], samples[:10], 10, 0),
    ]


def test_a_runs_records_come_back_as_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "results" / "service.jsonl"
    older = a_run("2026-12-01T09:00:00Z", "pure", "--broker embedded")
    newer = a_run("2026-12-02T10:30:00Z", "compiled", "")
    assert record.append(path, record.records(older, results()[3:])) == 3
    assert record.append(path, record.records(newer, results())) == 6

    back = record.read(path)
    assert [r["scenario"] for r in back[3:5]] == ["throughput", "work_per_tick"]
    assert back[3] | {"figures": None} == {
        "date": "2026-12-02T10:30:00Z",
        "commit": "abc1234",
        "dirty": False,
        "build": "compiled",
        "cores": 2,
        "flags": "",
        "machine": {"start": 0.11, "end": 0.23},
        "scenario": "throughput",
        "transport": "memory",
        "stations": 1_000,
        "figures": None,
    }
    assert back[3]["figures"]["msgs_per_cpu_second"] == 31_250.0

    region = tables.region(back, "results.jsonl")
    memory = region[region.index("### Service, in memory") : region.index("### Service, embedded broker")]
    embedded = region[region.index("### Service, embedded broker") :]
    assert "| figure (in memory) | 2026-12-02 10:30 |" in memory
    assert "| messages per CPU-second (target 30,000) | 31,250 |" in memory
    assert "| CPU per station-second, 1,000 stations | 0.500 ms |" in memory
    assert "| a tick served in, p50 / p95, 1,000 stations (100 a tick) | 50.0 / 60.0 ms |" in memory
    assert "| p95 latency, 1,000 stations (target 50 ms) | 96.0 ms (missed) |" in memory
    assert "| car-order age p95 / max, 1,000 stations | 1,500.0 / 1,500.0 ms (2 of 2 never seen) |" in memory
    assert "| fixed workload, start / end | 0.11 / 0.23 s |" in memory
    assert "| figure (embedded broker) | 2026-12-02 10:30 | 2026-12-01 09:00 |" in embedded  # newest first
    assert "| commit, build | `abc1234`, compiled | `abc1234+`, pure |" in embedded
    assert "| flags | (none) | `--broker embedded` |" in embedded
    assert (
        "| idle service, share of a core | 49% (12 consumers, fetch_max_wait_ms 10) | 49% (12 consumers, " in embedded
    )
    assert "| p95 latency, 100 stations | 10.0 ms | 10.0 ms |" in embedded
    assert "car-order age" not in embedded and "tick" not in embedded

    document = tmp_path / "PERFORMANCE.md"
    document.write_text(
        f"# Performance\n\nbefore\n{tables.BEGIN}\nan old table\n{tables.END}\nafter\n", encoding="utf-8"
    )
    arguments = ["--results", str(path)]
    assert tables.main(["--check", str(document), *arguments]) == 1
    assert tables.main(["--write", str(document), *arguments]) == 0
    assert tables.main(["--check", str(document), *arguments]) == 0
    text = document.read_text(encoding="utf-8")
    assert text.startswith(f"# Performance\n\nbefore\n{tables.BEGIN}\n") and text.endswith(f"\n{tables.END}\nafter\n")
    assert "an old table" not in text and "| messages per CPU-second (target 30,000) | 31,250 |" in text


def test_recorded_flags_leave_out_where_the_results_go() -> None:
    argv = ["--quick", "--record", "--results", "x.jsonl", "--broker", "memory", "--results=y.jsonl"]
    assert record.measuring(argv) == ["--quick", "--broker", "memory"]


def test_an_empty_results_file_makes_no_table(tmp_path: Path) -> None:
    assert record.read(tmp_path / "missing.jsonl") == []
    assert "No recorded runs." in tables.region([])


@pytest.mark.parametrize(
    "document",
    [
        "no markers",
        f"{tables.END}\n{tables.BEGIN}",
        f"{tables.BEGIN}\n{tables.BEGIN}\n{tables.END}",
        f"named inline: `{tables.BEGIN}` and `{tables.END}`",
    ],
)
def test_a_document_without_one_marked_region_is_refused(document: str) -> None:
    with pytest.raises(ValueError):
        tables.rewrite(document, "region")
