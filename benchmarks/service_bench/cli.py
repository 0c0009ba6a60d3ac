"""The command line: which runs, in which order, on which transports; prints each run's figures as it
ends, then the summary, and with `--record` appends the results to the results file."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as DOC
from .env import KAFKA_GROUP, MODULE, ORDER_FOLLOW_SECONDS, Options, in_env, slow_topics
from .feeders import THROUGHPUT_STATIONS
from .profiling import print_profile
from .record import RESULTS, Run, append, build, machine_seconds, records
from .report import (
    print_idle_cost,
    print_latency,
    print_machine,
    print_start_up,
    print_summary,
    print_throughput,
    print_tick_cost,
)
from .results import Latency, Result, Throughput, TickCost
from .scenarios import IDLE_SECONDS, START_MODULE, idle_cost, latency, start_up, throughput, tick_cost

LATENCY_STATIONS = (100, 1_000)
WARM_UP_SECONDS = 20.0  # past the 15-second device reports: every station has sent each once (steady state)
MEASURE_SECONDS = 15.0
QUICK_SECONDS = (3.0, 5.0)  # --quick: warm-up and measurement, still in the start-up transient
BUILDS = {"compiled": "d_a compiled with mypyc", "pure": "pure-Python d_a"}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(DOC or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 messages, 3 + 5 s latency runs")
    parser.add_argument("--broker", choices=("memory", "embedded", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-memory throughput run")
    parser.add_argument(
        "--latency-only", action="store_true", help="only the latency runs (no throughput, ticks, idle)"
    )
    parser.add_argument(
        "--order-follow-seconds",
        type=float,
        default=ORDER_FOLLOW_SECONDS,
        help="in memory: how long the feed goes on after the measurement (0: it ends every station's session)",
    )
    parser.add_argument(
        "--stations",
        default=",".join(map(str, LATENCY_STATIONS)),
        help="stations of the latency and tick runs, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        help="the start-up run's session_timeout_ms (default: the packaged default's)",
    )
    parser.add_argument(
        "--start-up-only", action="store_true", help="only the start-up run (on the embedded broker or D_A_BOOTSTRAP)"
    )
    parser.add_argument(
        "--single-consumer", action="store_true", help="Kafka: multi_consumer_mode false (one consumer for all topics)"
    )
    parser.add_argument(
        "--fetch-wait-ms", type=int, default=KAFKA_GROUP["fetch_max_wait_ms"], help="Kafka: fetch_max_wait_ms"
    )
    parser.add_argument(
        "--slow-topics-wait-ms",
        type=int,
        help="Kafka: fetch_max_wait_ms of the consumers of topics sent less than once a minute (topic_overrides)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="append the results to the results file, one JSON line each (off: a trial run changes no file)",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="the results file of --record (default: %(default)s)"
    )
    return parser


def options(args: argparse.Namespace) -> Options:
    """The Kafka settings and run options the flags ask for."""
    chosen = Options(session_timeout_ms=args.session_timeout_ms, order_follow_seconds=args.order_follow_seconds)
    if args.single_consumer:
        chosen.kafka["multi_consumer_mode"] = False
    chosen.kafka["fetch_max_wait_ms"] = args.fetch_wait_ms
    if args.slow_topics_wait_ms is not None:
        chosen.kafka["topic_overrides"] = {t: {"fetch_max_wait_ms": args.slow_topics_wait_ms} for t in slow_topics()}
    return chosen


def save(args: argparse.Namespace, run: Run, results: Sequence[Result]) -> None:
    """`--record`: the results, one line each, to the results file."""
    if args.record:
        written = append(args.results, records(run, results))
        print(f"\nrecorded {written} results in {args.results}")


def start_up_only(args: argparse.Namespace, chosen: Options) -> None:
    """`--start-up-only`: the start-up run alone (the machine's speed around it when recording)."""
    run = Run.now(sys.argv[1:], machine_seconds()) if args.record else None
    print(f"start-up: a service of {START_MODULE}, the packaged default's Kafka settings, a new group")
    result = in_env("embedded", start_up, chosen)
    print_start_up(result)
    if run is not None:
        run.machine["end"] = machine_seconds()
        print_machine(run.machine["start"], run.machine["end"])
        save(args, run, [result])


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    chosen = options(args)
    if args.start_up_only:
        start_up_only(args, chosen)
        return
    count = 50_000 if args.quick else 200_000
    warm_up, measure = QUICK_SECONDS if args.quick else (WARM_UP_SECONDS, MEASURE_SECONDS)
    kinds = ["memory", "embedded"] if args.broker == "both" else [args.broker]
    external = os.environ.get("D_A_BOOTSTRAP")
    latency_stations = [int(n) for n in args.stations.split(",")]

    print(
        f"d_a service benchmark ({'quick' if args.quick else 'full'}; module {MODULE}; {os.cpu_count()} cores"
        f"{'; Kafka at ' + external if external else ''}{'; single consumer' if args.single_consumer else ''}"
        f"; Kafka {chosen.kafka_waits()}; {BUILDS[build()]})"
    )
    run = Run.now(sys.argv[1:] if argv is None else argv, machine_seconds())
    results: list[Result] = []
    if not args.latency_only:
        print(
            f"\nthroughput: {count:,} pre-loaded simulator messages, {THROUGHPUT_STATIONS:,} stations, "
            "cheap sync callback"
        )
    throughputs: list[Throughput] = []
    for kind in [] if args.latency_only else kinds:
        throughputs.append(in_env(kind, lambda env: throughput(env, count), chosen))
        print_throughput(throughputs[-1])
    print(
        "\nlatency (triggering message -> callback) and staleness (oldest unseen message -> callback), "
        f"real-time feed, {warm_up:.0f} s warm-up, "
        f"{measure:.0f} s measured (Kafka: the feeder publishes from a process of its own)"
    )
    ticks: list[TickCost] = []
    if "memory" in kinds and not args.latency_only:
        print(
            "\nwork per tick: the real-time feed's ticks, each published once the one before is served "
            f"(in memory; {warm_up:.0f} simulated s of warm-up, {measure:.0f} s measured)"
        )
        for stations in latency_stations:
            ticks.append(
                in_env("memory", lambda env, n=stations: tick_cost(env, n, int(warm_up), int(measure)), chosen)
            )
            print_tick_cost(ticks[-1])
    results += throughputs + ticks
    kafka_kinds = [kind for kind in kinds if kind != "memory"]
    if kafka_kinds and not args.latency_only:
        print(f"\nstart-up: a service of {START_MODULE}, the packaged default's Kafka settings, a new group")
        for kind in kafka_kinds:
            started = in_env(kind, start_up, chosen)
            print_start_up(started)
            results.append(started)
        print(f"\nidle: CPU of a started service with no data flowing ({IDLE_SECONDS:.0f} s)")
        for kind in kafka_kinds:
            idle = in_env(kind, idle_cost, chosen)
            print_idle_cost(idle)
            results.append(idle)
    latencies: list[Latency] = []
    for kind in kinds:
        for stations in latency_stations:
            latencies.append(in_env(kind, lambda env, n=stations: latency(env, n, warm_up, measure), chosen))
            print_latency(latencies[-1])
    results += latencies
    run.machine["end"] = machine_seconds()
    print_summary(throughputs, ticks, latencies)
    print_machine(run.machine["start"], run.machine["end"])
    save(args, run, results)
    if args.profile:
        print_profile(count, chosen)
