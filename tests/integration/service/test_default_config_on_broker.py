"""The packaged default configuration starts without a warning."""

from __future__ import annotations

import logging

import pytest

from d_a import AsyncDataAnalysisService, DataAnalysisService
from d_a.config import default_document


def warnings_of_d_a(records: list[logging.LogRecord]) -> list[str]:
    """d_a's own warnings (the client libraries' timing notes under a loaded machine are not about the
    configuration)."""
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING and r.name.split(".")[0] == "d_a"]


def default_kafka(bootstrap: str) -> dict:
    """The packaged default's Kafka section, pointed at the test broker (nothing else changed)."""
    kafka = default_document()["kafka"]
    kafka["bootstrap_servers"] = [bootstrap]
    return kafka


async def test_the_async_service_starts_on_the_default_config_without_warnings(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        service = AsyncDataAnalysisService("operation_optimization", kafka_config=default_kafka(kafka_bootstrap))
        await service.start(lambda station_id, module_input: None)
        await service.stop()
    assert "service started: module=operation_optimization" in caplog.text
    assert warnings_of_d_a(caplog.records) == []


def test_the_thread_based_service_starts_on_the_default_config_without_warnings(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        service = DataAnalysisService("pv_prediction", kafka_config=default_kafka(kafka_bootstrap))
        service.start(lambda station_id, module_input: None)
        started = list(caplog.records)
        service.stop()
    assert "service started: module=pv_prediction" in caplog.text
    assert warnings_of_d_a(started) == []
    assert warnings_of_d_a(caplog.records) == []
    assert not [r for r in caplog.records if r.getMessage().startswith("Metadata refresh: failed")]  # closing
