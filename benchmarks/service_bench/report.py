"""The figures as the benchmark prints them: a line per run as it ends, then the summary against the
targets. Imports no d_a, so that `tables` can share its formats and targets cheaply."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import IdleCost, Latency, StartUp, Throughput, TickCost

TARGET_PER_CORE = 30_000.0  # messages per CPU-second, in memory
TARGET_P95_MS = 50.0  # at 1,000 stations
TARGET_STATIONS = 1_000


def ms(value: float | None) -> str:
    """Milliseconds as printed: one decimal, `-` for none."""
    return "-" if value is None else f"{value:,.1f}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_throughput(r: Throughput) -> None:
    state = f" STALLED at {r.messages:,}" if r.stalled else ""
    untimed = r.expected - r.messages if not r.stalled else 0
    joined = f" (after the joins, {r.join_seconds:.1f} s and {untimed:,} msgs untimed)" if r.join_seconds else ""
    print(
        f"  {r.label:9s} {r.messages:>7,} msgs in {r.seconds:5.2f} s{state}: {r.rate:>6,.0f} msgs/s, "
        f"{r.callbacks / r.seconds:>4,.0f} callbacks/s, {r.uploads:,} uploads; "
        f"CPU {r.cpu_seconds:5.2f} s = {r.per_core:>6,.0f} msgs per CPU-second{joined}"
    )


def print_latency(r: Latency) -> None:
    print(
        f"  {r.label:9s} {r.stations:>5,} stations: fed {r.fed / r.seconds:>6,.0f} msgs/s, "
        f"consumed {r.consumed / r.seconds:>6,.0f}/s, {r.callbacks / r.seconds:>6,.0f} callbacks/s; "
        f"latency p50 {ms(r.p(0.50))} / p95 {ms(r.p(0.95))} / p99 {ms(r.p(0.99))} ms ({len(r.samples):,} samples); "
        f"staleness p50 {ms(r.stale(0.50))} / p95 {ms(r.stale(0.95))} / p99 {ms(r.stale(0.99))} ms; "
        f"max held {r.max_held:,}, max queue {r.max_queue:,}"
    )
    if r.order_ages is not None:
        oldest = 1000 * max(r.order_ages, default=0.0)
        print(
            f"  {'':9s} {'':>5s}           car-order age at its first callback p50 {ms(r.order_age(0.50))} / "
            f"p95 {ms(r.order_age(0.95))} / p99 {ms(r.order_age(0.99))} / max {ms(oldest)} ms "
            f"({len(r.order_ages):,} orders); {r.orders_unseen:,} orders never in a callback's car_orders"
        )


def print_tick_cost(r: TickCost) -> None:
    print(
        f"  {r.label:9s} {r.stations:>5,} stations: {r.runs_per_station_second():.2f} runs per station-second, "
        f"CPU {r.per_station_second_ms():.3f} ms per station-second; "
        f"a tick ({r.tick_stations:,} stations) served in "
        f"p50 {ms(r.tick(0.50))} / p95 {ms(r.tick(0.95))} ms"
    )


def print_start_up(r: StartUp) -> None:
    print(
        f"  {r.label:9s} {r.topics} topics, session_timeout_ms {r.session_timeout_ms:,}: started in "
        f"{r.started:.2f} s, first callback {r.first_callback:.2f} s after start() began"
    )


def print_idle_cost(r: IdleCost) -> None:
    consumers = f"{r.topics} consumers, one per topic" if r.multi_consumer else f"1 consumer of {r.topics} topics"
    print(f"  {r.label:9s} idle service: {100 * r.cpu_share:.0f}% of a core ({consumers}, {r.waits})")


def print_summary(throughputs: list[Throughput], ticks: list[TickCost], latencies: list[Latency]) -> None:
    print("\nsummary")
    print(f"  {'figure':52s} {'measured':>16s}  {'target':22s}")
    for r in throughputs:
        rate = f"{r.per_core:,.0f}/s"
        if r.label == "memory":
            target = f">= {TARGET_PER_CORE:,.0f}/s per core  {verdict(r.per_core >= TARGET_PER_CORE and not r.stalled)}"
        else:
            target = "-"
        print(f"  {'throughput, ' + r.label + ', msgs per CPU-second':52s} {rate:>16s}  {target}")
        print(f"  {'throughput, ' + r.label + ', msgs/s wall clock':52s} {r.rate:>14,.0f}/s  -")
    for t in ticks:
        label = f"CPU per station-second, {t.stations:,} stations"
        print(f"  {label:52s} {t.per_station_second_ms():>13.3f} ms  -")
    for r in latencies:
        p95 = r.p(0.95)
        if r.stations == TARGET_STATIONS:
            target = f"<= {TARGET_P95_MS:.0f} ms  {verdict(p95 is not None and p95 <= TARGET_P95_MS)}"
        else:
            target = "-"
        print(f"  {f'p95 latency, {r.label}, {r.stations:,} stations':52s} {ms(p95) + ' ms':>16s}  {target}")
        print(f"  {f'p95 staleness, {r.label}, {r.stations:,} stations':52s} {ms(r.stale(0.95)) + ' ms':>16s}  -")
        if r.order_ages is not None:
            label = f"p95 car-order age, {r.label}, {r.stations:,} stations"
            print(f"  {label:52s} {ms(r.order_age(0.95)) + ' ms':>16s}  -")


def print_machine(at_start: float, at_end: float) -> None:
    print(
        f"  {'machine: a fixed Python workload, at the start / end':52s} "
        f"{at_start:>7.2f} / {at_end:.2f} s  (compare figures of different days by it)"
    )
