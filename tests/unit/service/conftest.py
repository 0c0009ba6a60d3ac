"""Services on the in-memory transport: a broker of the test's own and its transport."""

from __future__ import annotations

import pytest

from d_a.kafka import InMemoryBroker, MemoryTransport


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker()


@pytest.fixture
def transport(broker: InMemoryBroker) -> MemoryTransport:
    return MemoryTransport(broker)
