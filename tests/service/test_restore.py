"""Windows survive restarts (service.state_dir): after a crash at a random point of a random
feed, every station's first input equals, value for value, what an uninterrupted run builds from
the same messages; a clean restart restores every window and re-runs nothing it saw."""

from __future__ import annotations

import asyncio
import copy
import random
from pathlib import Path
from typing import Any

import orjson
from helpers import until

from d_a import DataDispatcher
from d_a.config import default_document
from d_a.simulator import StationSimulator

MODULE = "operation_optimization"  # eleven topics: every window kind
CAR_ORDER = "SCHEDULE-CAR-ORDER"
METER = "SCHEDULE-DEVICE-METER"


def _config() -> dict[str, Any]:
    topics = copy.deepcopy(default_document()["topics"])
    # seconds complete only by newer records: a first input depends on the messages alone, not on
    # how long a restart took (the clock completes a second a grace after its last record)
    topics[CAR_ORDER]["second_grace_seconds"] = None
    return {
        "topics": topics,
        "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 20},
        "service": {"checkpoint_interval_seconds": 0.3, "backlog_max_delay": 120.0},
    }


CONFIG = _config()


Feed = list[tuple[str, bytes | None, bytes]]


def _feed(rng: random.Random) -> tuple[Feed, Feed]:
    """A random simulated feed, and what follows it: one meter reading per station."""
    simulator = StationSimulator(stations=rng.randint(2, 5), seed=rng.randrange(1000), history_hours=24)
    messages = simulator.initial_messages() + simulator.advance(rng.randint(20, 90))
    meters = [m for m in simulator.advance(300) if m.topic == METER]
    return [(m.topic, m.key, m.value) for m in messages], [(m.topic, m.key, m.value) for m in meters]


async def _publish(transport, feed) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for topic, key, value in feed:
        by_topic.setdefault(topic, []).append((key, value))
    for topic, items in by_topic.items():
        await transport.publish_many(topic, items)


def _uninterrupted(transport, feed) -> dict[str, Any]:
    """Each station's input after every message of the feed, from a dispatcher that never stopped."""
    dispatcher = DataDispatcher(config=transport.config(CONFIG))
    for topic, _, value in feed:
        dispatcher.ingest(transport.topic(topic), orjson.loads(value))
    return {station: dispatcher.get_module_input(station, MODULE) for station in dispatcher.stations()}


async def _crash(service) -> None:
    await service.engine.abort()
    service.engine = None


SEEDS = {"memory": range(1, 9), "kafka": range(1, 3)}  # a broker's group joins take seconds


async def test_first_inputs_after_a_crash_equal_an_uninterrupted_run(transport, tmp_path: Path) -> None:
    for seed in SEEDS[transport.name]:
        transport.new_names()
        await _crash_and_restart(transport, tmp_path / str(seed), seed)


async def _crash_and_restart(transport, state_dir: Path, seed: int) -> None:
    """A random feed; a crash at a random point while it arrives; a restart with the rest of it."""
    rng = random.Random(seed)
    feed, meters = _feed(rng)
    expected = _uninterrupted(transport, feed + meters)
    chunks = [feed[i : i + len(feed) // 12 + 1] for i in range(0, len(feed), len(feed) // 12 + 1)]
    crash_after = rng.randint(4, len(chunks))  # chunks published when the process dies

    def service():
        return transport.async_service(MODULE, config=CONFIG, group_id=f"restore-{seed}", state_dir=str(state_dir))

    async def ignore(station_id, module_input):
        return None

    first = service()
    await first.start(ignore)
    for chunk in chunks[:crash_after]:  # live data: checkpoints and commits while it arrives
        await _publish(transport, chunk)
        await asyncio.sleep(rng.uniform(0.02, 0.15))
    await until(lambda: first.get_service_status()["state"]["rounds"] >= 1, transport.deadline)
    await _crash(first)
    for chunk in chunks[crash_after:]:
        await _publish(transport, chunk)
    await _publish(transport, meters)  # a new reading runs every station after the restart

    inputs: dict[str, Any] = {}

    async def model(station_id, module_input):
        inputs.setdefault(station_id, module_input)

    second = service()
    await second.start(model)
    try:
        assert second.get_service_status()["state"]["restored_stations"] > 0
        await until(lambda: inputs.keys() >= expected.keys(), transport.deadline, what=lambda: sorted(inputs))
        for station, module_input in expected.items():
            assert inputs[station] == module_input, f"seed {seed}, station {station}"
    finally:
        await second.stop()


async def test_a_clean_restart_restores_every_window_and_reruns_nothing(transport, tmp_path: Path) -> None:
    feed, _ = _feed(random.Random(7))
    await _publish(transport, feed)
    runs: list[str] = []

    async def model(station_id, module_input):
        runs.append(station_id)

    def service():
        return transport.async_service(MODULE, config=CONFIG, group_id="clean", state_dir=str(tmp_path))

    first = service()
    await first.start(model)
    consumed = set(first.options.engine.consumed_topics)
    count = sum(transport.topic(topic) in consumed for topic, _, _ in feed)
    await until(lambda: first.get_service_status()["counters"]["messages"] >= count, transport.deadline)
    status = first.get_service_status
    await until(lambda: status()["held_messages"] == 0 and status()["stations_waiting_for_backlog"] == 0)
    stations = first.dispatcher.stations()
    before = {s: first.dispatcher.get_module_input(s, MODULE) for s in stations}
    await first.stop()
    runs.clear()

    second = service()
    await second.start(model)
    try:
        state = second.get_service_status()["state"]
        assert state["restored"] and state["restored_stations"] == len(stations) and state["restore_problems"] == []
        await asyncio.sleep(0.5)
        read = second.get_service_status()["messages_per_topic"]
        assert {topic: read[topic] for topic in consumed} == dict.fromkeys(consumed, 0)  # all committed
        assert runs == []
        assert {s: second.dispatcher.get_module_input(s, MODULE) for s in stations} == before
    finally:
        await second.stop()
