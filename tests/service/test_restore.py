"""Windows survive restarts (service.state_dir): after a crash at a random point of a random
feed, every station's first input equals, value for value, what an uninterrupted run builds from
the same messages (through a broker: its latest input, since the broker's consumers read topics
apart and a run may come before each was read); the callbacks of messages committed before a
crash do not run again; a clean restart restores every window and re-runs nothing it saw."""

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

    inputs: dict[str, list[Any]] = {}

    async def model(station_id, module_input):
        inputs.setdefault(station_id, []).append(module_input)

    second = service()
    await second.start(model)
    try:
        assert second.get_service_status()["state"]["restored_stations"] > 0
        if transport.name == "memory":
            await until(lambda: inputs.keys() >= expected.keys(), transport.deadline, what=lambda: sorted(inputs))
            for station, module_input in expected.items():
                assert inputs[station][0] == module_input, f"seed {seed}, station {station}"
        else:  # a broker's consumers read topics apart: a run may come before each topic was read
            await until(
                lambda: all(inputs.get(s, [None])[-1] == i for s, i in expected.items()),
                transport.deadline,
                what=lambda: (
                    f"seed {seed}: stations whose latest input differs: "
                    f"{[s for s, i in expected.items() if inputs.get(s, [None])[-1] != i]}"
                ),
            )
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


async def _read_again_without_runs(transport, status, count: int, inputs, meters: Feed, expected) -> None:
    """A restarted service reads `count` messages again and runs nothing on them; new meters then
    run every station on the windows an uninterrupted run has."""
    await until(
        lambda: status()["state"]["read_again_without_callbacks"] >= count,
        transport.deadline,
        what=lambda: {
            "expected": count,
            "state": status()["state"],
            "messages": status()["counters"]["messages"],
            "lag": status().get("lag"),
        },
    )
    assert not status()["state"]["replaying"]
    await asyncio.sleep(0.5)
    assert inputs == {}
    await _publish(transport, meters)
    await until(lambda: inputs.keys() >= expected.keys(), transport.deadline, what=lambda: sorted(inputs))
    for station, module_input in expected.items():
        assert inputs[station][0] == module_input, f"station {station}"


async def test_after_a_crash_the_callbacks_of_committed_messages_do_not_run_again(transport, tmp_path: Path) -> None:
    feed, meters = _feed(random.Random(11))
    half = len(feed) // 2
    expected = _uninterrupted(transport, feed + meters)
    config = {**CONFIG, "service": {**CONFIG["service"], "checkpoint_interval_seconds": 3600.0}}  # no round meanwhile
    inputs: dict[str, list[Any]] = {}

    async def model(station_id, module_input):
        inputs.setdefault(station_id, []).append(module_input)

    def service():
        return transport.async_service(MODULE, config=config, group_id="committed", state_dir=str(tmp_path))

    async def settled(running) -> None:
        status = running.get_service_status
        await until(lambda: status()["held_messages"] == 0 and status()["stations_waiting_for_backlog"] == 0)
        consumer = running.engine.intake.consumer
        await until(
            lambda: all(
                (p["committed"] or 0) == (p["position"] or 0)
                for partitions in consumer.get_lag_info().values()
                for p in partitions.values()
            ),
            transport.deadline,
        )

    first = service()  # its clean stop checkpoints the first half
    await first.start(model)
    consumed = set(first.options.engine.consumed_topics)
    await _publish(transport, feed[:half])
    count = sum(transport.topic(topic) in consumed for topic, _, _ in feed[:half])
    await until(lambda: first.get_service_status()["counters"]["messages"] >= count, transport.deadline)
    await settled(first)
    await first.stop()

    second = service()  # runs the callbacks of the second half, commits, and dies before a round
    await second.start(model)
    await _publish(transport, feed[half:])
    count = sum(transport.topic(topic) in consumed for topic, _, _ in feed[half:])
    await until(lambda: second.get_service_status()["counters"]["messages"] >= count, transport.deadline)
    await settled(second)
    await _crash(second)
    inputs.clear()

    third = service()
    await third.start(model)
    try:
        await _read_again_without_runs(transport, third.get_service_status, count, inputs, meters, expected)
    finally:
        await third.stop()


async def test_a_station_whose_checkpoint_is_damaged_is_rebuilt_from_the_restore_horizon(
    transport, tmp_path: Path
) -> None:
    feed, meters = _feed(random.Random(5))
    expected = _uninterrupted(transport, feed + meters)
    config = {**CONFIG, "service": {**CONFIG["service"], "restore_horizon_seconds": 3600.0}}
    inputs: dict[str, list[Any]] = {}

    async def model(station_id, module_input):
        inputs.setdefault(station_id, []).append(module_input)

    def service():
        return transport.async_service(MODULE, config=config, group_id="damaged", state_dir=str(tmp_path))

    first = service()
    await first.start(model)
    consumed = set(first.options.engine.consumed_topics)
    await _publish(transport, feed)
    count = sum(transport.topic(topic) in consumed for topic, _, _ in feed)
    await until(lambda: first.get_service_status()["counters"]["messages"] >= count, transport.deadline)
    status = first.get_service_status
    await until(lambda: status()["held_messages"] == 0 and status()["stations_waiting_for_backlog"] == 0)
    await first.stop()
    damaged = next(tmp_path.rglob("ST0001-*.state"))
    damaged.write_bytes(damaged.read_bytes()[:-100])
    inputs.clear()

    second = service()
    await second.start(model)
    try:
        state = second.get_service_status()["state"]
        assert state["rebuilding"] == ["ST0001"]
        assert any(p.startswith("station ST0001") for p in state["restore_problems"])
        await _read_again_without_runs(transport, second.get_service_status, count, inputs, meters, expected)
    finally:
        await second.stop()


async def test_the_thread_based_service_rebuilds_a_damaged_station_and_reruns_nothing(
    transport, tmp_path: Path
) -> None:
    feed, meters = _feed(random.Random(6))
    expected = _uninterrupted(transport, feed + meters)
    config = {**CONFIG, "service": {**CONFIG["service"], "restore_horizon_seconds": 3600.0}}
    inputs: dict[str, list[Any]] = {}

    def model(station_id, module_input):
        inputs.setdefault(station_id, []).append(module_input)

    def service():
        return transport.sync_service(MODULE, config=config, group_id="sync-damaged", state_dir=str(tmp_path))

    first = service()
    await asyncio.to_thread(first.start, model, background=True)
    consumed = set(first.options.engine.consumed_topics)
    await _publish(transport, feed)
    count = sum(transport.topic(topic) in consumed for topic, _, _ in feed)
    status = first.get_service_status
    await until(lambda: status()["counters"]["messages"] >= count, transport.deadline)
    await until(lambda: status()["held_messages"] == 0 and status()["stations_waiting_for_backlog"] == 0)
    await asyncio.to_thread(first.stop)
    damaged = next(tmp_path.rglob("ST0002-*.state"))
    damaged.write_bytes(damaged.read_bytes()[:-100])
    inputs.clear()

    second = service()
    await asyncio.to_thread(second.start, model, background=True)
    try:
        assert second.get_service_status()["state"]["rebuilding"] == ["ST0002"]
        await _read_again_without_runs(transport, second.get_service_status, count, inputs, meters, expected)
    finally:
        await asyncio.to_thread(second.stop)
