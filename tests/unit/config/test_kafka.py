"""KAFKA_CONFIG: nested and flat forms resolve to the same client settings."""

from __future__ import annotations

import logging

import pytest

from d_a.config import normalize_kafka_config
from d_a.errors import ConfigError

NESTED = {
    "consumer": {
        "bootstrap_servers": ["kafka1:9092", "kafka2:9092"],
        "group_id": "data_analysis",
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "max_poll_records": 200,
        "fetch_max_wait_ms": 300,
        "sasl_plain_username": "svc",
    },
    "producer": {
        "bootstrap_servers": ["kafka1:9092", "kafka2:9092"],
        "acks": "all",
        "retries": 3,
        "compression_type": "gzip",
        "linger_ms": 10,
        "sasl_plain_username": "svc",
    },
}
FLAT = {
    "bootstrap_servers": "kafka1:9092,kafka2:9092",
    "group_id": "data_analysis",
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "max_poll_records": 200,
    "fetch_max_wait_ms": 300,
    "acks": "all",
    "retries": 3,
    "compression_type": "gzip",
    "linger_ms": 10,
    "sasl_plain_username": "svc",
}
NESTED_WITH_SHARED_TOP = {
    "bootstrap_servers": ["kafka1:9092", "kafka2:9092"],
    "sasl_plain_username": "svc",
    "consumer": {k: v for k, v in NESTED["consumer"].items() if k not in ("bootstrap_servers", "sasl_plain_username")},
    "producer": {k: v for k, v in NESTED["producer"].items() if k not in ("bootstrap_servers", "sasl_plain_username")},
}


@pytest.mark.parametrize("other", [FLAT, NESTED_WITH_SHARED_TOP], ids=["flat", "nested+top-level"])
def test_forms_resolve_identically(other: dict) -> None:
    nested, resolved = normalize_kafka_config(NESTED), normalize_kafka_config(other)
    assert resolved.consumer == nested.consumer
    assert resolved.producer == nested.producer
    assert resolved.bootstrap_servers == ["kafka1:9092", "kafka2:9092"]
    assert "acks" not in resolved.consumer and "group_id" not in resolved.producer


def test_section_value_wins_over_top_level() -> None:
    settings = normalize_kafka_config(
        {
            "bootstrap_servers": "top:9092",
            "request_timeout_ms": 40000,
            "producer": {"request_timeout_ms": 5000},
        }
    )
    assert settings.consumer["request_timeout_ms"] == 40000
    assert settings.producer["request_timeout_ms"] == 5000


def test_bootstrap_only_in_consumer_section_serves_the_producer_too() -> None:
    settings = normalize_kafka_config({"consumer": {"bootstrap_servers": "only:9092"}})
    assert settings.producer["bootstrap_servers"] == ["only:9092"]


def test_defaults_favour_at_least_once() -> None:
    settings = normalize_kafka_config({"bootstrap_servers": "k:9092"})
    assert settings.consumer["enable_auto_commit"] is False
    assert settings.consumer["group_id"] == "data_analysis_group"
    assert settings.producer["acks"] == "all"
    assert (settings.max_retries, settings.retry_interval, settings.multi_consumer_mode) == (5, 5.0, None)


def test_own_keys_are_not_passed_to_clients() -> None:
    settings = normalize_kafka_config(
        {"bootstrap_servers": "k:9092", "multi_consumer_mode": False, "max_retries": 2, "retry_interval": 0.5}
    )
    assert (settings.multi_consumer_mode, settings.max_retries, settings.retry_interval) == (False, 2, 0.5)
    assert "max_retries" not in settings.consumer and "multi_consumer_mode" not in settings.producer


def test_multi_consumer_mode_in_the_consumer_section_as_the_seeds_set_it() -> None:
    settings = normalize_kafka_config({"bootstrap_servers": "k:9092", "consumer": {"multi_consumer_mode": False}})
    assert settings.multi_consumer_mode is False
    assert settings.ignored == () and "multi_consumer_mode" not in settings.consumer
    assert normalize_kafka_config(settings.legacy()).multi_consumer_mode is False


def test_topic_overrides_give_single_topics_consumer_settings_of_their_own() -> None:
    daily = {"fetch_max_wait_ms": 500, "fetch_min_bytes": 1024}
    for raw in (
        {"bootstrap_servers": "k:9092", "consumer": {"topic_overrides": {"SCHEDULE-CAR-PRICE": daily}}},
        {"bootstrap_servers": "k:9092", "topic_overrides": {"SCHEDULE-CAR-PRICE": daily}},
    ):
        settings = normalize_kafka_config(raw)
        assert settings.topic_overrides == {"SCHEDULE-CAR-PRICE": daily}
        assert "topic_overrides" not in settings.consumer and settings.ignored == ()
        assert normalize_kafka_config(settings.legacy()).topic_overrides == settings.topic_overrides
        assert settings.masked()["consumer of SCHEDULE-CAR-PRICE"] == daily
    secret = normalize_kafka_config(
        {"bootstrap_servers": "k:9092", "topic_overrides": {"T": {"sasl_plain_password": "t0p"}}}
    )
    assert secret.masked()["consumer of T"] == {"sasl_plain_password": "***"}


def test_unknown_keys_are_reported_once_as_ignored(caplog: pytest.LogCaptureFixture) -> None:
    raw = {
        "bootstrap_servers": "k:9092",
        "fetch_wait_max_ms": 500,
        "consumer": {"acks": "all", "group_id": "g"},
        "producer": {"group_id": "g"},
    }
    with caplog.at_level(logging.WARNING, logger="d_a.config"):
        first = normalize_kafka_config(raw)
        second = normalize_kafka_config(raw)
    assert (
        first.ignored
        == second.ignored
        == (
            "kafka.fetch_wait_max_ms (unknown)",
            "kafka.consumer.acks (not a consumer setting)",
            "kafka.producer.group_id (not a producer setting)",
        )
    )
    warnings = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(warnings) == 3, warnings
    assert "fetch_wait_max_ms" not in first.consumer
    assert first.producer.get("group_id") is None


def test_secrets_are_masked_for_display() -> None:
    settings = normalize_kafka_config(
        {"bootstrap_servers": "k:9092", "sasl_plain_username": "svc", "sasl_plain_password": "s3cr3t-pw"}
    )
    assert settings.consumer["sasl_plain_password"] == "s3cr3t-pw"
    masked = settings.masked()
    assert masked["consumer"]["sasl_plain_password"] == masked["producer"]["sasl_plain_password"] == "***"
    assert masked["consumer"]["sasl_plain_username"] == "svc"
    assert "s3cr3t-pw" not in repr(masked)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"group_id": "g"}, "kafka.bootstrap_servers: missing"),
        ({"bootstrap_servers": 9092}, "kafka.bootstrap_servers: Input should be a valid list"),
        ({"bootstrap_servers": "k:9092", "consumer": ["x"]}, "kafka.consumer: expected a mapping"),
        ({"bootstrap_servers": "k:9092", "multi_consumer_mode": "yes"}, "kafka.multi_consumer_mode"),
        (
            {"bootstrap_servers": "k:9092", "multi_consumer_mode": True, "consumer": {"multi_consumer_mode": False}},
            "kafka.multi_consumer_mode and kafka.consumer.multi_consumer_mode differ",
        ),
        (
            {"bootstrap_servers": "k:9092", "consumer": {"topic_overrides": {"T": {"fetch_wait_ms": 5}}}},
            "kafka.consumer.topic_overrides.T.fetch_wait_ms: unknown key",
        ),
        (
            {"bootstrap_servers": "k:9092", "consumer": {"topic_overrides": {"T": {"group_id": "g2"}}}},
            "kafka.consumer.topic_overrides.T.group_id",
        ),
        ({"bootstrap_servers": "k:9092", "topic_overrides": {"T": {"max_poll_records": 0}}}, "topic_overrides.T"),
        ({"bootstrap_servers": "k:9092", "consumer": {"topic_overrides": ["T"]}}, "kafka.consumer.topic_overrides"),
        ({"bootstrap_servers": "k:9092", "max_retries": 0}, "kafka.max_retries"),
        ({"bootstrap_servers": "k:9092", "security_protocol": "TLS"}, "kafka.security_protocol"),
        (
            {"bootstrap_servers": "k:9092", "consumer": {"session_timeout_ms": "30s"}},
            "kafka.consumer.session_timeout_ms",
        ),
    ],
)
def test_bad_values_name_the_key(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_kafka_config(raw)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_legacy_form_has_bootstrap_at_top_level() -> None:
    legacy = normalize_kafka_config(NESTED).legacy()
    assert legacy["bootstrap_servers"] == ["kafka1:9092", "kafka2:9092"]
    assert legacy["consumer"]["group_id"] == "data_analysis"
    assert normalize_kafka_config(legacy).consumer == normalize_kafka_config(NESTED).consumer
