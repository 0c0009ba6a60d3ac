"""Integration tests: unique topic names; the broker fixtures are in tests/conftest.py."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or earlier run against an external cluster) uses."""
    return f"d-a-test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
