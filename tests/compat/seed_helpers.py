"""Helpers of the seed-compatibility tests: the seeds' config.py, simulator feeds, reading topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from d_a.kafka import AsyncKafkaConsumerClient, AsyncKafkaProducerClient, InMemoryBroker, MemoryConsumer
from d_a.simulator import SimMessage, StationSimulator

# The deployment guide's config.py (nested KAFKA_CONFIG, OFFSET_COMMIT_CONFIG), pointed at the
# test broker; `earliest` so a fresh group reads what a test produced before it started.
SEED_CONFIG_PY = """\
# -*- coding: utf-8 -*-
KAFKA_CONFIG = {{
    'consumer': {{
        'bootstrap_servers': ['{bootstrap}'],
        'group_id': '{group}',
        'auto_offset_reset': 'earliest',
        'enable_auto_commit': False,
        'max_poll_records': 500,
        'session_timeout_ms': 6000,
        'heartbeat_interval_ms': 1000,
        'fetch_max_wait_ms': 50,
    }},
    'producer': {{
        'bootstrap_servers': ['{bootstrap}'],
        'acks': 'all',
        'retries': 3,
        'compression_type': 'gzip',
        'linger_ms': 10,
        'batch_size': 16384,
    }},
    'max_retries': 3,
    'retry_interval': 0.5,
}}

OFFSET_COMMIT_CONFIG = {{
    'commit_interval_seconds': 1.0,
    'commit_batch_size': 100,
    'max_commit_retries': 3,
    'commit_retry_delay': 1.0,
}}
"""


def write_seed_config(directory: Path, bootstrap: str) -> Path:
    path = directory / "config.py"
    path.write_text(SEED_CONFIG_PY.format(bootstrap=bootstrap, group=f"seed-{uuid.uuid4().hex[:8]}"), "utf-8")
    return path


def simulated(stations: int = 3, seconds: int = 30, seed: int = 7) -> list[SimMessage]:
    """Reference data (parameters, calendar, prices, weather, a day of hourly history) and
    `seconds` of live data of `stations` simulated stations (ids ST0001...)."""
    simulator = StationSimulator(stations=stations, seed=seed, history_hours=24)
    return [*simulator.initial_messages(), *simulator.advance(seconds)]


def into_memory(messages: Iterable[SimMessage], broker: InMemoryBroker | None = None) -> None:
    broker = broker or InMemoryBroker.shared()
    for m in messages:
        broker.produce(m.topic, m.value, key=m.key, timestamp_ms=m.timestamp_ms)


def publish_memory(topic: str, value: object, key: str | None = None) -> None:
    InMemoryBroker.shared().produce(topic, orjson.dumps(value), key=key.encode() if key else None)


async def into_kafka(messages: Iterable[SimMessage], kafka_config: dict) -> None:
    by_topic: dict[str, list] = {}
    for m in messages:
        by_topic.setdefault(m.topic, []).append((m.key, m.value))
    async with AsyncKafkaProducerClient(kafka_config) as producer:
        for topic, items in by_topic.items():
            await producer.send_many(topic, items)


def read_memory(topic: str) -> list:
    """Everything on a topic of the shared in-memory broker, decoded."""
    consumer = MemoryConsumer(
        [topic], InMemoryBroker.shared(), group_id=f"reader-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    try:
        values = []
        while batch := consumer.poll(timeout_ms=50):
            values += [m.value for part in batch.values() for m in part]
        return values
    finally:
        consumer.close()


async def read_kafka(
    topic: str, kafka_config: dict, until: Callable[[list], bool], *, since: float, timeout: float = 60
) -> list:
    """Decoded values of `topic` uploaded at `since` (epoch s) or later, read until `until(values)`
    holds (or `timeout`); earlier tests' uploads to the same topic are left out."""
    config = {**kafka_config, "consumer": {**kafka_config["consumer"], "auto_offset_reset": "earliest"}}
    values: list = []
    async with AsyncKafkaConsumerClient(
        [topic], config, group_id=f"reader-{uuid.uuid4().hex}", decode_json=True
    ) as reader:
        deadline = time.monotonic() + timeout
        while not until(values) and time.monotonic() < deadline:
            batch = [m.value for m in await reader.getmany(timeout_ms=500)]
            values += [v for v in batch if isinstance(v, dict) and v.get("timestamp", 0) >= since]
    return values
