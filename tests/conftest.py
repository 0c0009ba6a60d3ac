"""Shared fixtures: keep each test's logging and configuration state to itself."""

from __future__ import annotations

import logging

import pytest

import d_a.config.loader as config_loader


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch: pytest.MonkeyPatch):
    """No test sees another's process-wide config, root handlers, or config env variables."""
    monkeypatch.delenv("DATA_ANALYSIS_CONFIG_PATH", raising=False)
    monkeypatch.delenv("DATA_ANALYSIS_LOG", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(config_loader, "_current", None)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
