"""EngineStats: what a running engine counts and samples, and the observer told of each run.

Counters (messages, callbacks, uploads, ...) and messages per topic only grow; latency and
staleness are the latest LATENCY_SAMPLES delays, in ms:

- latency: from the oldest message that triggered a station's run to its callback;
- staleness: from the oldest message no callback had seen to the callback that saw it (it also
  counts data that waits for its trigger by design, e.g. car orders of a second in progress).

`snapshot()` is what the status, the metrics and the benchmarks read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["COUNTERS", "LATENCY_SAMPLES", "EngineObserver", "EngineStats", "percentiles"]

LATENCY_SAMPLES = 10_000
COUNTERS = (
    "messages",
    "bad_messages",
    "callbacks",
    "callback_errors",
    "uploads",
    "upload_errors",
    "batches_completed",
    "batches_timed_out",
    "consumption_pauses",
)


class EngineObserver(Protocol):
    """Told of every run as it happens (e.g. `d_a.metrics.ServiceMetrics`, for its histograms)."""

    def observe_callback(self, seconds: float, module_input: Any) -> None: ...

    def observe_latency(self, seconds: float) -> None: ...

    def observe_staleness(self, seconds: float) -> None: ...


def percentiles(samples: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 of `samples` (the sample at rank q * n), None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


class EngineStats:
    """An engine's counters, per-topic message counts and delay samples."""

    def __init__(self, topics: Iterable[str], observer: EngineObserver | None = None) -> None:
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.messages_per_topic: dict[str, int] = dict.fromkeys(topics, 0)
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.staleness_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.observer = observer
        self.last_message_at: float | None = None  # monotonic time of the last poll that brought messages
        self._due_since_ms: dict[str, int] = {}  # per queued station: the oldest message that triggered it

    def applied(self, topic: str, count: int) -> None:
        """`count` messages of `topic` were applied."""
        self.messages_per_topic[topic] = self.messages_per_topic.get(topic, 0) + count

    def due(self, station: str, oldest_ms: int) -> None:
        """A message of time `oldest_ms` triggered `station` (the oldest one counts until it runs)."""
        self._due_since_ms.setdefault(station, oldest_ms)

    def run_begins(self, station: str) -> int | None:
        """The time of the oldest message that triggered this run, None if none did."""
        return self._due_since_ms.pop(station, None)

    def forget(self, station: str) -> None:
        self._due_since_ms.pop(station, None)

    def observe_delays(self, due_since_ms: int | None, oldest_unseen_ms: int | None) -> None:
        """Sample a run's latency and staleness (see the module docstring)."""
        now_ms = time.time() * 1000
        observer = self.observer
        delays = (
            (due_since_ms, self.latencies_ms, observer and observer.observe_latency),
            (oldest_unseen_ms, self.staleness_ms, observer and observer.observe_staleness),
        )
        for since_ms, samples, observe in delays:
            if since_ms is not None:
                delay_ms = max(0.0, now_ms - since_ms)
                samples.append(delay_ms)
                if observe:
                    observe(delay_ms / 1000)

    def observe_callback(self, seconds: float, module_input: Any) -> None:
        if self.observer is not None:
            self.observer.observe_callback(seconds, module_input)

    def snapshot(self) -> dict[str, Any]:
        """Counters, messages per topic, and the p50/p95/p99 of the delay samples (ms)."""
        return {
            "counters": dict(self.counters),
            "messages_per_topic": dict(self.messages_per_topic),
            "latency_ms": percentiles(self.latencies_ms),
            "staleness_ms": percentiles(self.staleness_ms),
        }

    def drain(self) -> tuple[list[float], list[float]]:
        """The latency and staleness samples taken since the last drain or reset, removed."""
        taken = list(self.latencies_ms), list(self.staleness_ms)
        self.reset()
        return taken

    def reset(self) -> None:
        """Forget the delay samples (counters keep counting)."""
        self.latencies_ms.clear()
        self.staleness_ms.clear()
