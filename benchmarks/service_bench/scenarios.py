"""The runs of the service benchmark, each on a fresh `Env`: throughput, work per tick, latency (with
the car-order age in memory), idle cost and start-up. Each returns what it measured (`results`)."""

from __future__ import annotations

import asyncio
import cProfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from d_a.config import get_config
from d_a.service.async_service import AsyncDataAnalysisService
from d_a.service.engine import ServiceEngine
from d_a.simulator import SimMessage, StationSimulator
from d_a.simulator.message import METER

from .env import (
    JOIN_TIMEOUT_SECONDS,
    POLL_SECONDS,
    STALL_SECONDS,
    Env,
    callback,
    quiet,
    sim_topics,
    status,
    wait_joined,
)
from .feeders import (
    THROUGHPUT_STATIONS,
    TICK_SECONDS,
    CarOrderAges,
    LocalFeeder,
    ProcessFeeder,
    RealTimeFeeder,
    phased,
    simulated_feed,
)
from .results import IdleCost, Latency, StartUp, Throughput, TickCost

STATUS_SECONDS = 0.1  # the latency run reads the status this often (a status read walks every station)
FEED_MARGIN_SECONDS = 10.0  # simulated beyond warm-up + measurement, for slow group joins
ORDER_SETTLE_SECONDS = 3.0  # after the feed stopped: its last seconds of car orders may complete by the clock
CATCH_UP_QUIET_SECONDS = 0.5  # after a latency run: this long without new messages means all were consumed
IDLE_STATIONS = 10  # the idle run's data: every simulated topic exists, then nothing more comes
IDLE_SETTLE_SECONDS = 5.0
IDLE_SECONDS = 10.0
START_MODULE = "electricity_price"  # the field workload's module: ten topics, nine consumers and a global reader


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
        THROUGHPUT_STATIONS,
        last["messages"] - first["messages"],
        seconds,
        cpu,
        last["callbacks"] - first["callbacks"],
        last["uploads"] - first["uploads"],
        join,
        expected,
        stalled,
    )


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
    tick_stations = stations // round(1 / TICK_SECONDS)
    return TickCost(env.label, stations, tick_stations, measure, runs, cpu, sorted(tick_ms))


def seeing_orders(ages: CarOrderAges) -> Callable[[str, Any], dict[str, Any]]:
    """`callback`, noting the car orders each run has."""

    def model(station_id: str, module_input: Any) -> dict[str, Any]:
        ages.seen((module_input or {}).get("car_orders") or ())
        return callback(station_id, module_input)

    return model


async def start_feeder(
    env: Env, stations: int, topics: list[str], seconds: float, orders: CarOrderAges | None = None
) -> LocalFeeder | ProcessFeeder:
    """In memory a feeder on the service's event loop; on Kafka one in a process of its own."""
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
            await asyncio.sleep(env.options.order_follow_seconds)  # the measured orders' stations go on sending
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
    multi = bool(env.options.kafka.get("multi_consumer_mode", True))
    return IdleCost(env.label, IDLE_STATIONS, len(service.topics), multi, env.options.kafka_waits(), share)


async def start_up(env: Env) -> StartUp:
    """A ten-topic service's start, with the packaged default's Kafka settings (a new group, offsets
    from `latest`): seconds to `start()` returning and to the first callback of one message sent then."""
    kafka = get_config().kafka.legacy()
    session = env.options.session_timeout_ms or kafka["consumer"].get("session_timeout_ms", 10_000)
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
    return StartUp(env.label, None, len(service.topics), session, started, first)
