"""The field workload: module `electricity_price` (ten topics) with a week of hourly context per
station, then car orders and meter reports, through AsyncDataAnalysisService.

    python benchmarks/bench_field.py [--broker memory|embedded|both] [--mode backlog|live|both]
                                     [--stations 100,1000,5000] [--messages 100000] [--rate 2000]
                                     [--duration 60] [--backlog-runs newest|every_batch] [--repeat N] [--profile]

Every measurement runs in a process of its own (resident memory is that process's). Backlog:
`--messages` car orders and meters (alternating, the stations in turn); on Kafka they are in the
broker with the context before the service starts (as the original was measured), in memory they
are added once the context is applied. Msgs/s while active is from the first to the last car order
or meter applied (on Kafka CPU counts from the start, context included); callbacks are counted until
the scheduler is idle. The raw client's rate over the
same car orders and meters (orjson decode, nothing else) follows in the same run, as the ceiling.
Live: the context first (resident memory once it is applied), then a feed at `--rate` for
`--duration` seconds: the service's CPU share while it runs, whether it kept up, and the age of a
car order when a callback first has it in `car_orders` (from its `benchTs`). In memory the feed is a
task of the service's process; on Kafka it is this driver process. `--profile` writes a cProfile of
the service (event-loop thread, top 25 by tottime) after each result. `D_A_BOOTSTRAP` replaces the
embedded broker by a Kafka cluster (topics are then shared between runs: use a fresh cluster).
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

import field_workload as field
import orjson

from d_a.service.stats import percentiles

HERE = os.path.dirname(os.path.abspath(__file__))
POLL_S = 0.01
STALL_S = 60.0
SETTLE_S = 3.0  # live: after the feed, this long for the last seconds of car orders to complete
KAFKA_GROUP = {"auto_offset_reset": "earliest"}  # otherwise the packaged defaults


def rss_mb() -> float:
    """Resident memory in MiB (the unit of docs/PERFORMANCE.md's field-workload figures)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- one measurement (a child process) ----------------------------------------------------------------


class Orders:
    """The age of each car order when a callback first has it in `car_orders`. Module inputs keep
    a car order's configured fields only, so each order's `benchTs` is noted as the engine applies it."""

    def __init__(self) -> None:
        self.made: dict[str, float] = {}
        self.seen: set[str] = set()
        self.ages: list[float] = []
        self.callbacks = 0

    def watch(self, engine: Any) -> None:
        apply = engine.apply

        def noting(messages: list[Any]) -> None:
            for message in messages:
                if message.topic == field.ORDER and isinstance(message.value, dict):
                    serial, made = message.value.get("transactionSerialNo"), message.value.get("benchTs")
                    if serial is not None and made is not None:
                        self.made.setdefault(serial, made)
            apply(messages)

        engine.apply = noting

    def callback(self, station_id: str, module_input: Any) -> None:
        self.callbacks += 1
        now = time.time()
        for order in module_input.get("car_orders") or ():
            serial = order.get("transactionSerialNo")
            if serial not in self.seen and serial in self.made:
                self.seen.add(serial)
                self.ages.append(now - self.made[serial])


def make_service(spec: dict[str, Any], memory: Any) -> Any:
    from d_a import AsyncDataAnalysisService
    from d_a.kafka import MemoryTransport

    group = f"field-{uuid.uuid4().hex[:8]}"
    config = {"service": {"backlog_runs": spec["backlog_runs"]}} if spec.get("backlog_runs") else None
    if memory is not None:
        transport = MemoryTransport(memory, auto_offset_reset="earliest")
        return AsyncDataAnalysisService(field.MODULE, transport=transport, group_id=group, config=config)
    kafka = {"bootstrap_servers": spec["bootstrap"], **KAFKA_GROUP}
    return AsyncDataAnalysisService(field.MODULE, kafka_config=kafka, transport="kafka", group_id=group, config=config)


def live_count(engine: Any) -> int:
    return sum(engine.stats.messages_per_topic.get(t, 0) for t in field.LIVE_TOPICS)


async def wait_idle(service: Any, expect_live: int) -> tuple[float, float, float]:
    """Wait until `expect_live` car orders and meters are applied and the scheduler is idle.
    Returns the wall times at which the first and the last of them were seen applied, and now."""
    while service.engine is None:
        await asyncio.sleep(POLL_S)
    engine = service.engine
    first = last = None
    count, progress, work = live_count(engine), time.monotonic(), None
    while True:
        now_count = live_count(engine)
        if now_count != count:
            count = now_count
            first = first or time.time()
            last = time.time()
        elif now_count and first is None:
            first = last = time.time()
        if count >= expect_live and engine.scheduler.idle and not engine.tracker.held_messages:
            return first or time.time(), last or time.time(), time.time()
        now_work = (count, engine.stats.counters["messages"], engine.stats.counters["callbacks"])
        if now_work != work:
            work, progress = now_work, time.monotonic()
        elif time.monotonic() - progress > STALL_S:
            raise SystemExit(f"stalled at {count} of {expect_live} live messages")
        await asyncio.sleep(POLL_S)


async def wait_context(service: Any, context_count: int) -> None:
    engine = service.engine
    progress, count = time.monotonic(), -1
    while True:
        now_count = engine.stats.counters["messages"] + sum(engine.globals.messages.values())
        if now_count != count:
            count, progress = now_count, time.monotonic()
        if count >= context_count and engine.scheduler.idle and not engine.tracker.held_messages:
            return
        if time.monotonic() - progress > STALL_S:
            raise SystemExit(f"context stalled at {count} of {context_count} messages")
        await asyncio.sleep(POLL_S)


def raw_memory_ceiling(memory: Any, expect: int) -> float:
    from d_a.kafka import MemoryConsumer

    consumer = MemoryConsumer(
        list(field.LIVE_TOPICS), memory, group_id=f"raw-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    count, began = 0, time.perf_counter()
    while count < expect:
        for batch in consumer.poll(timeout_ms=100, max_records=500).values():
            for message in batch:
                orjson.loads(message.raw)
                count += 1
    consumer.close()
    return count / (time.perf_counter() - began)


async def raw_kafka_ceiling(bootstrap: str, expect: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *field.LIVE_TOPICS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    count = 0
    began = None
    try:
        while count < expect:
            for batch in (await consumer.getmany(timeout_ms=100, max_records=5000)).values():
                began = began or time.perf_counter()
                for message in batch:
                    orjson.loads(message.value)
                    count += 1
        return count / (time.perf_counter() - began)
    finally:
        await consumer.stop()


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    from d_a.kafka import InMemoryBroker

    out: dict[str, Any] = {"rss_imports_mb": rss_mb()}
    stations, live_messages = spec["stations"], spec["messages"]
    memory = InMemoryBroker(partitions=1) if spec["broker"] == "memory" else None
    context_count = spec.get("context_messages", 0)  # on Kafka the driver produced them
    if memory is not None:
        context = field.context(stations)
        for topic, value in context:
            memory.produce(topic, value)
        context_count = len(context)
        del context  # the broker holds its copies; this process's RSS must not count them twice
    orders = Orders()
    service = make_service(spec, memory)
    profiler = cProfile.Profile() if spec.get("profile") else None
    await service.start(orders.callback)
    try:
        if spec["mode"] == "backlog":
            if memory is not None:
                await wait_context(service, context_count)
                out["rss_after_context_mb"] = rss_mb()
                for topic, value in field.backlog(stations, live_messages):
                    memory.produce(topic, value)
            cpu0 = cpu_s()
            if profiler:
                profiler.enable()
            first, last, idle = await wait_idle(service, live_messages)
            if profiler:
                profiler.disable()
            out["cpu_s"] = cpu_s() - cpu0
            out["active_s"] = max(last - first, 1e-6)
            out["msgs_per_s_active"] = live_messages / out["active_s"]
            out["msgs_per_s_until_idle"] = live_messages / max(idle - first, 1e-6)
            out["msgs_per_cpu_s"] = live_messages / out["cpu_s"]
            out["callbacks"] = orders.callbacks
            gc.collect()
            out["rss_after_backlog_mb"] = rss_mb()
            if memory is not None:
                out["raw_msgs_per_s"] = raw_memory_ceiling(memory, live_messages)
            else:
                out["raw_msgs_per_s"] = await raw_kafka_ceiling(spec["bootstrap"], live_messages)
        else:
            await wait_context(service, context_count)
            orders.watch(service.engine)
            gc.collect()
            out["rss_after_context_mb"] = rss_mb()
            out["context_callbacks"] = orders.callbacks
            if memory is None:
                print("READY", flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            cpu0, began = cpu_s(), time.monotonic()
            if profiler:
                profiler.enable()
            if memory is not None:
                sent = await feed_memory(memory, stations, spec["rate"], spec["duration"])
            else:
                sent = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
            fed_s = time.monotonic() - began
            kept_up = live_count(service.engine) >= sent * 0.99
            await asyncio.sleep(SETTLE_S)
            if profiler:
                profiler.disable()
            out["live_sent"] = sent
            out["live_consumed_at_feed_end"] = live_count(service.engine)
            out["kept_up"] = kept_up
            out["cpu_share"] = (cpu_s() - cpu0) / (fed_s + SETTLE_S)
            out["orders_seen"] = len(orders.seen)
            for name, age in percentiles(orders.ages).items():
                out[f"age_{name}_s"] = None if age is None else round(age, 3)
            out["callbacks"] = orders.callbacks - out["context_callbacks"]
            gc.collect()
            out["rss_after_live_mb"] = rss_mb()
    finally:
        await service.stop()
    if profiler:
        if spec.get("profile_out"):
            profiler.dump_stats(spec["profile_out"])
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        out["profile"] = text.getvalue()
    return out


async def feed_memory(memory: Any, stations: int, rate: float, duration: float) -> int:
    began, sent = time.monotonic(), 0
    while (elapsed := time.monotonic() - began) < duration:
        due = int(elapsed * rate)
        while sent < due:
            topic, value = field.live(sent, stations)
            memory.produce(topic, value)
            sent += 1
        await asyncio.sleep(0.01)
    return sent


def child(spec: dict[str, Any]) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import d_a  # noqa: F401

    result = asyncio.run(measure(spec))
    print("RESULT " + json.dumps(result), flush=True)


# -- the driver ---------------------------------------------------------------------------------------


async def produce(bootstrap: str, messages: Iterable[tuple[str, bytes]]) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, max_request_size=64 * 2**20
    )
    await producer.start()
    count, pending = 0, []
    try:
        for topic, value in messages:
            pending.append(await producer.send(topic, value))
            count += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def produce_steady(bootstrap: str, stations: int, rate: float, duration: float) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    sent, began = 0, time.monotonic()
    try:
        while (elapsed := time.monotonic() - began) < duration:
            due = int(elapsed * rate)
            while sent < due:
                topic, value = field.live(sent, stations)
                await producer.send(topic, value)
                sent += 1
            await asyncio.sleep(0.005)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, os.path.join(HERE, "bench_field.py"), "--child", json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdin is not None and process.stdout is not None
    try:
        for line in process.stdout:
            if line.startswith("READY"):
                process.stdin.write("go\n")
                process.stdin.flush()
                sent = asyncio.run(produce_steady(spec["bootstrap"], spec["stations"], spec["rate"], spec["duration"]))
                process.stdin.write(f"{sent}\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
        raise SystemExit(f"the measurement failed (exit {process.wait()})")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from d_a.kafka import EmbeddedBroker

    if spec["broker"] == "memory":
        return run_child(spec)
    external = os.environ.get("D_A_BOOTSTRAP")
    if external:
        return run_one_on_kafka({**spec, "bootstrap": external})
    with EmbeddedBroker() as broker:
        return run_one_on_kafka({**spec, "bootstrap": broker.bootstrap})


def run_one_on_kafka(spec: dict[str, Any]) -> dict[str, Any]:
    messages = field.context(spec["stations"])
    context_count = len(messages)
    if spec["mode"] == "backlog":
        messages += list(field.backlog(spec["stations"], spec["messages"]))
    asyncio.run(produce(spec["bootstrap"], messages))
    return run_child({**spec, "context_messages": context_count})


def summary(spec: dict[str, Any], r: dict[str, Any]) -> str:
    where = f"{spec['broker']:8} {spec['stations']:>5} st"
    if spec["mode"] == "backlog":
        return (
            f"{where} backlog {spec['messages']:,}: {r['msgs_per_s_active']:,.0f} msgs/s active "
            f"({r['msgs_per_s_until_idle']:,.0f} until the last run ended), "
            f"{r['msgs_per_cpu_s']:,.0f} per CPU-s, {r['callbacks']:,} callbacks, raw {r['raw_msgs_per_s']:,.0f}/s "
            f"({r['msgs_per_s_active'] / r['raw_msgs_per_s']:.2f} of it); RSS imports {r['rss_imports_mb']:.0f} MB, "
            f"after backlog {r['rss_after_backlog_mb']:.0f} MB"
        )
    return (
        f"{where} live {spec['rate']:,.0f}/s x {spec['duration']:.0f}s: kept up {r['kept_up']}, "
        f"{r['cpu_share']:.2f} of a core, age p50/p95/p99 {r['age_p50_s']}/{r['age_p95_s']}/{r['age_p99_s']} s "
        f"({r['orders_seen']:,} orders), {r['callbacks']:,} callbacks; RSS imports {r['rss_imports_mb']:.0f} MB, "
        f"after context {r['rss_after_context_mb']:.0f} MB (+{r['rss_after_context_mb'] - r['rss_imports_mb']:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--broker", choices=("memory", "embedded", "both"), default="both")
    parser.add_argument("--mode", choices=("backlog", "live", "both"), default="both")
    parser.add_argument("--stations", default="100,1000,5000")
    parser.add_argument("--messages", type=int, default=100_000, help="car orders + meters in the backlog")
    parser.add_argument("--rate", type=float, default=2_000.0, help="live feed, messages/s")
    parser.add_argument("--duration", type=float, default=60.0, help="live feed, seconds")
    parser.add_argument(
        "--backlog-runs",
        choices=("newest", "every_batch"),
        default=None,
        help="service.backlog_runs (default: the packaged default)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", help="with --profile: also write the pstats file here")
    parser.add_argument("--json", action="store_true", help="print each result as JSON too")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    brokers = ["memory", "embedded"] if args.broker == "both" else [args.broker]
    modes = ["backlog", "live"] if args.mode == "both" else [args.mode]
    for _ in range(args.repeat):
        for mode in modes:
            for broker in brokers:
                for stations in (int(s) for s in args.stations.split(",")):
                    spec = dict(
                        broker=broker,
                        mode=mode,
                        stations=stations,
                        messages=args.messages,
                        rate=args.rate,
                        duration=args.duration,
                        backlog_runs=args.backlog_runs,
                        profile=args.profile,
                        profile_out=args.profile_out,
                    )
                    result = run(spec)
                    print(summary(spec, result), flush=True)
                    if args.json:
                        print(json.dumps({**spec, **{k: v for k, v in result.items() if k != "profile"}}), flush=True)
                    if "profile" in result:
                        print(result["profile"], flush=True)


if __name__ == "__main__":
    main()
