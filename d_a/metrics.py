"""Prometheus metrics and the /health endpoint of a running service (prometheus-client extra).

Counters come from the service's own counts at scrape time (nothing on the hot path); the
histograms (callback duration, end-to-end latency, data staleness, data availability) are observed by the engine
through `observe_*`. `MetricsServer` serves `/metrics` and `/health` on one port: /health answers
200 with a JSON body while the service is alive (its main loop runs, or it is restoring its
windows) and the broker was reachable recently, else 503; `/ready` answers 200 once the service
runs (its windows restored), else 503.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .probe_server import ProbeServer

__all__ = ["HealthCheck", "MetricsServer", "ServiceMetrics"]

StatusFn = Callable[[], dict[str, Any]]


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServiceMetrics(Collector):
    """The service's metrics, in a registry of their own."""

    def __init__(self, status: StatusFn, registry: CollectorRegistry | None = None) -> None:
        self.status = status
        self.registry = registry or CollectorRegistry()
        self.callback_seconds = Histogram(
            "d_a_callback_duration_seconds",
            "Time one station callback took (input, model, upload)",
            registry=self.registry,
        )
        self.latency_seconds = Histogram(
            "d_a_end_to_end_latency_seconds",
            "From the timestamp of the message that triggered a station's run to its callback",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.staleness_seconds = Histogram(
            "d_a_data_staleness_seconds",
            "From the oldest message no callback had seen yet to the callback that saw it",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.availability = Histogram(
            "d_a_data_availability_ratio",
            "_data_quality.availability_ratio of module inputs",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            registry=self.registry,
        )
        self.registry.register(self)

    def observe_callback(self, seconds: float, module_input: Any) -> None:
        self.callback_seconds.observe(seconds)
        quality = module_input.get("_data_quality") if isinstance(module_input, dict) else None
        if isinstance(quality, dict) and isinstance(quality.get("availability_ratio"), (int, float)):
            self.availability.observe(quality["availability_ratio"])

    def observe_latency(self, seconds: float) -> None:
        self.latency_seconds.observe(seconds)

    def observe_staleness(self, seconds: float) -> None:
        self.staleness_seconds.observe(seconds)

    def collect(self) -> Iterator[Any]:
        status = self.status()
        counters = status.get("counters", {})
        consumed = CounterMetricFamily("d_a_messages_consumed", "Messages consumed per topic", labels=["topic"])
        for topic, count in status.get("messages_per_topic", {}).items():
            consumed.add_metric([topic], count)
        yield consumed
        bad = CounterMetricFamily("d_a_bad_input", "Bad input skipped, per kind", labels=["kind"])
        for kind, count in status.get("bad_input", {}).items():
            bad.add_metric([kind], count)
        yield bad
        errors = CounterMetricFamily("d_a_errors", "Errors handled, per exception type", labels=["type"])
        for kind, count in status.get("errors", {}).items():
            errors.add_metric([kind], count)
        yield errors
        for name, key, text in (
            ("d_a_callbacks", "callbacks", "Station callbacks run"),
            ("d_a_callback_errors", "callback_errors", "Station callbacks that raised"),
            ("d_a_uploads", "uploads", "Results uploaded to the output topic"),
            ("d_a_upload_errors", "upload_errors", "Uploads that failed after retries"),
            ("d_a_consumption_pauses", "consumption_pauses", "Times fetching paused because callbacks were behind"),
            ("d_a_dead_letters", "dead_letters", "Messages and station summaries sent to the dead-letter topic"),
        ):
            yield CounterMetricFamily(name, text, value=counters.get(key, 0))
        batches = CounterMetricFamily("d_a_batches", "Result batches handed over", labels=["outcome"])
        batches.add_metric(["completed"], counters.get("batches_completed", 0))
        batches.add_metric(["timed_out"], counters.get("batches_timed_out", 0))
        yield batches
        yield CounterMetricFamily(
            "d_a_offset_commits", "Successful offset commits", value=status.get("offsets_committed", 0)
        )
        yield GaugeMetricFamily("d_a_active_stations", "Stations holding data", value=status.get("station_count", 0))
        yield GaugeMetricFamily("d_a_queue_depth", "Stations waiting for a worker", value=status.get("queue_depth", 0))
        yield GaugeMetricFamily(
            "d_a_held_messages", "Messages waiting for callbacks before commit", value=status.get("held_messages", 0)
        )
        yield GaugeMetricFamily(
            "d_a_dead_letters_waiting",
            "Dead letters not yet acknowledged (their messages' offsets wait)",
            value=(status.get("dead_letters") or {}).get("waiting", 0),
        )
        yield GaugeMetricFamily(
            "d_a_failing_stations",
            "Stations whose callback raised dead_letter_after_failures times in a row or more",
            value=len(status.get("failing_stations") or {}),
        )
        lag = GaugeMetricFamily("d_a_consumer_lag", "Messages behind the end of each topic", labels=["topic"])
        for topic, partitions in status.get("lag", {}).items():
            lag.add_metric([topic], sum(p.get("lag") or 0 for p in partitions.values()))
        yield lag
        state = status.get("state")
        if state is not None:
            yield GaugeMetricFamily(
                "d_a_restore_seconds",
                "How long restoring the windows from the checkpoint took at start",
                value=state["restore_seconds"] or 0.0,
            )
            yield GaugeMetricFamily(
                "d_a_restored_stations",
                "Stations whose windows came from the checkpoint",
                value=state["restored_stations"],
            )
            yield CounterMetricFamily("d_a_checkpoint_rounds", "Checkpoint rounds written", value=state["rounds"])
            yield CounterMetricFamily(
                "d_a_checkpoint_failures", "Checkpoint rounds that could not be written", value=state["failed_rounds"]
            )
        scale_out = status.get("scale_out")
        if scale_out is not None:
            owned = GaugeMetricFamily(
                "d_a_owned_slot", "1 for each slot (partition number) this instance owns (scale_out)", labels=["slot"]
            )
            for slot in scale_out["owned"]:
                owned.add_metric([str(slot)], 1)
            yield owned
            yield CounterMetricFamily(
                "d_a_stations_moved_away",
                "Stations dropped because their slot moved to another instance",
                value=scale_out["stations_moved_away"],
            )
        loaded = GaugeMetricFamily(
            "d_a_global_topic_loaded", "1 once a global topic was read up to its end offsets at start", labels=["topic"]
        )
        for topic, progress in status.get("global_topics", {}).items():
            loaded.add_metric([topic], 1 if progress.get("loaded") else 0)
        yield loaded

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HealthCheck:
    """Healthy while the main loop runs and the broker was unreachable for less than `grace` s."""

    def __init__(self, status: StatusFn, grace: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.status = status
        self.grace = grace
        self.clock = clock
        self._down_since: float | None = None

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        status = self.status()
        connected = bool(status.get("consumer_alive")) and status.get("producer_alive") is not False
        now = self.clock()
        if connected:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = now
        down_for = 0.0 if self._down_since is None else now - self._down_since
        alive = bool(status.get("main_loop_alive", status.get("main_thread_alive")) or status.get("restoring"))
        healthy = alive and down_for < self.grace
        body = {
            "healthy": healthy,
            "ready": bool(status.get("ready")),
            "restoring": bool(status.get("restoring")),
            "restore_progress": (status.get("state") or {}).get("restore_progress"),
            "main_loop_alive": status.get("main_loop_alive", status.get("main_thread_alive")),
            "consumer_connected": status.get("consumer_alive"),
            "producer_connected": status.get("producer_alive"),
            "broker_unreachable_seconds": round(down_for, 1),
            "stations": status.get("station_count"),
            "seconds_since_last_message": status.get("seconds_since_last_message"),
            "errors": status.get("errors", {}),
            "bad_input": status.get("bad_input", {}),
        }
        return healthy, body


class MetricsServer(ProbeServer):
    """Serves `/metrics`, `/health` and `/ready` on 127.0.0.1 or all interfaces, in a daemon thread."""

    def __init__(self, metrics: ServiceMetrics, health: HealthCheck, port: int, host: str = "0.0.0.0") -> None:
        def ready() -> tuple[bool, dict[str, Any]]:
            _, body = health()
            return bool(body["ready"]), body

        super().__init__(port, host, metrics=metrics.exposition, health=health, ready=ready, name="d_a-metrics")
