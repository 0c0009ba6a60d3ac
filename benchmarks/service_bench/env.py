"""Where a scenario runs and how it watches the service: the in-memory transport, the embedded broker
or D_A_BOOTSTRAP; the Kafka consumers' settings the flags change; the service under test and its
cheap model; reading its status.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from d_a.config import get_config
from d_a.kafka import EmbeddedBroker, InMemoryBroker, MemoryTransport
from d_a.service.async_service import AsyncDataAnalysisService
from d_a.service.engine import ServiceEngine
from d_a.simulator import TOPICS, rates

from .feeders import CarOrderAges, Feed, KafkaFeed, MemoryFeed

MODULE = "operation_optimization"
POLL_SECONDS = 0.01
JOIN_TIMEOUT_SECONDS = 60.0
STALL_SECONDS = 30.0  # a run with no progress for this long is reported as stalled (or stops waiting)
SLOW_TOPIC_SECONDS = 60.0  # --slow-topics-wait-ms: topics whose station sends less often than this
# fetch_max_wait_ms: the embedded broker (Tansu) answers a fetch only after a good part of this wait,
# even when data is waiting (2026-11-29: a message every 137 ms reached a consumer in 4 / 6 / 13 / 124
# ms, median, with 10 / 20 / 40 / 500 ms; p95 at 100 stations: 450 ms with the packaged 100 ms, 33
# ms with 10 ms). Each consumer fetches that often, so a short wait costs CPU: see `idle_cost`.
KAFKA_GROUP: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "fetch_max_wait_ms": 10,
}
ORDER_FOLLOW_SECONDS = 2.0  # the feed goes on after the measurement: the measured orders' next seconds come

T = TypeVar("T")


@dataclass
class Options:
    """What the flags change: the Kafka runs' consumer settings (`--single-consumer`,
    `--fetch-wait-ms`, `--slow-topics-wait-ms`), the start-up run's session timeout and how long
    the in-memory latency feed goes on after the measurement."""

    kafka: dict[str, Any] = field(default_factory=lambda: dict(KAFKA_GROUP))
    session_timeout_ms: int | None = None
    order_follow_seconds: float = ORDER_FOLLOW_SECONDS

    def kafka_waits(self) -> str:
        """The fetch waits of the Kafka runs, e.g. `fetch_max_wait_ms 10 (7 slow topics: 500)`."""
        overrides = self.kafka.get("topic_overrides") or {}
        slow = {v["fetch_max_wait_ms"] for v in overrides.values()}
        return f"fetch_max_wait_ms {self.kafka['fetch_max_wait_ms']}" + (
            f" ({len(overrides)} slow topics: {', '.join(map(str, sorted(slow)))})" if overrides else ""
        )


@dataclass
class Env:
    """Where a scenario runs: the in-memory transport or a Kafka bootstrap (embedded or external)."""

    label: str
    bootstrap: str | None = None
    external: bool = False
    memory: InMemoryBroker | None = None
    options: Options = field(default_factory=Options)

    def service(self, offset_reset: str = "earliest") -> AsyncDataAnalysisService:
        group = f"bench-{uuid.uuid4().hex[:8]}"
        if self.memory is not None:
            transport = MemoryTransport(self.memory, auto_offset_reset="earliest")
            return AsyncDataAnalysisService(MODULE, transport=transport, group_id=group)
        config = {"bootstrap_servers": self.bootstrap, **self.options.kafka, "auto_offset_reset": offset_reset}
        return AsyncDataAnalysisService(MODULE, kafka_config=config, transport="kafka", group_id=group)

    async def feed(self, orders: CarOrderAges | None = None) -> Feed:
        if self.memory is not None:
            return MemoryFeed(self.memory, orders)
        assert self.bootstrap is not None
        return await KafkaFeed(self.bootstrap).start()

    async def backlog(self, topics: Sequence[str]) -> int:
        """Messages in `topics` now (an external cluster may hold earlier data)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            return sum(ends[tp] - starts[tp] for tp in partitions)
        finally:
            await consumer.stop()


def in_env(kind: str, scenario: Callable[[Env], Awaitable[T]], options: Options | None = None) -> T:
    """Run `scenario` on a fresh in-memory broker, a fresh embedded broker, or D_A_BOOTSTRAP."""
    options = options or Options()
    if kind == "memory":
        return asyncio.run(scenario(Env("memory", memory=InMemoryBroker(), options=options)))
    external = os.environ.get("D_A_BOOTSTRAP")
    if external:
        return asyncio.run(scenario(Env("kafka", bootstrap=external, external=True, options=options)))
    with EmbeddedBroker() as broker:
        return asyncio.run(scenario(Env("embedded", bootstrap=broker.bootstrap, options=options)))


def callback(station_id: str, module_input: Any) -> dict[str, Any]:
    """The cheap model: a small dict per run."""
    return {"stationId": station_id, "inputs": len(module_input or ())}


def sim_topics(service: AsyncDataAnalysisService) -> list[str]:
    """The service's input topics that the simulator feeds."""
    return [t for t in service.topics if t in TOPICS]


def slow_topics() -> list[str]:
    """The module's topics a station sends less often than once a minute (or never, in the simulator)."""
    per_station = {topic: rate / 100 for topic, rate in rates(100).items()}
    return [t for t in get_config().module_to_topics[MODULE] if per_station.get(t, 0.0) * SLOW_TOPIC_SECONDS < 1.0]


def status(service: AsyncDataAnalysisService) -> dict[str, Any]:
    return service.get_service_status()


async def wait_joined(service: AsyncDataAnalysisService, topics: Callable[[], set[str]]) -> float:
    """Wait until every topic in `topics()` has been read (each group has joined); seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < JOIN_TIMEOUT_SECONDS:
        per_topic = status(service)["messages_per_topic"]
        wanted = topics()
        if wanted and all(per_topic.get(t, 0) > 0 for t in wanted):
            break
        await asyncio.sleep(POLL_SECONDS)
    return time.perf_counter() - t0


def quiet(engine: ServiceEngine, consumed: int) -> bool:
    """Every message consumed and every run done (read from the engine: `status()` costs more). The
    global reader's messages (the calendar) are counted apart from the engine's, as `status()` does."""
    messages = engine.stats.counters["messages"] + sum(engine.globals.messages.values())
    return messages >= consumed and engine.scheduler.idle
