"""Code written from the seed documents, run as written against d_a.

Each test is an example of the seeds' API reference (001), batch document (002), developer guide
(003), deployment guide (004) or design specification (000), with the seeds' imports and calls.
Where d_a deliberately differs, the test asserts the documented difference (docs/MIGRATION.md).
Examples that talk to Kafka run on an embedded broker of their own, configured the seeds' way (a
config.py with KAFKA_CONFIG); the others on the in-memory transport, chosen by D_A_TRANSPORT=memory so the
seeds' code stays unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from seed_helpers import write_seed_config

from d_a.kafka import EmbeddedBroker, InMemoryBroker


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> InMemoryBroker:
    """Services and producers made without a transport use the process's in-memory broker."""
    monkeypatch.setenv("D_A_TRANSPORT", "memory")
    return InMemoryBroker.shared()


@pytest.fixture
def seed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded_broker: EmbeddedBroker) -> Path:
    """The deployment guide's config.py, pointed at a broker of the test's own (the seeds' topic
    names are shared by every test; a fresh broker keeps each test's data to itself), as the
    process's configuration."""
    path = write_seed_config(tmp_path, embedded_broker.bootstrap)
    monkeypatch.setenv("DATA_ANALYSIS_CONFIG_PATH", str(path))
    return path
