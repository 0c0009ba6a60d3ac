"""Helpers of the service tests: publishing, reading outputs (waiting: tests/helpers.py)."""

from __future__ import annotations

import time

import orjson

from d_a.kafka import InMemoryBroker, MemoryConsumer


def publish(broker: InMemoryBroker, topic: str, value: object, key: str | None = None) -> None:
    broker.produce(topic, orjson.dumps(value), key=key.encode() if key else None)


def output_messages(broker: InMemoryBroker, topic: str) -> list[dict]:
    """Everything uploaded to an output topic so far, decoded."""
    consumer = MemoryConsumer([topic], broker, group_id=f"reader-{time.monotonic_ns()}", auto_offset_reset="earliest")
    try:
        messages = []
        while batch := consumer.poll(timeout_ms=50):
            messages += [m.value for part in batch.values() for m in part]
        return messages
    finally:
        consumer.close()
