"""Kafka settings for services under test: quick group joins and fetches on the test broker."""

from __future__ import annotations

import pytest


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
