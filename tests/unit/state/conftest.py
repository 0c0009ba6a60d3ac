"""A dispatcher holding a few minutes of the simulator's feed, every window kind among its topics."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from d_a import DataDispatcher
from d_a.simulator.engine import StationSimulator


def fed_dispatcher(
    stations: int = 3, seconds: int = 240, seed: int = 5, *, global_only: bool = False
) -> DataDispatcher:
    """A dispatcher fed the simulator's first `seconds` (`global_only`: only its global topics,
    as a service's global reader reads them at every start)."""
    simulator = StationSimulator(stations=stations, seed=seed)
    dispatcher = DataDispatcher()
    wanted = (
        {name for name, topic in dispatcher.config.topics.items() if topic.scope == "global"} if global_only else None
    )
    for message in simulator.initial_messages() + simulator.advance(seconds):
        if wanted is None or message.topic in wanted:
            dispatcher.ingest(message.topic, orjson.loads(message.value))
    return dispatcher


@pytest.fixture
def dispatcher() -> DataDispatcher:
    return fed_dispatcher()


@pytest.fixture
def fed() -> Callable[..., DataDispatcher]:
    """`fed(stations=, seconds=, seed=)`: a dispatcher holding that much of the feed."""
    return fed_dispatcher
