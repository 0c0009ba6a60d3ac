"""What each scenario measured, and the figures derived from it: the printed ones and those a
results record keeps (`figures()`: numbers only, no samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from d_a.service.stats import percentiles


def percentile(samples: Sequence[float], q: float) -> float | None:
    """p50 / p95 / p99 (q = 0.5 / 0.95 / 0.99) over all samples of a run, by the engine's rule."""
    return percentiles(samples)[f"p{round(q * 100)}"]


@dataclass
class Throughput:
    """Pre-loaded messages consumed and served: how long it took, and the CPU of this process."""

    SCENARIO: ClassVar[str] = "throughput"

    label: str
    stations: int
    messages: int
    seconds: float
    cpu_seconds: float
    callbacks: int
    uploads: int
    join_seconds: float
    expected: int
    stalled: bool = False

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def per_core(self) -> float:
        return self.messages / self.cpu_seconds if self.cpu_seconds else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "expected": self.expected,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "callbacks": self.callbacks,
            "uploads": self.uploads,
            "join_seconds": self.join_seconds,
            "stalled": self.stalled,
            "msgs_per_second": self.rate,
            "msgs_per_cpu_second": self.per_core,
        }


@dataclass
class TickCost:
    """The real-time feed's ticks served one after another: CPU and wall time per tick."""

    SCENARIO: ClassVar[str] = "work_per_tick"

    label: str
    stations: int
    tick_stations: int  # the stations of one tick (a tenth of them)
    seconds: int
    runs: int
    cpu_seconds: float
    tick_ms: list[float]  # wall time to serve each tick, sorted

    def per_station_second_ms(self) -> float:
        return 1000 * self.cpu_seconds / (self.stations * self.seconds)

    def runs_per_station_second(self) -> float:
        return self.runs / (self.stations * self.seconds)

    def tick(self, q: float) -> float | None:
        return percentile(self.tick_ms, q)

    def figures(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "tick_stations": self.tick_stations,
            "runs": self.runs,
            "cpu_seconds": self.cpu_seconds,
            "runs_per_station_second": self.runs_per_station_second(),
            "cpu_ms_per_station_second": self.per_station_second_ms(),
            "tick_p50_ms": self.tick(0.50),
            "tick_p95_ms": self.tick(0.95),
        }


@dataclass
class Latency:
    """A real-time feed's delays: triggering message -> callback, oldest unseen message -> callback,
    and (in memory) a car order's age when a callback first has it."""

    SCENARIO: ClassVar[str] = "latency"

    label: str
    stations: int
    seconds: float
    fed: int
    consumed: int
    callbacks: int
    samples: list[float]
    staleness: list[float]
    max_held: int
    max_queue: int
    order_ages: list[float] | None = None  # seconds, in memory only (see feeders.CarOrderAges)
    orders_unseen: int = 0

    def p(self, q: float) -> float | None:
        return percentile(self.samples, q)

    def stale(self, q: float) -> float | None:
        return percentile(self.staleness, q)

    def order_age(self, q: float) -> float | None:
        return None if not self.order_ages else 1000 * percentiles(self.order_ages)[f"p{round(q * 100)}"]

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "seconds": self.seconds,
            "fed_per_second": self.fed / self.seconds,
            "consumed_per_second": self.consumed / self.seconds,
            "callbacks_per_second": self.callbacks / self.seconds,
            "samples": len(self.samples),
            **{f"latency_p{q}_ms": self.p(q / 100) for q in (50, 95, 99)},
            **{f"staleness_p{q}_ms": self.stale(q / 100) for q in (50, 95, 99)},
            "max_held": self.max_held,
            "max_queue": self.max_queue,
        }
        if self.order_ages is not None:
            figures.update({f"order_age_p{q}_ms": self.order_age(q / 100) for q in (50, 95, 99)})
            figures["order_age_max_ms"] = 1000 * max(self.order_ages, default=0.0)
            figures["orders"] = len(self.order_ages)
            figures["orders_unseen"] = self.orders_unseen
        return figures


@dataclass
class IdleCost:
    """The CPU of a started service with no data flowing."""

    SCENARIO: ClassVar[str] = "idle"

    label: str
    stations: int
    topics: int
    multi_consumer: bool
    waits: str
    cpu_share: float  # CPU-seconds per second: the service's own cost with no data flowing

    def figures(self) -> dict[str, Any]:
        return {
            "topics": self.topics,
            "multi_consumer": self.multi_consumer,
            "waits": self.waits,
            "cpu_share": self.cpu_share,
        }


@dataclass
class StartUp:
    """A ten-topic service's start: to `start()` returning and to a first callback."""

    SCENARIO: ClassVar[str] = "start_up"

    label: str
    stations: int | None
    topics: int
    session_timeout_ms: int
    started: float  # seconds from `start()` to its return: every consumer has joined its group
    first_callback: float  # seconds from `start()` to the callback of a message sent when it returned

    def figures(self) -> dict[str, Any]:
        return {
            "topics": self.topics,
            "session_timeout_ms": self.session_timeout_ms,
            "started_seconds": self.started,
            "first_callback_seconds": self.first_callback,
        }


Result = Throughput | TickCost | Latency | IdleCost | StartUp
