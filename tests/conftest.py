"""Shared fixtures: keep each test's logging and configuration state to itself."""

from __future__ import annotations

import importlib
import logging
import os

import pytest

import d_a.config.loader as config_loader

COMPILED = ("d_a.windows.store", "d_a.topics.fields")  # two of the modules setup.py compiles


def pytest_sessionstart(session: pytest.Session) -> None:
    """`D_A_EXPECT_COMPILED=1` (make test's second run): fail at once unless the mypyc build is the
    one imported, so that run can never pass on the pure-Python package by mistake."""
    if os.environ.get("D_A_EXPECT_COMPILED") == "1":
        pure = [name for name in COMPILED if importlib.import_module(name).__file__.endswith(".py")]
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
    yield
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
