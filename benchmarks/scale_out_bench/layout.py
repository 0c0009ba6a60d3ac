"""What a run sets up: the module's simulator topics (which are keyed by station, which go through the
splitters, which are global), created on the run's broker with one partition count; the workers'
configuration document; the backlog's messages."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from service_bench.env import MODULE
from service_bench.feeders import KafkaFeed

from d_a.config import default_document, get_config
from d_a.simulator import TOPICS, SimMessage, StationSimulator
from d_a.simulator.message import PARAM, REALTIME

RESTORE_HORIZON_SECONDS = 3600.0
MANY_STATIONS = (PARAM, REALTIME)  # the simulator sends these with many stations a message, no key


@dataclass(frozen=True)
class Topics:
    """The topics module MODULE reads, by how a scaled-out group reads them."""

    all: tuple[str, ...]  # every one (created by the run, with the same partition count)
    fed: tuple[str, ...]  # those the simulator feeds
    keyed: tuple[str, ...]  # keyed by station id: read as they are (their partition is the slot)
    split: tuple[str, ...]  # many stations a message: the splitters cut them into by-station topics
    global_: tuple[str, ...]  # read whole by every worker (the calendar)


@functools.cache
def module_topics() -> Topics:
    """The simulator keys every single-station message by its station id, and d_a keys its results
    by station (so the dependency's output, MODULE-OUTPUT-LOAD_PREDICTION, empty here, is keyed too)."""
    config = get_config()
    names = tuple(config.module_to_topics[MODULE])
    global_ = tuple(t for t in names if config.topics[t].scope == "global")
    split = tuple(t for t in names if t in MANY_STATIONS)
    keyed = tuple(t for t in names if t not in global_ and t not in split)
    return Topics(names, tuple(t for t in names if t in TOPICS), keyed, split, global_)


def config_document(topics: Topics) -> dict[str, Any]:
    """The packaged configuration with the single-station topics `keyed_by_station: true` (the
    dependency's output topic, registered implicitly, gets an entry of its own)."""
    document = default_document()
    config = get_config()
    for topic in topics.keyed:
        entry = document["topics"].setdefault(topic, config.topics[topic].model_dump(exclude_defaults=True))
        entry["keyed_by_station"] = True
    return document


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Every topic with `partitions` partitions (the keyed ones co-partitioned: the slots)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in names])
    finally:
        await admin.close()


@dataclass(frozen=True)
class Backlog:
    """A pre-loaded backlog: its messages and how many of them each kind of topic holds."""

    stations: int
    messages: list[SimMessage]
    keyed: int
    split: int
    global_: int


@functools.cache
def backlog(stations: int, count: int) -> Backlog:
    """The first `count` messages of a `stations`-station simulation of the module's topics (its
    initial messages, then simulated seconds): generated once per size and kept for the next run."""
    topics = module_topics()
    sim = StationSimulator(stations=stations, history_hours=2, topics=list(topics.fed))
    messages = sim.initial_messages()
    while len(messages) < count:
        messages += sim.advance(1.0)
    messages = messages[:count]
    per_topic = Counter(m.topic for m in messages)
    unkeyed = [m.topic for m in messages if m.topic in topics.keyed and not m.key]
    if unkeyed:
        raise RuntimeError(f"the simulator sent {len(unkeyed)} messages of keyed topics without a key")

    def total(names: Sequence[str]) -> int:
        return sum(per_topic[t] for t in names)

    return Backlog(stations, messages, total(topics.keyed), total(topics.split), total(topics.global_))


async def load(bootstrap: str, messages: Sequence[SimMessage]) -> None:
    """Publish `messages` with their simulated timestamps (keyed ones to their station's partition)."""
    feed = await KafkaFeed(bootstrap).start()
    try:
        await feed.publish(messages, now=False)
    finally:
        await feed.close()
