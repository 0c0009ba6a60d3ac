from __future__ import annotations

import orjson
import pytest

from d_a.config import load_config
from d_a.simulator import StationSimulator
from d_a.topics import StationRouter, build_parsers


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture
def router() -> StationRouter:
    return StationRouter()


@pytest.fixture
def parsers(config, router):
    return build_parsers(config.topics, router)


@pytest.fixture(scope="module")
def feed() -> dict[str, list]:
    """Decoded simulator messages of every topic: 4 stations, 3 h of history, one hour of traffic."""
    sim = StationSimulator(stations=4, seed=7, history_hours=3)
    by_topic: dict[str, list] = {}
    for message in sim.initial_messages() + sim.advance(3600):
        by_topic.setdefault(message.topic, []).append(orjson.loads(message.value))
    return by_topic
