"""What the service is fed: the pre-loaded simulator messages of the throughput run, and the real-time
feeders of the latency runs (in the service's process, or in a process of their own for Kafka).

Run as a script, this file is that process (`ProcessFeeder` starts it): it imports nothing of the
benchmark's package, so it loads the same d_a build as the benchmark (PYTHONPATH), not the sources
next to it.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from aiokafka import AIOKafkaProducer

from d_a.kafka import InMemoryBroker
from d_a.simulator import SimMessage, StationSimulator
from d_a.simulator.message import CAR_ORDER

THROUGHPUT_STATIONS = 1_000
TICK_SECONDS = 0.1
FEEDER_READY_SECONDS = 300.0  # the feeder process generates its whole feed before it says ready
STOP_SECONDS = 30.0  # a feeder process not gone this long after `stop` is killed


class Feed(Protocol):
    """Where a feeder publishes: the in-memory broker or a Kafka producer."""

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
    """A car order's identity: station, gun and the second it was sent."""
    return str(order.get("stationId")), str(order.get("gunNo")), str(order.get("sendTime"))


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


@functools.cache
def simulated_feed(count: int, topics: tuple[str, ...]) -> list[SimMessage]:
    """The first `count` messages of a 1,000-station simulation of the service's input topics."""
    sim = StationSimulator(stations=THROUGHPUT_STATIONS, history_hours=2, topics=topics)
    out = sim.initial_messages()
    while len(out) < count:
        out += sim.advance(1.0)
    return out[:count]


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
        args = [bootstrap, str(stations), ",".join(topics), str(seconds)]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            os.path.abspath(__file__),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
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
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def _say(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())


async def feeder_process(bootstrap: str, stations: int, topics: list[str], seconds: float) -> None:
    """The ProcessFeeder's side: this file run as a script."""
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


if __name__ == "__main__":
    bootstrap, stations, topics, seconds = sys.argv[1:5]
    asyncio.run(feeder_process(bootstrap, int(stations), topics.split(","), float(seconds)))
