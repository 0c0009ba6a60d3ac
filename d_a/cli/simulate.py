"""`d-a simulate`: feed a Kafka cluster with the station simulator (all 13 input topics)."""

from __future__ import annotations

import argparse
import asyncio
import time

from ..kafka import AsyncKafkaProducerClient
from ..simulator import FaultConfig, StationSimulator


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("simulate", help="publish a realistic multi-station feed to Kafka")
    parser.add_argument("--bootstrap", required=True, metavar="HOST:PORT")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second (default 1)")
    parser.add_argument("--history-hours", type=int, default=168, help="REALTIME-DATA history per push")
    parser.add_argument("--faults", type=float, default=0.0, help="share of faulty messages (0..1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    faults = FaultConfig(rate=args.faults) if args.faults else None
    simulator = StationSimulator(args.stations, seed=args.seed, history_hours=args.history_hours, faults=faults)
    sent = 0
    async with AsyncKafkaProducerClient({"bootstrap_servers": args.bootstrap}) as producer:
        sent += await publish_messages(producer, simulator.initial_messages())
        started = time.monotonic()
        while time.monotonic() - started < args.duration:
            tick = time.monotonic()
            sent += await publish_messages(producer, simulator.advance(args.speed))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        sent += await publish_messages(producer, simulator.flush())
    print(f"d-a simulate: {sent:,} messages for {args.stations} stations sent to {args.bootstrap}")
    return 0


async def publish_messages(producer: AsyncKafkaProducerClient, messages) -> int:
    """Send simulator messages, one `send_many` per topic; returns how many were sent."""
    by_topic: dict[str, list] = {}
    for message in messages:
        by_topic.setdefault(message.topic, []).append((message.key, message.value))
    for topic, items in by_topic.items():
        await producer.send_many(topic, items)
    return sum(len(items) for items in by_topic.values())
