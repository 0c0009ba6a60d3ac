"""The supervisor's HTTP side: every worker's /metrics, /health and /ready asked over loopback
and served as one (`d-a run --workers N`, see supervisor.py)."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..probe_server import ProbeServer

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from .supervisor import WorkerState

__all__ = ["LOOPBACK", "SupervisorServer", "WorkerProbes", "WorkersMetrics", "probe", "relabeled"]

logger = logging.getLogger("d_a.cli")

LOOPBACK = "127.0.0.1"
PROBE_TIMEOUT_SECONDS = 5.0
Answer = tuple[int, bytes] | None  # a worker's HTTP status and body; None: no answer


def probe(port: int, path: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> Answer:
    """GET `path` of a worker on the loopback interface (no proxy); None when it does not answer."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class WorkerProbes:
    """Asks every running worker for one path at once (a hung worker delays an answer by the
    probe timeout only once)."""

    def __init__(self, states: Callable[[], list[WorkerState]], fetch: Callable[[int, str], Answer] = probe) -> None:
        self.states = states
        self.fetch = fetch

    def gather(self, path: str) -> list[tuple[WorkerState, Answer]]:
        states = self.states()

        def ask(state: WorkerState) -> Answer:
            return self.fetch(state.port, path) if state.alive and state.port is not None else None

        with ThreadPoolExecutor(max_workers=max(len(states), 1), thread_name_prefix="d_a-probe") as pool:
            return list(zip(states, pool.map(ask, states), strict=True))

    def report(self, path: str, key: str) -> tuple[bool, dict[str, Any]]:
        """Whether every worker is alive and answers 200 on `path`; the JSON body, per worker."""
        workers = [
            {
                "worker": state.worker,
                "pid": state.pid,
                "alive": state.alive,
                key: state.alive and answer is not None and answer[0] == 200,
                "restarts": state.restarts,
            }
            for state, answer in self.gather(path)
        ]
        every = all(worker[key] for worker in workers)
        return every, {key: every, "workers": workers}


def relabeled(expositions: Mapping[int, str]) -> list[Metric]:
    """The metric families of each worker's /metrics text as one set, each sample with the label
    `worker="<i>"` added: one family per name, so histograms and counters stay valid."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Metric] = {}
    for worker, text in expositions.items():
        try:
            parsed = list(text_string_to_metric_families(text))
        except ValueError as exc:
            logger.debug("worker %d: /metrics not parsed: %s", worker, exc)
            continue
        for family in parsed:
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            merged.samples.extend(s._replace(labels={**s.labels, "worker": str(worker)}) for s in family.samples)
    return list(families.values())


class WorkersMetrics:
    """A prometheus_client collector: every running worker's metrics, scraped at collection, and
    the supervisor's own (workers up, restarts)."""

    def __init__(self, probes: WorkerProbes) -> None:
        self.probes = probes

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        answers = self.probes.gather("/metrics")
        texts = {state.worker: answer[1].decode() for state, answer in answers if answer and answer[0] == 200}
        yield from relabeled(texts)
        up = GaugeMetricFamily("d_a_worker_up", "1 while the worker process runs", labels=["worker"])
        restarts = CounterMetricFamily("d_a_worker_restarts", "Times the worker was restarted", labels=["worker"])
        for state, _ in answers:
            up.add_metric([str(state.worker)], 1 if state.alive else 0)
            restarts.add_metric([str(state.worker)], state.restarts)
        yield up
        yield restarts


class SupervisorServer(ProbeServer):
    """Serves the workers' /metrics, /health and /ready on one port, in a daemon thread."""

    def __init__(self, probes: WorkerProbes, port: int, host: str) -> None:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(WorkersMetrics(probes))
        super().__init__(
            port,
            host,
            metrics=lambda: generate_latest(registry),
            health=lambda: probes.report("/health", "healthy"),
            ready=lambda: probes.report("/ready", "ready"),
            name="d_a-supervisor-http",
        )
