"""The command line: the matrix of runs (kind x callback x stations, a pair of worker counts each), run
one after another, each row printed as it ends; then the targets, the per-station costs and the plan."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence

from service_bench.record import build, machine_seconds

from . import __doc__ as DOC
from . import procs
from .report import (
    print_backlog,
    print_backlog_header,
    print_costs,
    print_live,
    print_live_header,
    print_plan,
    print_targets,
)
from .runs import BacklogResult, LiveResult, Options, Setting, run_backlog, run_live

KINDS = ("backlog", "live")
CALLBACKS = ("trivial", "heavy")
BACKLOG_PER_1000 = 200_000
QUICK_BACKLOG_PER_1000 = 50_000
WARM_UP_SECONDS, MEASURE_SECONDS = 20.0, 15.0
QUICK_SECONDS = (5.0, 5.0)


def words(text: str, allowed: Sequence[str]) -> list[str]:
    found = [w.strip() for w in text.split(",") if w.strip()]
    wrong = [w for w in found if w not in allowed]
    if wrong:
        raise argparse.ArgumentTypeError(f"{', '.join(wrong)}: not one of {', '.join(allowed)}")
    return found


def numbers(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(DOC or "").splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="a smoke test: 50,000 messages per 1,000 stations, 5 + 5 s live"
    )
    p.add_argument("--runs", type=lambda t: words(t, KINDS), default=list(KINDS), help="backlog,live")
    p.add_argument("--callback", type=lambda t: words(t, CALLBACKS), default=list(CALLBACKS), help="trivial,heavy")
    p.add_argument("--workers", type=numbers, default=[1, 2], help="worker counts, paired (default 1,2)")
    p.add_argument("--stations", type=numbers, default=[1_000, 2_000], help="default 1000,2000")
    p.add_argument("--partitions", type=int, default=12, help="partitions of every topic: the slots (default 12)")
    p.add_argument("--backlog-per-1000", type=int, help=f"backlog messages per 1,000 stations ({BACKLOG_PER_1000:,})")
    p.add_argument("--warm-up", type=float, help=f"live warm-up seconds ({WARM_UP_SECONDS:g})")
    p.add_argument("--measure", type=float, help=f"live measured seconds ({MEASURE_SECONDS:g})")
    p.add_argument("--repeat", type=int, default=1, help="pairs of each setting (default 1)")
    p.add_argument(
        "--backlog-runs",
        choices=("newest", "every_batch"),
        help="the workers' service.backlog_runs (default: the packaged default, newest)",
    )
    return p


def options(args: argparse.Namespace) -> Options:
    warm_up, measure = QUICK_SECONDS if args.quick else (WARM_UP_SECONDS, MEASURE_SECONDS)
    per_1000 = QUICK_BACKLOG_PER_1000 if args.quick else BACKLOG_PER_1000
    return Options(
        args.partitions,
        args.backlog_per_1000 or per_1000,
        args.warm_up if args.warm_up is not None else warm_up,
        args.measure if args.measure is not None else measure,
        {"backlog_runs": args.backlog_runs} if args.backlog_runs else {},
    )


def matrix(args: argparse.Namespace, kind: str) -> Iterator[Setting]:
    """The runs of `kind`: per callback and station count, `--repeat` pairs of the worker counts, the
    order reversed from one pair to the next (a drifting machine favours neither count)."""
    pair = 0
    for callback in args.callback:
        for stations in args.stations:
            for _ in range(args.repeat):
                for workers in reversed(args.workers) if pair % 2 else args.workers:
                    yield Setting(kind, callback, stations, workers, pair)
                pair += 1


def machine_line(when: str) -> None:
    load = os.getloadavg()
    print(
        f"machine ({when}): {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"fixed Python workload {machine_seconds():.3f} s",
        flush=True,
    )


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the benchmark as Ctrl-C does: the run under way stops its processes."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    interrupt_on_sigterm()
    chosen = options(args)
    import d_a

    print(
        f"d_a scale-out benchmark ({'quick' if args.quick else 'full'}; module operation_optimization; "
        f"embedded broker; {build()} build of d_a from {os.path.dirname(d_a.__file__)}; "
        f"python {sys.version.split()[0]})"
    )
    machine_line("start")
    backlogs: list[BacklogResult] = []
    lives: list[LiveResult] = []
    try:
        for kind in args.runs:
            if kind == "backlog":
                print_backlog_header(chosen.backlog_per_1000, chosen.partitions)
            else:
                print_live_header(chosen.warm_up, chosen.measure)
            for setting in matrix(args, kind):
                try:
                    if kind == "backlog":
                        backlogs.append(asyncio.run(run_backlog(setting, chosen)))
                        print_backlog(backlogs[-1], backlogs)
                    else:
                        lives.append(asyncio.run(run_live(setting, chosen)))
                        print_live(lives[-1])
                except Exception:  # noqa: BLE001 - one failed run is reported; the others still run
                    print(f"  {setting}: FAILED (load {procs.load():.2f})")
                    traceback.print_exc()
                sys.stdout.flush()
    except KeyboardInterrupt:
        print("\ninterrupted: the figures so far")
    print_targets(backlogs, lives)
    print_costs(lives)
    print_plan(lives, chosen)
    machine_line("end")
