"""The results file: what a run was (date, commit, build, flags, the machine's speed) and one JSON line
per scenario result, appended to `benchmarks/results/service.jsonl` with `--record`; `tables` turns
the newest of them into docs/PERFORMANCE.md's figures. Imports d_a only to tell which build runs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .results import Result

RESULTS = Path(__file__).resolve().parents[1] / "results" / "service.jsonl"
RUN_FIELDS = ("date", "commit", "dirty", "build", "cores", "flags", "machine")


def machine_seconds() -> float:
    """Seconds for a fixed pure-Python workload of small dicts and lists, like the service's (median
    of five): how fast this machine is now, to compare figures taken on different days (the same
    VM class has run this code at less than half its usual speed, and its speed changes by the minute)."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        rows = [{"gunNo": i % 12, "outputPower": i * 0.5, "soc": i % 100} for i in range(100_000)]
        by_gun: dict[int, list[float]] = {}
        for row in rows:
            by_gun.setdefault(row["gunNo"], []).append(row["outputPower"] * row["soc"])
        rows.sort(key=lambda row: row["soc"])
        times.append(time.perf_counter() - t0)
    return sorted(times)[2]


def build() -> str:
    """Which build of d_a runs: `compiled` (mypyc, setup.py; what `make bench` runs) when its hot
    modules are extension modules, else `pure` (plain `python`)."""
    import d_a.windows.store

    return "compiled" if d_a.windows.store.__file__.endswith(".so") else "pure"


def git(*args: str) -> subprocess.CompletedProcess[str] | None:
    """`git args` in the directory d_a is imported from (the tree it was built from); None outside git."""
    import d_a

    try:
        return subprocess.run(
            ["git", "-C", os.path.dirname(d_a.__file__), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None


def commit() -> tuple[str | None, bool]:
    """The short hash of the commit d_a comes from, and whether its sources differ from it."""
    head = git("rev-parse", "--short", "HEAD")
    if head is None or head.returncode != 0:
        return None, False
    changed = git("diff", "--quiet", "HEAD", "--", ":/d_a", ":/setup.py", ":/pyproject.toml")
    return head.stdout.strip(), changed is not None and changed.returncode == 1


@dataclass
class Run:
    """What every record of one run shares."""

    date: str  # when the run began, UTC, ISO 8601
    commit: str | None
    dirty: bool  # d_a's sources differ from `commit`
    build: str  # compiled | pure
    cores: int | None
    flags: str  # the command line's arguments but where the results go
    machine: dict[str, float]  # the fixed workload's seconds at the start and the end

    @classmethod
    def now(cls, flags: Iterable[str], machine_at_start: float) -> Run:
        sha, dirty = commit()
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(date, sha, dirty, build(), os.cpu_count(), " ".join(measuring(flags)), {"start": machine_at_start})


def measuring(flags: Iterable[str]) -> list[str]:
    """`flags` without `--record` and `--results FILE`: those that change what is measured."""
    kept: list[str] = []
    skip = False
    for flag in flags:
        if not skip and flag != "--record" and not flag.startswith("--results"):
            kept.append(flag)
        skip = flag == "--results"
    return kept


def rounded(value: Any) -> Any:
    """`value` with its floats to 4 decimals (a tenth of a microsecond in ms), in its dicts too."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return value


def records(run: Run, results: Iterable[Result]) -> list[dict[str, Any]]:
    """One record per scenario result: the run's fields, then the scenario, transport, stations, figures."""
    shared = {name: getattr(run, name) for name in RUN_FIELDS}
    return [
        rounded(
            {
                **shared,
                "scenario": r.SCENARIO,
                "transport": r.label,
                "stations": r.stations,
                "figures": r.figures(),
            }
        )
        for r in results
    ]


def append(path: Path, new: Iterable[dict[str, Any]]) -> int:
    """Append `new` to the results file at `path`, one JSON line each; how many were written."""
    lines = [orjson.dumps(record) + b"\n" for record in new]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.writelines(lines)
    return len(lines)


def read(path: Path) -> list[dict[str, Any]]:
    """Every record of the results file at `path`, in the order they were written (none if it is missing)."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
