"""Scale-out as a user sees it: services started with the same group and `scale_out` share the
stations by slot through the broker's consumer group. Once a rebalance settles each station runs
on exactly one of them; a station that moves runs on its new owner with its whole window (rebuilt
from Kafka), and every message reaches a callback, also when an instance dies mid-stream."""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field

import pytest
from helpers import until
from kafka.admin import KafkaAdminClient, NewTopic

from d_a import AsyncDataAnalysisService
from d_a.errors import ConfigError
from d_a.kafka.slots import slot_of

SEQ = "SITE-SEQ"
AUX = "SITE-AUX"
STATIONS = [f"ST{n:04d}" for n in range(1, 13)]
PUSH = "SITE-PUSH"
CONFIG = {
    "topics": {
        SEQ: {
            "fields": ["seq"],
            "types": {"seq": "integer"},
            "modules": ["seq_model"],
            "window_size": 5000,
            "keyed_by_station": True,
        },
        AUX: {
            "kind": "latest",
            "fields": ["aux"],
            "types": {"aux": "integer"},
            "modules": ["seq_model"],
            "keyed_by_station": True,
        },
        PUSH: {  # many stations per message, keyed by nothing, each message a batch
            "kind": "replace",
            "envelope": "rows",
            "fields": ["stationId", "sendTime", "load"],
            "time_field": "sendTime",
            "defines_batch": True,
            "modules": ["push_model"],
            "window_size": 24,
        },
    },
    "module_dependencies": {},
    "offset_commit": {"commit_interval_seconds": 0.05, "commit_batch_size": 10},
}
SCALE_OUT = {"scale_out": True, "restore_horizon_seconds": 3600, "scale_out_slots": 4}


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


def _service(on_kafka, name: str, *, keyed: bool = True) -> Instance:
    config = copy.deepcopy(CONFIG)
    config["topics"][SEQ]["keyed_by_station"] = keyed
    return Instance(name, on_kafka.async_service("seq_model", config=config, group_id="shared", **SCALE_OUT))


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


async def test_instances_sharing_a_state_dir_hand_windows_over_through_it(on_kafka, tmp_path) -> None:
    # a horizon of 1 s: Kafka alone could not rebuild what the windows held a while ago
    options = {
        **SCALE_OUT,
        "restore_horizon_seconds": 1,
        "state_dir": str(tmp_path),
        "checkpoint_interval_seconds": 0.2,
    }

    def instance(name: str) -> Instance:
        return Instance(name, on_kafka.async_service("seq_model", config=CONFIG, group_id="disk", **options))

    def rounds(instance: Instance) -> int:
        return instance.service.get_service_status()["state"]["rounds"]

    first = instance("first")
    await on_kafka.publish_many(SEQ, seqs(range(120)))
    await first.start()
    second = instance("second")
    try:
        await until(lambda: first.seen() >= set(range(120)), on_kafka.deadline)
        written = rounds(first)
        await until(lambda: rounds(first) >= written + 3, on_kafka.deadline)  # a round of each slot since
        await asyncio.sleep(1.5)  # every message is older than the horizon now
        await second.start()
        settled = await _settled(on_kafka, first, second)
        moved = {s for s in STATIONS if slot_of(s, 3) in second.owned()}
        await on_kafka.publish_many(SEQ, seqs(range(120, 240)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(240)), on_kafka.deadline)
        for station in moved:
            history = sent_to(station, range(120))
            assert second.first_window(station, settled)[: len(history)] == history
        state = second.service.get_service_status()["state"]
        assert state["slots_restored"] == len(second.owned()) and state["restored_stations"] == len(moved)
    finally:
        await second.service.stop()
    assert sorted(p.name for p in tmp_path.glob("*/slot-*")) == ["slot-0", "slot-1", "slot-2"]
    back = await _settled(on_kafka, first)
    await on_kafka.publish_many(SEQ, seqs(range(240, 300)))
    try:
        await until(lambda: first.seen() >= set(range(300)), on_kafka.deadline)
        for station in moved:  # back from the second's last round
            history = sent_to(station, range(240))
            assert first.first_window(station, back)[: len(history)] == history
    finally:
        await first.service.stop()


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_an_instance_dying_mid_stream_loses_nothing(on_kafka, keyed) -> None:
    first, second = _service(on_kafka, "first", keyed=keyed), _service(on_kafka, "second", keyed=keyed)
    await first.start()
    await second.start()

    def messages(numbers: range) -> list[tuple[str | None, dict]]:
        return seqs(numbers) if keyed else [(None, value) for _, value in seqs(numbers)]

    slots = 3  # SITE-AUX is keyed: its partition count is the slot count
    try:
        await _settled(on_kafka, first, second, slots=slots)
        await on_kafka.publish_many(SEQ, messages(range(100)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(100)), on_kafka.deadline)
        second.running.clear()  # its callbacks hang, as a stuck model does when the process dies
        await on_kafka.publish_many(SEQ, messages(range(100, 200)))
        await until(lambda: second.service.get_service_status()["counters"]["messages"] > 0, on_kafka.deadline)
        unseen_there = set(range(100, 200)) - first.seen() - second.seen()
        assert unseen_there  # the second had taken messages it never finished
        engine = second.service.engine
        second.service.engine = None
        await engine.abort()  # killed: nothing committed, nothing flushed
        await _settled(on_kafka, first, slots=slots)
        await on_kafka.publish_many(SEQ, messages(range(200, 300)))
        await until(lambda: (first.seen() | second.seen()) >= set(range(300)), on_kafka.deadline)
    finally:
        await first.service.stop()
        if second.service.engine is not None:
            await second.service.stop()
    assert unseen_there <= first.seen()


async def test_pushes_of_many_stations_reach_each_station_s_owner_and_batches_come_in_parts(on_kafka) -> None:
    runs: dict[str, set[str]] = {}

    def model_of(name: str):
        def model(station_id, module_input):
            runs.setdefault(station_id, set()).add(name)
            return {"load": module_input["load"]}

        return model

    services = {
        name: Instance(name, on_kafka.async_service("push_model", config=CONFIG, group_id="push", **SCALE_OUT))
        for name in ("first", "second")
    }
    for instance in services.values():
        await instance.service.start(model_of(instance.name))
    output = services["first"].service.output_topic
    rows = [{"stationId": s, "sendTime": "2026-12-03 10:00:00", "load": n} for n, s in enumerate(STATIONS)]
    try:
        await _settled(on_kafka, *services.values(), slots=4)
        await on_kafka.publish(PUSH, {"rows": rows})  # no key: any partition

        async def parts() -> list[dict]:
            return [v for v in await on_kafka.values(output) if v.get("batch_id")]

        async def every_station_uploaded() -> bool:
            return sorted(s["station_id"] for p in await parts() for s in p["stations"]) == STATIONS

        await until(every_station_uploaded, on_kafka.deadline, interval=0.2)
        owned = {name: instance.owned() for name, instance in services.items()}
    finally:
        for instance in services.values():
            await instance.service.stop()
    for station, names in runs.items():  # one owner each, the owner of its slot
        (name,) = names
        assert slot_of(station, 4) in owned[name]
    found = await parts()
    assert len({p["batch_id"] for p in found}) == 1  # one batch, in a part per instance
    assert len(found) == 2
    for part in found:
        slots = {slot_of(s["station_id"], 4) for s in part["stations"]}
        assert slots <= set(owned["first"]) or slots <= set(owned["second"])
        assert all(s["load"] == STATIONS.index(s["station_id"]) for s in part["stations"])
        assert part["batch_station_count"] == len(STATIONS)


async def test_a_keyed_topic_whose_messages_are_not_keyed_by_station_is_refused_at_start(on_kafka) -> None:
    await on_kafka.publish_many(SEQ, [(None, value) for _, value in seqs(range(30))])
    instance = _service(on_kafka, "first")
    with pytest.raises(ConfigError, match=f"{on_kafka.topic(SEQ)}: 30 of the 30 newest .*keyed_by_station: false"):
        await instance.service.start(instance.model)
    assert instance.service.engine is None


async def test_keyed_topics_of_different_partition_counts_are_refused_naming_the_counts(on_kafka) -> None:
    admin = KafkaAdminClient(bootstrap_servers=on_kafka.bootstrap)
    try:
        admin.create_topics([NewTopic(on_kafka.topic(AUX), num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    on_kafka._created.add(on_kafka.topic(AUX))
    instance = _service(on_kafka, "first")
    with pytest.raises(ConfigError, match=f"not co-partitioned: {on_kafka.topic(AUX)}=2, {on_kafka.topic(SEQ)}=3"):
        await instance.service.start(instance.model)


def test_scale_out_is_refused_without_a_horizon_and_by_the_thread_based_service():
    with pytest.raises(ConfigError, match="restore_horizon_seconds"):
        AsyncDataAnalysisService("load_prediction", scale_out=True)
    from d_a import DataAnalysisService

    with pytest.raises(ConfigError, match="AsyncDataAnalysisService"):
        DataAnalysisService("load_prediction", **SCALE_OUT)


async def test_scale_out_on_the_memory_transport_fails_at_start_naming_kafka():
    service = AsyncDataAnalysisService("load_prediction", transport="memory", **SCALE_OUT)
    with pytest.raises(ConfigError, match="needs Kafka"):
        await service.start(lambda station_id, module_input: None)
