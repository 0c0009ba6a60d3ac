"""Service benchmark: end-to-end messages/s and message-to-callback latency through
AsyncDataAnalysisService (decode -> window -> module input -> callback -> upload), module
operation_optimization, on the in-memory transport and on the embedded Kafka broker.

    python benchmarks/bench_service.py [--quick] [--broker memory|embedded|both] [--single-consumer] [--profile]
                                       [--latency-only] [--stations 100,1000] [--order-follow-seconds 2]
    make bench    # the same on the mypyc build of d_a (setup.py), as the image installs it

Throughput: simulator messages (1,000 stations) are loaded into the transport before the service
starts; timed until every message is consumed and the scheduler is idle, from the start in memory,
and on Kafka from the first poll in which every loaded topic has been read (the group joins and
the messages read until then are left out). CPU seconds are this process's (the embedded broker
is another process).

Work per tick (in memory): the latency run's ticks published one after another, each once the
service has served the one before: CPU per station-second, and the wall time to serve a tick,
which is the floor of the latency at that many stations (a tick's last station waits for all of
the tick's work). It is steadier than the latency on a busy machine.

Latency: a feeder publishes a StationSimulator run in real time (generated beforehand), each
station's messages of a simulated second in one of ten 0.1 s ticks (its phase), each message
stamped when it is sent; in memory the feeder is a task of the service's process, on Kafka a
process of its own (as producers are); the engine's samples are taken after a warm-up (the runs of
messages sent during the measurement count even when they come after it, as after a stall): latency
(timestamp of the message that triggered a run -> its callback) and staleness (oldest message no
callback had seen -> the callback that saw it; it includes data that waits for its trigger by
design, such as a car order of a second still in progress). In memory also the age of a car order
when a callback first has it in `car_orders`, from its publication: the orders published during the
measurement (the feed goes on for `--order-follow-seconds` after it, 2 by default, so that stopping
the feed is no session end for them; 0 makes it one for every station), and how many of them no
callback ever had in `car_orders` (a second of orders is complete when a newer one begins, or by the
clock a second and a grace after it arrived). `--latency-only` and `--stations` run just those runs.
`D_A_BOOTSTRAP` replaces the embedded broker by a Kafka cluster. `--profile` adds a cProfile of the
in-memory throughput run (event-loop thread, top 15 by tottime). The machine's speed (a fixed Python
workload, at the start and the end) is printed with the figures: the same VM class has run this code
at less than half its usual speed. Prints figures only (no assertions).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import math
import os
import pstats
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from d_a.config import get_config
from d_a.kafka import EmbeddedBroker, InMemoryBroker, MemoryTransport
from d_a.service.async_service import AsyncDataAnalysisService
from d_a.service.engine import ServiceEngine
from d_a.service.stats import percentiles
from d_a.simulator import TOPICS, SimMessage, StationSimulator, rates
from d_a.simulator.message import CAR_ORDER, METER

MODULE = "operation_optimization"
START_SESSION_TIMEOUT_MS: list[int | None] = [None]  # --session-timeout-ms
THROUGHPUT_STATIONS = 1_000
LATENCY_STATIONS = (100, 1_000)
TARGET_PER_CORE = 30_000.0  # messages per CPU-second, in memory
TARGET_P95_MS = 50.0  # at 1,000 stations
POLL_SECONDS = 0.01
STATUS_SECONDS = 0.1  # the latency run reads the status this often (a status read walks every station)
TICK_SECONDS = 0.1
WARM_UP_SECONDS = 20.0  # past the 15-second device reports: every station has sent each once (steady state)
MEASURE_SECONDS = 15.0
QUICK_SECONDS = (3.0, 5.0)  # --quick: warm-up and measurement, still in the start-up transient
JOIN_TIMEOUT_SECONDS = 60.0
FEED_MARGIN_SECONDS = 10.0  # simulated beyond warm-up + measurement, for slow group joins
FEEDER_READY_SECONDS = 300.0  # the feeder process generates its whole feed before it says ready
STALL_SECONDS = 30.0  # a throughput run with no progress for this long is reported as stalled
ORDER_FOLLOW_SECONDS = [2.0]  # the feed goes on after the measurement: the measured orders' next seconds come
ORDER_SETTLE_SECONDS = 3.0  # after the feed stopped: its last seconds of car orders may complete by the clock
CATCH_UP_QUIET_SECONDS = 0.5  # after a latency run: this long without new messages means all were consumed
SLOW_TOPIC_SECONDS = 60.0  # --slow-topics-wait-ms: topics whose station sends less often than this
IDLE_STATIONS = 10  # the idle run's data: every simulated topic exists, then nothing more comes
IDLE_SETTLE_SECONDS = 5.0
IDLE_SECONDS = 10.0
# fetch_max_wait_ms: the embedded broker (Tansu) answers a fetch only after a good part of this wait,
# even when data is waiting (2026-11-29: a message every 137 ms reached a consumer in 4 / 6 / 13 / 124
# ms, median, with 10 / 20 / 40 / 500 ms; p95 at 100 stations: 450 ms with the packaged 100 ms, 33
# ms with 10 ms). Each consumer fetches that often, so a short wait costs CPU: see `idle_cost`.
KAFKA_GROUP = {
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "fetch_max_wait_ms": 10,
}

T = TypeVar("T")


def callback(station_id: str, module_input: Any) -> dict[str, Any]:
    """The cheap model: a small dict per run."""
    return {"stationId": station_id, "inputs": len(module_input or ())}


# -- feeding -----------------------------------------------------------------------------------------


class Feed(Protocol):
    async def publish(self, messages: Sequence[SimMessage], *, now: bool) -> None: ...
    async def close(self) -> None: ...


class MemoryFeed:
    """Appends straight to the in-memory broker (and tells `orders` when each car order was published)."""

    def __init__(self, broker: InMemoryBroker, orders: CarOrderAges | None = None) -> None:
        self.broker = broker
        self.orders = orders

    async def publish(self, messages: Sequence[SimMessage], *, now: bool) -> None:
        for m in messages:
            self.broker.produce(
                m.topic, m.value, key=m.key, timestamp_ms=int(time.time() * 1000) if now else m.timestamp_ms
            )
        if self.orders is not None:
            self.orders.published([m for m in messages if m.topic == CAR_ORDER])

    async def close(self) -> None:
        return None


class CarOrderAges:
    """How old each car order is when a callback first has it in `car_orders`: the feeder notes when
    it published each order, the callback when it sees one (orders published while `measuring`)."""

    def __init__(self) -> None:
        self.measuring = False
        self._published: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self.ages: list[float] = []

    def published(self, messages: Sequence[SimMessage]) -> None:
        now = time.time()
        for m in messages:
            order = orjson.loads(m.value)
            self._published[order_key(order)] = (now, self.measuring)

    def seen(self, orders: Sequence[dict]) -> None:
        """A callback has `orders` (called on the callback's thread: dict.pop is atomic)."""
        now = time.time()
        for order in orders:
            sent = self._published.pop(order_key(order), None)
            if sent is not None and sent[1]:
                self.ages.append(now - sent[0])

    def unseen(self) -> int:
        """Orders published while measuring that no callback has had yet."""
        return sum(measured for _, measured in list(self._published.values()))


def order_key(order: dict) -> tuple[str, str, str]:
    return str(order.get("stationId")), str(order.get("gunNo")), str(order.get("sendTime"))


def seeing_orders(ages: CarOrderAges) -> Callable[[str, Any], dict[str, Any]]:
    """`callback`, noting the car orders each run has."""

    def model(station_id: str, module_input: Any) -> dict[str, Any]:
        ages.seen((module_input or {}).get("car_orders") or ())
        return callback(station_id, module_input)

    return model


class KafkaFeed:
    """A plain aiokafka producer (no compression); each publish waits for its acks. `now`: each message
    is stamped when it is sent (Kafka's CreateTime), not when the publish began: sending a tick's
    hundreds of messages takes the feeder milliseconds that are not the service's latency."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)

    async def start(self) -> KafkaFeed:
        await self.producer.start()
        return self

    async def publish(self, messages: Sequence[SimMessage], *, now: bool) -> None:
        for first in range(0, len(messages), 5_000):
            futures = [
                await self.producer.send(m.topic, m.value, key=m.key, timestamp_ms=None if now else m.timestamp_ms)
                for m in messages[first : first + 5_000]
            ]
            await asyncio.gather(*futures)

    async def close(self) -> None:
        await self.producer.stop()


@dataclass
class Env:
    """Where a scenario runs: the in-memory transport or a Kafka bootstrap (embedded or external)."""

    label: str
    bootstrap: str | None = None
    external: bool = False
    memory: InMemoryBroker | None = None

    def service(self, offset_reset: str = "earliest") -> AsyncDataAnalysisService:
        group = f"bench-{uuid.uuid4().hex[:8]}"
        if self.memory is not None:
            transport = MemoryTransport(self.memory, auto_offset_reset="earliest")
            return AsyncDataAnalysisService(MODULE, transport=transport, group_id=group)
        config = {"bootstrap_servers": self.bootstrap, **KAFKA_GROUP, "auto_offset_reset": offset_reset}
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


def in_env(kind: str, scenario: Callable[[Env], Awaitable[T]]) -> T:
    """Run `scenario` on a fresh in-memory broker, a fresh embedded broker, or D_A_BOOTSTRAP."""
    if kind == "memory":
        return asyncio.run(scenario(Env("memory", memory=InMemoryBroker())))
    external = os.environ.get("D_A_BOOTSTRAP")
    if external:
        return asyncio.run(scenario(Env("kafka", bootstrap=external, external=True)))
    with EmbeddedBroker() as broker:
        return asyncio.run(scenario(Env("embedded", bootstrap=broker.bootstrap)))


def sim_topics(service: AsyncDataAnalysisService) -> list[str]:
    return [t for t in service.topics if t in TOPICS]


def slow_topics() -> list[str]:
    """The module's topics a station sends less often than once a minute (or never, in the simulator)."""
    per_station = {topic: rate / 100 for topic, rate in rates(100).items()}
    return [t for t in get_config().module_to_topics[MODULE] if per_station.get(t, 0.0) * SLOW_TOPIC_SECONDS < 1.0]


@functools.cache
def simulated_feed(count: int, topics: tuple[str, ...]) -> list[SimMessage]:
    """The first `count` messages of a 1,000-station simulation of the service's input topics."""
    sim = StationSimulator(stations=THROUGHPUT_STATIONS, history_hours=2, topics=topics)
    out = sim.initial_messages()
    while len(out) < count:
        out += sim.advance(1.0)
    return out[:count]


# -- watching the service ----------------------------------------------------------------------------


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


def percentile(samples: Sequence[float], q: float) -> float | None:
    """p50 / p95 / p99 (q = 0.5 / 0.95 / 0.99) over all samples of a run, by the engine's rule."""
    return percentiles(samples)[f"p{round(q * 100)}"]


# -- throughput --------------------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
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


def quiet(engine: ServiceEngine, consumed: int) -> bool:
    """Every message consumed and every run done (read from the engine: `status()` costs more). The
    global reader's messages (the calendar) are counted apart from the engine's, as `status()` does."""
    messages = engine.stats.counters["messages"] + sum(engine.globals.messages.values())
    return messages >= consumed and engine.scheduler.idle


async def throughput(env: Env, count: int, profiler: cProfile.Profile | None = None) -> Throughput:
    """Load `count` messages, start the service, time until all are consumed and the scheduler is
    idle; `profiler` (if any) runs over the timed part only."""
    service = env.service()
    topics = sim_topics(service)
    messages = simulated_feed(count, tuple(topics))
    loaded = {m.topic for m in messages}
    feed = await env.feed()
    try:
        await feed.publish(messages, now=False)
        expected = await env.backlog(topics) if env.external else count
    finally:
        await feed.close()
    t0, cpu0 = time.perf_counter(), time.process_time()
    await service.start(callback)
    engine = service.engine
    assert engine is not None
    try:
        join, first = 0.0, dict.fromkeys(("messages", "callbacks", "uploads"), 0)
        if env.memory is None:  # time from the last group join on (the in-memory "join" is instant)
            join = await wait_joined(service, lambda: loaded)
            first = status(service)["counters"]
            t0, cpu0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        seen, progress_at, stalled = (first["messages"], first["callbacks"]), t0, False
        while not quiet(engine, expected):
            engine.stats.reset()  # unused here; keeps status() from sorting 10,000 samples
            await asyncio.sleep(POLL_SECONDS)
            counters = status(service)["counters"]
            if (counters["messages"], counters["callbacks"]) != seen:
                seen, progress_at = (counters["messages"], counters["callbacks"]), time.perf_counter()
            elif time.perf_counter() - progress_at > STALL_SECONDS:
                stalled = True
                break
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        last = status(service)["counters"]
    finally:
        if profiler is not None:
            profiler.disable()
        await service.stop()
    return Throughput(
        env.label,
        last["messages"] - first["messages"],
        seconds,
        cpu,
        last["callbacks"] - first["callbacks"],
        last["uploads"] - first["uploads"],
        join,
        expected,
        stalled,
    )


# -- latency -----------------------------------------------------------------------------------------


@dataclass
class RealTimeFeeder:
    """Publishes a simulation on the wall clock: the messages of each simulated second, generated
    beforehand (so the simulator's own work does not load the service's event loop), spread over
    that second's ten ticks by station: a station sends all of its second's messages in one tick,
    its phase, and the stations' phases are spread evenly (stations do not all send at once). A
    late tick publishes everything due, so the feed rate stays real time when the event loop is busy."""

    initial: list[SimMessage]
    seconds: list[list[list[SimMessage]]]  # per simulated second, per tick
    feed: Feed
    published: int = 0
    topics: set[str] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def simulate(cls, sim: StationSimulator, seconds: float, feed: Feed) -> RealTimeFeeder:
        return cls(sim.initial_messages(), [phased(sim.advance(1.0)) for _ in range(math.ceil(seconds))], feed)

    async def run(self) -> None:
        await self._send(self.initial)
        slices = round(1 / TICK_SECONDS)
        start, tick = time.monotonic(), 0
        while not self.stop.is_set() and tick < slices * len(self.seconds):
            due = min(slices * len(self.seconds), int((time.monotonic() - start) / TICK_SECONDS) + 1)
            ready: list[SimMessage] = []
            for index in range(tick, due):
                ready += self.seconds[index // slices][index % slices]
            tick = due
            await self._send(ready)
            await asyncio.sleep(TICK_SECONDS - (time.monotonic() - start) % TICK_SECONDS)

    async def _send(self, messages: list[SimMessage]) -> None:
        if messages:
            await self.feed.publish(messages, now=True)
            self.published += len(messages)
            self.topics.update(m.topic for m in messages)


def phased(messages: list[SimMessage]) -> list[list[SimMessage]]:
    """One simulated second's messages per tick: each station's in the tick of its phase (a hash of
    the message key, so a station keeps its phase from second to second)."""
    ticks: list[list[SimMessage]] = [[] for _ in range(round(1 / TICK_SECONDS))]
    for message in messages:
        ticks[zlib.crc32(message.key or b"") % len(ticks)].append(message)
    return ticks


@dataclass
class Latency:
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
    order_ages: list[float] | None = None  # seconds, in memory only (see CarOrderAges)
    orders_unseen: int = 0

    def p(self, q: float) -> float | None:
        return percentile(self.samples, q)

    def stale(self, q: float) -> float | None:
        return percentile(self.staleness, q)

    def order_age(self, q: float) -> float | None:
        return None if not self.order_ages else 1000 * percentiles(self.order_ages)[f"p{round(q * 100)}"]


class LocalFeeder:
    """A RealTimeFeeder on the service's own event loop (the in-memory transport lives in-process)."""

    def __init__(self, feeder: RealTimeFeeder) -> None:
        self.feeder = feeder
        self.task: asyncio.Task[None] | None = None

    def go(self) -> None:
        self.task = asyncio.create_task(self.feeder.run())

    def topics(self) -> set[str]:
        return set(self.feeder.topics)

    async def published(self) -> int:
        return self.feeder.published

    async def stop(self) -> None:
        self.feeder.stop.set()
        if self.task is not None:
            await self.task
        await self.feeder.feed.close()


class ProcessFeeder:
    """A RealTimeFeeder in a process of its own, publishing to Kafka (producers are other machines in
    production; an aiokafka producer on the service's event loop costs it as much CPU as consuming).
    Driven over its stdin/stdout: it prints `ready <topics>` once its feed is generated, starts on
    `go`, answers `count` with `count <published>`, and ends on `stop` (or when its stdin closes)."""

    def __init__(self, process: asyncio.subprocess.Process, topics: set[str]) -> None:
        self.process = process
        self._topics = topics

    @classmethod
    async def start(cls, bootstrap: str, stations: int, topics: list[str], seconds: float) -> ProcessFeeder:
        args = ["--feeder", bootstrap, str(stations), ",".join(topics), str(seconds)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), FEEDER_READY_SECONDS)
            word, _, fed = line.decode().partition(" ")
            if word != "ready":
                raise RuntimeError(f"the feeder process did not start: {line!r}")
        except BaseException:
            process.kill()
            await process.wait()
            raise
        return cls(process, set(orjson.loads(fed)))

    def go(self) -> None:
        self._say("go")

    def topics(self) -> set[str]:
        return self._topics

    async def published(self) -> int:
        self._say("count")
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        return int(line.split()[1])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self._say("stop")
            try:
                await asyncio.wait_for(self.process.wait(), STALL_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def _say(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())


async def feeder_process(bootstrap: str, stations: int, topics: list[str], seconds: float) -> None:
    """`--feeder`: the ProcessFeeder's side."""
    sim = StationSimulator(stations=stations, history_hours=2, topics=topics)
    feed = await KafkaFeed(bootstrap).start()
    feeder = RealTimeFeeder.simulate(sim, seconds, feed)
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    print("ready", orjson.dumps(sorted({m.topic for m in feeder.initial})).decode(), flush=True)
    task: asyncio.Task[None] | None = None
    try:
        while command := (await commands.readline()).strip():
            if command == b"go" and task is None:
                task = asyncio.create_task(feeder.run())
            elif command == b"count":
                print("count", feeder.published, flush=True)
            elif command == b"stop":
                break
    finally:
        feeder.stop.set()
        if task is not None:
            await task
        await feed.close()


async def start_feeder(
    env: Env, stations: int, topics: list[str], seconds: float, orders: CarOrderAges | None = None
) -> LocalFeeder | ProcessFeeder:
    if env.memory is not None:
        sim = StationSimulator(stations=stations, history_hours=2, topics=topics)
        return LocalFeeder(RealTimeFeeder.simulate(sim, seconds, await env.feed(orders)))
    assert env.bootstrap is not None
    return await ProcessFeeder.start(env.bootstrap, stations, topics, seconds)


async def latency(env: Env, stations: int, warm_up: float, measure_seconds: float) -> Latency:
    """Feed `stations` in real time; the engine's samples after `warm_up` seconds of feeding (and
    every fed topic read), for `measure_seconds`."""
    service = env.service("latest" if env.external else "earliest")
    orders = CarOrderAges() if env.memory is not None else None
    seconds = warm_up + measure_seconds + FEED_MARGIN_SECONDS
    feeder = await start_feeder(env, stations, sim_topics(service), seconds, orders)
    try:
        await service.start(callback if orders is None else seeing_orders(orders))  # Kafka: once the groups joined
        engine = service.engine
        assert engine is not None
        feeder.go()
        await asyncio.gather(asyncio.sleep(warm_up), wait_joined(service, feeder.topics))
        first, fed0 = status(service)["counters"], await feeder.published()
        engine.stats.reset()
        samples: list[float] = []
        staleness: list[float] = []
        max_held = max_queue = 0
        if orders is not None:
            orders.measuring = True
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < measure_seconds:
            await asyncio.sleep(STATUS_SECONDS)
            latencies, stale = engine.stats.drain()
            samples += latencies
            staleness += stale
            s = status(service)
            max_held, max_queue = max(max_held, s["held_messages"]), max(max_queue, s["queue_depth"])
        seconds = time.perf_counter() - t0
        last, fed = status(service)["counters"], await feeder.published() - fed0
        if orders is not None:
            orders.measuring = False
            await asyncio.sleep(ORDER_FOLLOW_SECONDS[0])  # the measured orders' stations go on sending
        await feeder.stop()
        await caught_up(engine)
        latencies, stale = engine.stats.drain()
        samples += latencies
        staleness += stale
        if orders is not None:
            await asyncio.sleep(ORDER_SETTLE_SECONDS)
    finally:
        await feeder.stop()
        await service.stop()
    return Latency(
        env.label,
        stations,
        seconds,
        fed,
        last["messages"] - first["messages"],
        last["callbacks"] - first["callbacks"],
        sorted(samples),
        sorted(staleness),
        max_held,
        max_queue,
        None if orders is None else sorted(orders.ages),
        0 if orders is None else orders.unseen(),
    )


async def caught_up(engine: ServiceEngine) -> None:
    """Wait until the service has consumed and served all it was sent (nothing new consumed for
    CATCH_UP_QUIET_SECONDS, no station queued or running), so that runs delayed past the end of the
    measurement (by a stall there) are sampled too instead of going unseen."""
    t0 = time.perf_counter()
    consumed, quiet_since = engine.stats.counters["messages"], time.perf_counter()
    while time.perf_counter() - t0 < STALL_SECONDS:
        await asyncio.sleep(POLL_SECONDS)
        now = time.perf_counter()
        if engine.stats.counters["messages"] != consumed or not engine.scheduler.idle:
            consumed, quiet_since = engine.stats.counters["messages"], now
        elif now - quiet_since >= CATCH_UP_QUIET_SECONDS:
            return


# -- idle cost ---------------------------------------------------------------------------------------


@dataclass
class IdleCost:
    label: str
    topics: int
    multi_consumer: bool
    waits: str
    cpu_share: float  # CPU-seconds per second: the service's own cost with no data flowing


async def idle_cost(env: Env) -> IdleCost:
    """CPU of a started service that has nothing to consume: what its consumers' fetches cost alone
    (on the embedded broker a consumer fetches about every `fetch_max_wait_ms`, data or not)."""
    service = env.service()
    sim = StationSimulator(stations=IDLE_STATIONS, history_hours=1, topics=sim_topics(service))
    feed = await env.feed()
    try:
        await feed.publish(sim.initial_messages() + sim.advance(1.0), now=True)
        await service.start(callback)
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        share = (time.process_time() - c0) / (time.perf_counter() - t0)
    finally:
        await service.stop()
        await feed.close()
    multi = bool(KAFKA_GROUP.get("multi_consumer_mode", True))
    return IdleCost(env.label, len(service.topics), multi, kafka_waits(), share)


def kafka_waits() -> str:
    """The fetch waits of the Kafka runs, e.g. `10 ms (7 slow topics: 500 ms)`."""
    overrides = KAFKA_GROUP.get("topic_overrides") or {}
    slow = {v["fetch_max_wait_ms"] for v in overrides.values()}
    return f"fetch_max_wait_ms {KAFKA_GROUP['fetch_max_wait_ms']}" + (
        f" ({len(overrides)} slow topics: {', '.join(map(str, sorted(slow)))})" if overrides else ""
    )


START_MODULE = "electricity_price"  # the field workload's module: ten topics, nine consumers and a global reader


@dataclass
class StartUp:
    label: str
    topics: int
    session_timeout_ms: int
    started: float  # seconds from `start()` to its return: every consumer has joined its group
    first_callback: float  # seconds from `start()` to the callback of a message sent when it returned


async def start_up(env: Env) -> StartUp:
    """A ten-topic service's start, with the packaged default's Kafka settings (a new group, offsets
    from `latest`): seconds to `start()` returning and to the first callback of one message sent then."""
    kafka = get_config().kafka.legacy()
    session = START_SESSION_TIMEOUT_MS[0] or kafka["consumer"].get("session_timeout_ms", 10_000)
    group = {"session_timeout_ms": session, "heartbeat_interval_ms": session // 4}
    kafka["bootstrap_servers"] = [env.bootstrap]
    kafka["consumer"] = {**kafka["consumer"], **group, "bootstrap_servers": [env.bootstrap]}
    kafka["producer"] = {**kafka["producer"], "bootstrap_servers": [env.bootstrap]}
    seen = asyncio.Event()
    service = AsyncDataAnalysisService(
        START_MODULE, kafka_config=kafka, group_id=f"bench-start-{uuid.uuid4().hex[:8]}", configure_logging=False
    )
    began = time.perf_counter()
    await service.start(lambda station_id, module_input: seen.set())
    started = time.perf_counter() - began
    try:
        producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(METER, orjson.dumps({"stationId": "ST-START", "meterPower": 1.0}))
        finally:
            await producer.stop()
        await asyncio.wait_for(seen.wait(), JOIN_TIMEOUT_SECONDS)
        first = time.perf_counter() - began
    finally:
        await service.stop()
    return StartUp(env.label, len(service.topics), session, started, first)


def print_start_up(r: StartUp) -> None:
    print(
        f"  {r.label:9s} {r.topics} topics, session_timeout_ms {r.session_timeout_ms:,}: started in "
        f"{r.started:.2f} s, first callback {r.first_callback:.2f} s after start() began"
    )


def print_idle_cost(r: IdleCost) -> None:
    consumers = f"{r.topics} consumers, one per topic" if r.multi_consumer else f"1 consumer of {r.topics} topics"
    print(f"  {r.label:9s} idle service: {100 * r.cpu_share:.0f}% of a core ({consumers}, {r.waits})")


# -- work per tick -----------------------------------------------------------------------------------


@dataclass
class TickCost:
    stations: int
    seconds: int
    runs: int
    cpu_seconds: float
    tick_ms: list[float]  # wall time to serve each tick, sorted

    def per_station_second_ms(self) -> float:
        return 1000 * self.cpu_seconds / (self.stations * self.seconds)

    def tick(self, q: float) -> float | None:
        return percentile(self.tick_ms, q)


async def tick_cost(env: Env, stations: int, warm_up: int, measure: int) -> TickCost:
    """The latency run's ticks, each published once the service has served the one before: the
    service's CPU per station-second, and the wall time to serve a tick, which is the floor of the
    latency (a tick's last station waits for the whole tick's work). In memory only, where the
    feeder costs little (appends to the in-memory broker) and nothing else shares the process."""
    service = env.service()
    sim = StationSimulator(stations=stations, history_hours=2, topics=sim_topics(service))
    initial = sim.initial_messages()
    seconds = [phased(sim.advance(1.0)) for _ in range(warm_up + measure)]
    feed = await env.feed()
    await service.start(callback)
    engine = service.engine
    assert engine is not None
    published = 0

    async def serve(messages: list[SimMessage]) -> None:
        nonlocal published
        await feed.publish(messages, now=True)
        published += len(messages)
        await asyncio.sleep(0)
        while not quiet(engine, published):
            await asyncio.sleep(0.0005)

    try:
        await serve(initial)
        for ticks in seconds[:warm_up]:
            for messages in ticks:
                await serve(messages)
        runs0, cpu, tick_ms = engine.stats.counters["callbacks"], 0.0, []
        for ticks in seconds[warm_up:]:
            for messages in ticks:
                cpu0, t0 = time.process_time(), time.perf_counter()
                await serve(messages)
                cpu += time.process_time() - cpu0
                tick_ms.append(1000 * (time.perf_counter() - t0))
        runs = engine.stats.counters["callbacks"] - runs0
    finally:
        await service.stop()
        await feed.close()
    return TickCost(stations, measure, runs, cpu, sorted(tick_ms))


def build() -> str:
    """Which build of d_a runs: `make bench` runs the mypyc build (setup.py), plain `python` the pure one."""
    import d_a.windows.store

    return "pure-Python d_a" if d_a.windows.store.__file__.endswith(".py") else "d_a compiled with mypyc"


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


# -- reporting ---------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


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
        f"  memory    {r.stations:>5,} stations: {r.runs / (r.stations * r.seconds):.2f} runs per station-second, "
        f"CPU {r.per_station_second_ms():.3f} ms per station-second; "
        f"a tick ({r.stations // round(1 / TICK_SECONDS):,} stations) served in "
        f"p50 {ms(r.tick(0.50))} / p95 {ms(r.tick(0.95))} ms"
    )


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


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
        if r.stations == 1_000:
            target = f"<= {TARGET_P95_MS:.0f} ms  {verdict(p95 is not None and p95 <= TARGET_P95_MS)}"
        else:
            target = "-"
        print(f"  {f'p95 latency, {r.label}, {r.stations:,} stations':52s} {ms(p95) + ' ms':>16s}  {target}")
        print(f"  {f'p95 staleness, {r.label}, {r.stations:,} stations':52s} {ms(r.stale(0.95)) + ' ms':>16s}  -")
        if r.order_ages is not None:
            label = f"p95 car-order age, {r.label}, {r.stations:,} stations"
            print(f"  {label:52s} {ms(r.order_age(0.95)) + ' ms':>16s}  -")


PROFILE_PARTS = (
    ("fetch + decode + windows", "engine.py", "_consume_loop"),
    ("module input", "dispatcher.py", "get_module_input"),
    ("upload", "engine.py", "_deliver"),
)


def cumulative(stats: pstats.Stats, file_suffix: str, name: str) -> float | None:
    """Cumulative seconds of the function `name` defined in a file ending with `file_suffix`."""
    found = [
        timing[3]
        for (file, _, function), timing in stats.stats.items()  # (calls, primitive calls, tottime, cumtime, callers)
        if file.endswith(file_suffix) and function == name
    ]
    return sum(found) if found else None


def print_profile(count: int) -> None:
    profiler = cProfile.Profile()
    result = in_env("memory", lambda env: throughput(env, count, profiler))
    print(f"\nprofile of the in-memory throughput run ({count:,} messages, event-loop thread, top 15 by tottime)")
    print_throughput(result)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total = stats.total_tt
    parts = [(label, cumulative(stats, suffix, name)) for label, suffix, name in PROFILE_PARTS]
    print(
        "  cumulative: "
        + ", ".join(f"{label} {'-' if t is None else f'{t:.2f} s ({100 * t / total:.0f}%)'}" for label, t in parts)
        + f" of {total:.2f} s"
    )
    stats.sort_stats("tottime").print_stats(15)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join(line.replace(os.getcwd() + "/", "") for line in lines[start:] if line.strip()))


def main() -> None:
    if sys.argv[1:2] == ["--feeder"]:
        bootstrap, stations, topics, seconds = sys.argv[2:6]
        asyncio.run(feeder_process(bootstrap, int(stations), topics.split(","), float(seconds)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 messages, 3 + 5 s latency runs")
    parser.add_argument("--broker", choices=("memory", "embedded", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-memory throughput run")
    parser.add_argument(
        "--latency-only", action="store_true", help="only the latency runs (no throughput, ticks, idle)"
    )
    parser.add_argument(
        "--order-follow-seconds",
        type=float,
        default=ORDER_FOLLOW_SECONDS[0],
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
    args = parser.parse_args()
    START_SESSION_TIMEOUT_MS[0] = args.session_timeout_ms
    if args.start_up_only:
        print(f"start-up: a service of {START_MODULE}, the packaged default's Kafka settings, a new group")
        print_start_up(in_env("embedded", start_up))
        return
    if args.single_consumer:
        KAFKA_GROUP["multi_consumer_mode"] = False
    KAFKA_GROUP["fetch_max_wait_ms"] = args.fetch_wait_ms
    if args.slow_topics_wait_ms is not None:
        KAFKA_GROUP["topic_overrides"] = {t: {"fetch_max_wait_ms": args.slow_topics_wait_ms} for t in slow_topics()}
    count = 50_000 if args.quick else 200_000
    warm_up, measure = QUICK_SECONDS if args.quick else (WARM_UP_SECONDS, MEASURE_SECONDS)
    kinds = ["memory", "embedded"] if args.broker == "both" else [args.broker]
    external = os.environ.get("D_A_BOOTSTRAP")
    latency_stations = [int(n) for n in args.stations.split(",")]
    ORDER_FOLLOW_SECONDS[0] = args.order_follow_seconds

    print(
        f"d_a service benchmark ({'quick' if args.quick else 'full'}; module {MODULE}; {os.cpu_count()} cores"
        f"{'; Kafka at ' + external if external else ''}{'; single consumer' if args.single_consumer else ''}"
        f"; Kafka {kafka_waits()}; {build()})"
    )
    machine_at_start = machine_seconds()
    if not args.latency_only:
        print(
            f"\nthroughput: {count:,} pre-loaded simulator messages, {THROUGHPUT_STATIONS:,} stations, "
            "cheap sync callback"
        )
    throughputs = []
    for kind in [] if args.latency_only else kinds:
        throughputs.append(in_env(kind, lambda env: throughput(env, count)))
        print_throughput(throughputs[-1])
    print(
        "\nlatency (triggering message -> callback) and staleness (oldest unseen message -> callback), "
        f"real-time feed, {warm_up:.0f} s warm-up, "
        f"{measure:.0f} s measured (Kafka: the feeder publishes from a process of its own)"
    )
    ticks = []
    if "memory" in kinds and not args.latency_only:
        print(
            "\nwork per tick: the real-time feed's ticks, each published once the one before is served "
            f"(in memory; {warm_up:.0f} simulated s of warm-up, {measure:.0f} s measured)"
        )
        for stations in latency_stations:
            ticks.append(in_env("memory", lambda env, n=stations: tick_cost(env, n, int(warm_up), int(measure))))
            print_tick_cost(ticks[-1])
    kafka_kinds = [kind for kind in kinds if kind != "memory"]
    if kafka_kinds and not args.latency_only:
        print(f"\nstart-up: a service of {START_MODULE}, the packaged default's Kafka settings, a new group")
        for kind in kafka_kinds:
            print_start_up(in_env(kind, start_up))
        print(f"\nidle: CPU of a started service with no data flowing ({IDLE_SECONDS:.0f} s)")
        for kind in kafka_kinds:
            print_idle_cost(in_env(kind, idle_cost))
    latencies = []
    for kind in kinds:
        for stations in latency_stations:
            latencies.append(in_env(kind, lambda env, n=stations: latency(env, n, warm_up, measure)))
            print_latency(latencies[-1])
    machine_at_end = machine_seconds()
    print_summary(throughputs, ticks, latencies)
    print(
        f"  {'machine: a fixed Python workload, at the start / end':52s} "
        f"{machine_at_start:>7.2f} / {machine_at_end:.2f} s  (compare figures of different days by it)"
    )
    if args.profile:
        print_profile(count)


if __name__ == "__main__":
    main()
