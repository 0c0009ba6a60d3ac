"""What each client library receives from d_a's Kafka settings, and the retry policy."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import pytest

from d_a.config import normalize_kafka_config
from d_a.errors import KafkaConnectionError
from d_a.kafka.client_config import (
    aiokafka_consumer_kwargs,
    aiokafka_producer_kwargs,
    kafka_python_consumer_kwargs,
    kafka_python_producer_kwargs,
    resolve_settings,
)
from d_a.kafka.consumer_plan import plan_consumers, use_multi_consumer
from d_a.kafka.retry import retry_async, retry_sync

SETTINGS = normalize_kafka_config(
    {
        "bootstrap_servers": "k1:9092,k2:9092",
        "group_id": "site-7",
        "fetch_max_wait_ms": 300,
        "max_poll_records": 200,
        "acks": "1",
        "retries": 5,
        "batch_size": 32768,
        "buffer_memory": 1 << 25,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "pw-123",
    }
)


def test_aiokafka_gets_what_it_accepts_translated(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="d_a.kafka"):
        consumer = aiokafka_consumer_kwargs(SETTINGS.consumer)
        producer = aiokafka_producer_kwargs(SETTINGS.producer)
        aiokafka_producer_kwargs(SETTINGS.producer)
    assert consumer["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert (consumer["group_id"], consumer["fetch_max_wait_ms"], consumer["max_poll_records"]) == ("site-7", 300, 200)
    assert consumer["sasl_plain_password"] == "pw-123"
    assert producer["acks"] == 1 and producer["max_batch_size"] == 32768
    assert "retries" not in producer and "buffer_memory" not in producer and "batch_size" not in producer
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == ["Kafka setting buffer_memory is not supported by aiokafka producer and is ignored"]


def test_a_key_for_one_client_library_is_said_once_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="d_a.kafka"):
        aiokafka_producer_kwargs(SETTINGS.producer)
        aiokafka_producer_kwargs(SETTINGS.producer)
    said = [r.getMessage() for r in caplog.records]
    assert sum("retries applies to the kafka-python producer only, not the aiokafka producer" in m for m in said) == 1
    assert not any("buffer_memory applies" in m for m in said)  # kafka-python 3 dropped it too: a warning


def test_a_key_no_client_library_takes_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="d_a.kafka"):
        aiokafka_consumer_kwargs({"bootstrap_servers": ["k:9092"], "frobnicate_ms": 3})
    assert "Kafka setting frobnicate_ms is not supported by aiokafka consumer" in caplog.text


def test_kafka_python_gets_its_own_keys() -> None:
    consumer = kafka_python_consumer_kwargs(SETTINGS.consumer)
    producer = kafka_python_producer_kwargs(SETTINGS.producer)
    assert consumer["group_id"] == "site-7" and consumer["enable_auto_commit"] is False
    assert producer["retries"] == 5 and producer["batch_size"] == 32768 and producer["acks"] == 1


def test_ssl_files_become_an_ssl_context_for_aiokafka() -> None:
    ca = str(Path(__file__).parent / "data" / "test-ca.pem")
    settings = normalize_kafka_config({"bootstrap_servers": "k:9093", "security_protocol": "SSL", "ssl_cafile": ca})
    consumer = aiokafka_consumer_kwargs(settings.consumer)
    assert isinstance(consumer["ssl_context"], ssl.SSLContext)
    assert "ssl_cafile" not in consumer
    assert consumer["ssl_context"].get_ca_certs()[0]["subject"] == ((("commonName", "d_a test CA"),),)
    assert kafka_python_consumer_kwargs(settings.consumer)["ssl_cafile"] == ca


def test_multi_consumer_mode_default() -> None:
    assert use_multi_consumer(SETTINGS, ["a", "b"]) is True
    assert use_multi_consumer(SETTINGS, ["a"]) is False
    off = normalize_kafka_config({"bootstrap_servers": "k:1", "multi_consumer_mode": False})
    assert use_multi_consumer(off, ["a", "b"]) is False


def test_topic_overrides_reach_only_their_topics_consumer(caplog: pytest.LogCaptureFixture) -> None:
    raw = {
        "bootstrap_servers": "k:9092",
        "group_id": "svc",
        "fetch_max_wait_ms": 10,
        "topic_overrides": {"SCHEDULE-CAR-PRICE": {"fetch_max_wait_ms": 500}},
    }
    topics = ["SCHEDULE-CAR-ORDER", "SCHEDULE-CAR-PRICE"]
    plan = plan_consumers(
        "test", topics, raw, group_id=None, multi_consumer_mode=None, max_retries=None, retry_interval=None
    )
    kwargs = {tuple(t): aiokafka_consumer_kwargs(values) for t, values in plan.members}
    assert kwargs[("SCHEDULE-CAR-ORDER",)]["fetch_max_wait_ms"] == 10
    assert kwargs[("SCHEDULE-CAR-PRICE",)]["fetch_max_wait_ms"] == 500
    assert kwargs[("SCHEDULE-CAR-PRICE",)]["group_id"] == "svc-SCHEDULE-CAR-PRICE"
    with caplog.at_level(logging.WARNING, logger="d_a.kafka"):
        single = plan_consumers(
            "test", topics, raw, group_id=None, multi_consumer_mode=False, max_retries=None, retry_interval=None
        )
    assert single.members == [(topics, {**single.settings.consumer, "group_id": "svc"})]
    assert [r.getMessage() for r in caplog.records] == [
        "test: topic_overrides for SCHEDULE-CAR-PRICE ignored: they apply in multi-consumer mode only"
    ]


def test_resolve_settings_forms() -> None:
    assert resolve_settings(SETTINGS) is SETTINGS
    assert resolve_settings({"bootstrap_servers": "x:1"}).bootstrap_servers == ["x:1"]
    assert resolve_settings(None).bootstrap_servers == ["localhost:9092"]


def test_retry_sync_backs_off_then_names_what_failed(monkeypatch, caplog) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", sleeps.append)
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise OSError("connection refused")

    with pytest.raises(KafkaConnectionError, match="connecting to k:9092 failed after 4 attempts: connection refused"):
        retry_sync(attempt, what="connecting to k:9092", attempts=4, retry_interval=0.5)
    assert len(calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


async def test_retry_async_backs_off_as_the_sync_one_and_numbers_its_attempts(monkeypatch, caplog) -> None:
    sleeps: list[float] = []

    async def no_wait(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    calls = []

    async def attempt() -> None:
        calls.append(1)
        raise OSError("connection refused")

    with pytest.raises(KafkaConnectionError, match="sending 1 messages failed after 4 attempts: connection refused"):
        await retry_async(attempt, what="sending 1 messages", attempts=4, retry_interval=0.5)
    assert len(calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert [r.getMessage().split(": ")[0] for r in caplog.records if "retrying" in r.getMessage()] == [
        f"sending 1 messages failed (attempt {n}/4)" for n in (1, 2, 3)
    ]


async def test_retry_async_returns_after_a_transient_failure() -> None:
    outcomes = [OSError("down"), "connected"]

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await retry_async(attempt, what="start", attempts=3, retry_interval=0.001) == "connected"


async def test_retry_async_does_not_retry_other_errors() -> None:
    async def attempt() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await retry_async(attempt, what="start", attempts=3, retry_interval=0.001, retry_on=(OSError,))
