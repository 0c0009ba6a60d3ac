"""Kafka settings for services under test: quick group joins and fetches on the test broker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from d_a.kafka import BrokerUnavailable, EmbeddedBroker


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> dict:
    return {
        "bootstrap_servers": kafka_bootstrap,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "fetch_max_wait_ms": 50,
        "max_retries": 3,
        "retry_interval": 0.2,
    }


@pytest.fixture
def fresh_brokers() -> Iterator[Callable[[], EmbeddedBroker]]:
    """Starts a new embedded broker per call (fresh topics, fresh groups); all stopped at the end."""
    started: list[EmbeddedBroker] = []

    def start() -> EmbeddedBroker:
        broker = EmbeddedBroker()
        started.append(broker)
        try:
            broker.start()
        except BrokerUnavailable as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"embedded broker unavailable under CI: {exc}", pytrace=False)
            pytest.skip(f"embedded broker unavailable: {exc}")
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.close()
