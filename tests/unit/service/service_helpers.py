"""Helpers of the service tests: publishing, reading outputs, waiting for conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

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


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def wait_sync(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
