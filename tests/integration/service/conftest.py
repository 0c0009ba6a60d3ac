"""Fresh brokers for tests that need topics and groups no earlier test touched."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from d_a.kafka import BrokerUnavailable, EmbeddedBroker


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
