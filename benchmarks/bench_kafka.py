"""Kafka client benchmark: messages/s consumed and decoded (~500-byte JSON) through d_a's clients,
next to the raw aiokafka / kafka-python rate (orjson decode, batch reads) without the wrapper.

    python benchmarks/bench_kafka.py [--quick] [--messages N]

Runs against the embedded broker (started here on a free 127.0.0.1 port) or D_A_BOOTSTRAP.
Group joins are not timed: a rate runs from the first message to the last. Prints only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Callable

import kafka
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from d_a.kafka import AsyncKafkaConsumerClient, EmbeddedBroker, KafkaConsumerClient

JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "auto_offset_reset": "earliest"}


def payload(i: int) -> bytes:
    """A car order of about 500 bytes."""
    return orjson.dumps(
        {
            "stationId": f"ST{i % 1000:04d}",
            "transactionSerialNo": f"TX{i:012d}",
            "hostCode": f"H{i % 1000:04d}",
            "gunNo": i % 8 + 1,
            "terminalMaxOutElectric": 250.0,
            "startChargeTime": "2025-11-01 08:00:00",
            "endChargeTime": "",
            "beginSOC": 20.5,
            "soc": 42.25,
            "terminalRequireVoltage": 400.5,
            "terminalRequireElectric": 150.2,
            "outputPower": 60.125,
            "carProducerCode": "BYD",
            "batteryNominalTotalCapacity": 75.0,
            "sendTime": "2025-11-01 08:15:00",
            "note": "x" * 120,
        }
    )


async def produce(bootstrap: str, topics: list[str], count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for start in range(0, count, 5000):
            futures = [
                await producer.send(topics[i % len(topics)], payload(i), key=f"ST{i % 1000}".encode())
                for i in range(start, min(start + 5000, count))
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Meter:
    """Counts messages from the first one on."""

    def __init__(self, expected: int) -> None:
        self.expected, self.count, self.first = expected, 0, None

    def add(self, n: int) -> bool:
        if n and self.first is None:
            self.first = time.perf_counter()
        self.count += n
        return self.count >= self.expected

    def rate(self) -> float:
        return self.count / (time.perf_counter() - self.first) if self.first else 0.0


async def raw_aiokafka(bootstrap: str, topics: list[str], expected: int, per_topic: bool = False) -> float:
    """The raw client: one AIOKafkaConsumer (or one per topic, fetched concurrently)."""
    groups = [[t] for t in topics] if per_topic else [topics]
    group = uuid.uuid4().hex
    consumers = [
        AIOKafkaConsumer(*ts, bootstrap_servers=bootstrap, group_id=f"{group}-{i}", max_poll_records=500, **JOIN)
        for i, ts in enumerate(groups)
    ]
    await asyncio.gather(*(c.start() for c in consumers))
    meter = Meter(expected)
    try:
        while True:
            fetched = await asyncio.gather(*(c.getmany(timeout_ms=1000, max_records=500) for c in consumers))
            values = [orjson.loads(r.value) for batches in fetched for records in batches.values() for r in records]
            if meter.add(len(values)):
                return meter.rate()
    finally:
        await asyncio.gather(*(c.stop() for c in consumers))


async def ours_async(bootstrap: str, topics: list[str], expected: int, multi: bool) -> float:
    config = {"bootstrap_servers": bootstrap, "max_poll_records": 500, **JOIN}
    consumer = AsyncKafkaConsumerClient(
        topics, config, group_id=uuid.uuid4().hex, multi_consumer_mode=multi, decode_json=True
    )
    await consumer.start()
    meter = Meter(expected)
    try:
        while not meter.add(len(await consumer.getmany(timeout_ms=1000))):
            pass
        return meter.rate()
    finally:
        await consumer.stop()


def raw_kafka_python(bootstrap: str, topics: list[str], expected: int) -> float:
    consumer = kafka.KafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex, max_poll_records=500, **JOIN
    )
    meter = Meter(expected)
    try:
        while True:
            batches = consumer.poll(timeout_ms=1000, max_records=500)
            values = [orjson.loads(r.value) for records in batches.values() for r in records]
            if meter.add(len(values)):
                return meter.rate()
    finally:
        consumer.close()


def ours_sync(bootstrap: str, topics: list[str], expected: int) -> float:
    config = {"bootstrap_servers": bootstrap, "max_poll_records": 500, **JOIN}
    consumer = KafkaConsumerClient(topics, config, group_id=uuid.uuid4().hex, multi_consumer_mode=False)
    meter = Meter(expected)
    try:
        while not meter.add(sum(len(m) for m in consumer.poll(timeout_ms=1000).values())):
            pass
        return meter.rate()
    finally:
        consumer.close()


def best(runs: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 messages, one run each")
    parser.add_argument("--messages", type=int, default=None)
    args = parser.parse_args()
    count = args.messages or (50_000 if args.quick else 200_000)
    runs = 1 if args.quick else 2
    external = os.environ.get("D_A_BOOTSTRAP")
    broker = None if external else EmbeddedBroker().start()
    bootstrap = external or broker.bootstrap
    try:
        one, two = (
            [f"bench-{uuid.uuid4().hex[:6]}"],
            [f"bench-a-{uuid.uuid4().hex[:6]}", f"bench-b-{uuid.uuid4().hex[:6]}"],
        )
        asyncio.run(produce(bootstrap, one, count))
        asyncio.run(produce(bootstrap, two, count))
        print(f"d_a Kafka benchmark: {count:,} messages of {len(payload(0))} bytes, {bootstrap}, best of {runs}")
        raw_async = best(runs, lambda: asyncio.run(raw_aiokafka(bootstrap, one, count)))
        single = best(runs, lambda: asyncio.run(ours_async(bootstrap, one, count, multi=False)))
        raw_two = best(runs, lambda: asyncio.run(raw_aiokafka(bootstrap, two, count, per_topic=True)))
        multi = best(runs, lambda: asyncio.run(ours_async(bootstrap, two, count, multi=True)))
        raw_sync = best(runs, lambda: raw_kafka_python(bootstrap, one, count))
        sync = best(runs, lambda: ours_sync(bootstrap, one, count))
        rows = [
            ("aiokafka, 1 topic", raw_async, "AsyncKafkaConsumerClient single", single),
            ("aiokafka, 2 topics, 2 consumers", raw_two, "AsyncKafkaConsumerClient multi", multi),
            ("kafka-python, 1 topic", raw_sync, "KafkaConsumerClient", sync),
        ]
        print(f"  {'raw client + orjson':32s} {'msg/s':>10s}   {'d_a client':34s} {'msg/s':>10s}  wrapper cost")
        for raw_name, raw, ours_name, ours in rows:
            print(f"  {raw_name:32s} {raw:>10,.0f}   {ours_name:34s} {ours:>10,.0f}  {100 * (1 - ours / raw):+.1f}%")
    finally:
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    main()
