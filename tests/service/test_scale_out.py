"""Scale-out as a user sees it: services started with the same group and `scale_out` share the
stations by slot through the broker's consumer group. Once a rebalance settles each station runs
on exactly one of them; a station that moves runs on its new owner with its whole window (rebuilt
from Kafka), and every message reaches a callback, also when an instance dies mid-stream."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
from helpers import until

from d_a import AsyncDataAnalysisService
from d_a.errors import ConfigError
from d_a.kafka.slots import slot_of

SEQ = "SITE-SEQ"
AUX = "SITE-AUX"
STATIONS = [f"ST{n:04d}" for n in range(1, 13)]
CONFIG = {
    "topics": {
        SEQ: {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 5000},
        AUX: {"kind": "latest", "fields": ["aux"], "types": {"aux": "integer"}, "modules": ["seq_model"]},
    },
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
}
SCALE_OUT = {"scale_out": True, "restore_horizon_seconds": 3600}


def seqs(numbers: range) -> list[tuple[str, dict]]:
    """(key, value) of SITE-SEQ messages keyed by station, spread over STATIONS."""
    return [(STATIONS[n % len(STATIONS)], {"stationId": STATIONS[n % len(STATIONS)], "seq": n}) for n in numbers]


def sent_to(station: str, numbers: range) -> list[int]:
    return [n for n in numbers if STATIONS[n % len(STATIONS)] == station]


@dataclass
class Instance:
    """One service of the group and every run it made: (time, station, the seq window it saw);
    `aux` is the SITE-AUX value each station's runs saw last."""

    name: str
    service: AsyncDataAnalysisService
    runs: list[tuple[float, str, list[int]]] = field(default_factory=list)
    aux: dict[str, int | None] = field(default_factory=dict)
    running: asyncio.Event = field(default_factory=asyncio.Event)

    async def model(self, station_id: str, module_input: dict) -> None:
        await self.running.wait()
        self.runs.append((time.monotonic(), station_id, list(module_input.get("seq_window") or [])))
        self.aux[station_id] = module_input.get("aux")

    async def start(self) -> None:
        self.running.set()
        await self.service.start(self.model)

    def owned(self) -> list[int]:
        status = self.service.get_service_status().get("scale_out") or {}
        return status.get("owned", [])

    def settled(self) -> bool:
        """Its slots are read and the windows of those that moved here rebuilt."""
        engine = self.service.engine
        return bool(self.owned()) and engine is not None and not engine.tails

    def seen(self) -> set[int]:
        return {n for _, _, window in self.runs for n in window}

    def stations_since(self, moment: float) -> set[str]:
        return {station for at, station, _ in self.runs if at >= moment}

    def first_window(self, station: str, since: float) -> list[int]:
        return next(window for at, s, window in self.runs if s == station and at >= since)


def _service(on_kafka, name: str) -> Instance:
    return Instance(name, on_kafka.async_service("seq_model", config=CONFIG, group_id="shared", **SCALE_OUT))


async def _settled(on_kafka, *instances: Instance, slots: int = 3) -> float:
    """Wait until the instances' slots cover every slot once, each read with windows rebuilt."""

    def shared() -> bool:
        owned = sorted(s for i in instances for s in i.owned())
        return owned == list(range(slots)) and all(i.settled() for i in instances)

    await until(shared, on_kafka.deadline, interval=0.05, what=lambda: {i.name: i.owned() for i in instances})
    return time.monotonic()


async def test_two_instances_share_the_stations_and_take_them_back_with_their_windows(on_kafka) -> None:
    first = _service(on_kafka, "first")
    await on_kafka.publish_many(AUX, [(s, {"stationId": s, "aux": n}) for n, s in enumerate(STATIONS)])
    await on_kafka.publish_many(SEQ, seqs(range(120)))
    await first.start()
    second = _service(on_kafka, "second")
    try:
        await until(lambda: first.seen() >= set(range(120)), on_kafka.deadline)
        await second.start()
        settled = await _settled(on_kafka, first, second)
        await on_kafka.publish_many(SEQ, seqs(range(120, 240)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(240)), on_kafka.deadline)

        for instance in (first, second):  # each station runs on the owner of its slot only
            for station in instance.stations_since(settled):
                assert slot_of(station, 3) in instance.owned(), (instance.name, station)
        moved = second.stations_since(settled)
        assert moved and first.stations_since(settled) and not moved & first.stations_since(settled)
        for station in moved:  # the windows came along: the first run there sees the station's history
            assert second.aux[station] == STATIONS.index(station)  # of every topic
            assert second.first_window(station, settled)[: len(sent_to(station, range(120)))] == sent_to(
                station, range(120)
            )
    finally:
        await second.service.stop()
    back = await _settled(on_kafka, first)
    await on_kafka.publish_many(SEQ, seqs(range(240, 360)))
    try:
        await until(lambda: first.seen() >= set(range(360)), on_kafka.deadline)
        for station in moved:  # taken back: rebuilt again, every seq of the station up to now
            window = first.first_window(station, back)
            assert window[: len(sent_to(station, range(240)))] == sent_to(station, range(240))
    finally:
        await first.service.stop()
    assert first.service.get_service_status()["counters"]["callback_errors"] == 0


async def test_an_instance_dying_mid_stream_loses_nothing(on_kafka) -> None:
    first, second = _service(on_kafka, "first"), _service(on_kafka, "second")
    await first.start()
    await second.start()
    try:
        await _settled(on_kafka, first, second)
        await on_kafka.publish_many(SEQ, seqs(range(100)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(100)), on_kafka.deadline)
        second.running.clear()  # its callbacks hang, as a stuck model does when the process dies
        await on_kafka.publish_many(SEQ, seqs(range(100, 200)))
        await until(lambda: second.service.get_service_status()["counters"]["messages"] > 0, on_kafka.deadline)
        unseen_there = set(range(100, 200)) - first.seen() - second.seen()
        assert unseen_there  # the second had taken messages it never finished
        engine = second.service.engine
        second.service.engine = None
        await engine.abort()  # killed: nothing committed, nothing flushed
        await _settled(on_kafka, first)
        await on_kafka.publish_many(SEQ, seqs(range(200, 300)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(300)), on_kafka.deadline)
    finally:
        await first.service.stop()
        if second.service.engine is not None:
            await second.service.stop()
    assert unseen_there <= first.seen()


def test_scale_out_is_refused_with_the_keys_it_needs_and_by_the_thread_based_service():
    with pytest.raises(ConfigError, match="restore_horizon_seconds"):
        AsyncDataAnalysisService("load_prediction", scale_out=True)
    with pytest.raises(ConfigError, match="state_dir"):
        AsyncDataAnalysisService("load_prediction", scale_out=True, restore_horizon_seconds=60, state_dir="/tmp/x")
    from d_a import DataAnalysisService

    with pytest.raises(ConfigError, match="AsyncDataAnalysisService"):
        DataAnalysisService("load_prediction", **SCALE_OUT)


async def test_scale_out_on_the_memory_transport_fails_at_start_naming_kafka():
    service = AsyncDataAnalysisService("load_prediction", transport="memory", **SCALE_OUT)
    with pytest.raises(ConfigError, match="needs Kafka"):
        await service.start(lambda station_id, module_input: None)
