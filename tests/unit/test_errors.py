"""handle_error logs with context and traceback, counts per type, and never raises."""

from __future__ import annotations

import logging

import pytest

from d_a.errors import (
    ConfigError,
    DataAnalysisError,
    DispatcherError,
    KafkaConnectionError,
    error_counts,
    handle_error,
    reset_error_counts,
)


@pytest.fixture(autouse=True)
def _fresh_counts():
    reset_error_counts()
    yield
    reset_error_counts()


def raise_and_catch(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:  # noqa: BLE001
        return caught


def test_hierarchy_lets_callers_catch_everything_from_d_a() -> None:
    for cls in (KafkaConnectionError, DispatcherError, ConfigError):
        assert issubclass(cls, DataAnalysisError)
    assert issubclass(ConfigError, ValueError)


def test_logs_type_message_context_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    exc = raise_and_catch(DispatcherError("parser failed"))
    with caplog.at_level(logging.ERROR):
        handle_error(exc, context="topic=SCHEDULE-DEVICE-GUN station=ST0001")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "DispatcherError: parser failed [context: topic=SCHEDULE-DEVICE-GUN station=ST0001]"
    assert "raise exc" in caplog.text  # the traceback is in the log


def test_counts_per_type() -> None:
    handle_error(KafkaConnectionError("down"))
    handle_error(KafkaConnectionError("still down"))
    handle_error(ValueError("bad"))
    assert error_counts() == {"KafkaConnectionError": 2, "ValueError": 1}


def test_recover_runs_and_its_result_is_returned() -> None:
    assert handle_error(DispatcherError("x"), recover=lambda: "fallback") == "fallback"


def test_failing_recover_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("recovery broke")

    with caplog.at_level(logging.ERROR):
        assert handle_error(DispatcherError("x"), recover=broken) is None
    assert "recovery after DispatcherError failed" in caplog.text
    assert error_counts() == {"DispatcherError": 1, "RuntimeError": 1}


def test_config_error_lists_every_problem() -> None:
    err = ConfigError(["a.b: wrong", "c: missing"])
    assert err.problems == ["a.b: wrong", "c: missing"]
    assert str(err) == "2 configuration problems:\n  - a.b: wrong\n  - c: missing"
    assert str(ConfigError("only: one")) == "only: one"
