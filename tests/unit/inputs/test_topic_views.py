"""Topics sharing a field name: the flat name is one topic's, and every topic's own keys stay
reachable under `_topics[topic]`; every aligned table comes with its own key order."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from test_input_assembly import Clock, from_scratch, same

from d_a.dispatcher import DataDispatcher
from d_a.simulator import StationSimulator
from d_a.topics import parse_time

MODULE = "operation_optimization"
REALTIME, GUN, ORDER = "SCHEDULE-STATION-REALTIME-DATA", "SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-ORDER"
SECOND_HOST = "H0002"  # guns 3 and 4 of the station sit on a second host cabinet


def two_host_station(seconds: int, topics: tuple[str, ...] = (REALTIME, GUN, ORDER)) -> list[tuple[str, dict]]:
    """One simulated station's messages of `topics` over `seconds`, guns 3 and 4 on a second host."""
    sim = StationSimulator(stations=1, seed=3, history_hours=2, topics=topics)
    messages = []
    for message in sim.initial_messages() + sim.advance(seconds):
        value = orjson.loads(message.value)
        if message.topic in (GUN, ORDER) and value["gunNo"] in (3, 4):
            value["hostCode"] = SECOND_HOST
        messages.append((message.topic, value))
    return messages


def dispatcher_fed(messages: list[tuple[str, dict]], seconds: int) -> DataDispatcher:
    dispatcher = DataDispatcher(data_expire_seconds=10**9, clock=Clock(parse_time("2025-11-01 00:00:00") + seconds))
    for topic, value in messages:
        dispatcher.ingest(topic, value)
    return dispatcher


def newest_per_column(order: list, table: list[list]) -> dict:
    """What a model reads from an aligned table: each key's newest reported value."""
    return {key: next((row[i] for row in reversed(table) if row[i] is not None), None) for i, key in enumerate(order)}


def test_a_model_reads_each_guns_status_by_gun_number_and_each_topics_host_code() -> None:
    messages = two_host_station(11)  # gun reports at :03 (guns 2, 3) and :10 (gun 1); gun 4 not yet
    data = dispatcher_fed(messages, 11).get_module_input("ST0001", MODULE)

    reported = {value["gunNo"]: value["status"] for topic, value in messages if topic == GUN}
    assert sorted(reported) == [1, 2, 3]
    assert data["gunNo"] == [1, 2, 3, 4]  # REALTIME-DATA, first in the module's topics, owns the name
    assert newest_per_column(data["status_gunNo"], data["status_window"]) == reported
    guns = data["_topics"][GUN]
    assert guns["gunNo"] == data["status_gunNo"] == [1, 2, 3]
    assert newest_per_column(guns["gunNo"], guns["status_window"]) == reported
    realtime = data["_topics"][REALTIME]
    assert realtime["outputPowerPerGunAvg_gunNo"] == realtime["gunNo"] == [1, 2, 3, 4]
    assert len(realtime["outputPowerPerGunAvg"]) == 4

    newest = {topic: value for topic, value in messages if topic != REALTIME}  # the last message of each
    assert data["hostCode"] is None  # STATION-PARAM owns the flat name; none was sent
    assert data["_topics"][REALTIME]["hostCode"] == "H0001"
    assert data["_topics"][GUN]["hostCode"] == newest[GUN]["hostCode"] == "H0001"  # gun 1's report
    assert data["_topics"][ORDER]["hostCode"] == newest[ORDER]["hostCode"]
    assert set(data["_topics"][ORDER]["hostCode_window"]) == {"H0001", SECOND_HOST}
    assert data["_topics"][ORDER]["gunNo_window"] == data["gunNo_window"]  # only car orders give a gunNo window


def test_gun_reports_without_realtime_data_keep_their_gun_order() -> None:
    """The issue's case: REALTIME-DATA owns `gunNo` and is empty; the status columns still say
    which gun they are, and the flat names are the same as with REALTIME-DATA."""
    seconds = 20
    data = dispatcher_fed(two_host_station(seconds, (GUN, ORDER)), seconds).get_module_input("ST0001", MODULE)
    assert data["gunNo"] == [] and data["_topics"][REALTIME]["gunNo"] == []
    assert data["status_gunNo"] == data["_topics"][GUN]["gunNo"] == [1, 2, 3, 4]
    assert all(len(row) == 4 for row in data["status_window"])
    assert data["gunNo_window"] == data["_topics"][ORDER]["gunNo_window"] != []
    with_realtime = dispatcher_fed(two_host_station(seconds), seconds).get_module_input("ST0001", MODULE)
    assert list(data) == list(with_realtime)
    assert {t: list(v) for t, v in data["_topics"].items()} == {t: list(v) for t, v in with_realtime["_topics"].items()}


def test_what_a_model_changes_through_the_view_reaches_nothing_else() -> None:
    dispatcher = dispatcher_fed(two_host_station(11), 11)
    first = dispatcher.get_module_input("ST0001", MODULE)
    flat_status, flat_soc = orjson.dumps(first["status_window"]), orjson.dumps(first["soc_window"])
    views = first["_topics"]
    for view in views.values():
        for key in list(view):
            value = view[key]
            if isinstance(value, list):
                value.append("spoiled")
                value.reverse()
            elif isinstance(value, dict):
                value["spoiled"] = True
    views[ORDER]["soc"] = "spoiled"
    del views[GUN]["status_gunNo"]
    del views[REALTIME]
    assert orjson.dumps(first["status_window"]) == flat_status  # the flat names are this run's own copies
    assert orjson.dumps(first["soc_window"]) == flat_soc
    second = dispatcher.get_module_input("ST0001", MODULE)
    assert "spoiled" not in orjson.dumps(second).decode()
    assert same(second, from_scratch(dispatcher, "ST0001"))


@pytest.mark.parametrize("fmt", ["list", "numpy"])
def test_an_input_kept_by_a_model_keeps_its_views(fmt) -> None:
    """The cache extends car-order lists in place (numpy: hands out new views); an input a model
    holds keeps what it was built with, in the topics it read through the view and in the others."""
    sim = StationSimulator(stations=1, seed=3, history_hours=1, topics=(GUN, ORDER))
    clock = Clock(parse_time("2025-11-01 00:00:05"))
    dispatcher = DataDispatcher(data_expire_seconds=10**9, clock=clock)
    dispatcher.window_format = fmt
    for message in sim.initial_messages() + sim.advance(5):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    held = dispatcher.get_module_input("ST0001", MODULE)
    read_before = held["_topics"][GUN]["status_window"]  # car orders: not read before they change
    before = dumps(held)
    for _ in range(3):
        clock.now += 1
        for message in sim.advance(1):
            dispatcher.ingest(message.topic, orjson.loads(message.value))
        newer = dispatcher.get_module_input("ST0001", MODULE)
    assert len(newer["_topics"][ORDER]["soc_window"]) > len(held["_topics"][ORDER]["soc_window"])
    assert newer["_topics"][ORDER]["soc"] != held["_topics"][ORDER]["soc"]
    assert dumps(held) == before
    assert held["_topics"][GUN]["status_window"] is read_before


def dumps(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=np.ndarray.tolist)


def test_an_aligned_tables_key_order_goes_with_its_table() -> None:
    """A topic whose `status` is plain and one whose `status` is a gun table: the flat `status`,
    `status_window` and `status_gunNo` always describe one and the same topic's table."""
    plain = {"fields": ["stationId", "status"], "modules": ["site_model"]}
    keyed = {
        "fields": ["stationId", "gunNo", "status"],
        "align_by": "gunNo",
        "aligned_fields": ["status"],
        "interval_seconds": 15,
        "window_size": 100,
        "modules": ["site_model"],
    }
    for topics, flat_order in (
        ({"SITE-PLAIN": plain, "SITE-GUNS": keyed}, False),
        ({"SITE-GUNS": keyed, "SITE-PLAIN": plain}, True),
    ):
        dispatcher = DataDispatcher(config={"topics": topics}, clock=Clock(parse_time("2025-11-01 08:00:20")))
        dispatcher.update_topic_data("S", "SITE-PLAIN", {"stationId": "S", "status": 7})
        for gun, status in ((1, 0), (2, 1)):
            dispatcher.update_topic_data(
                "S", "SITE-GUNS", {"stationId": "S", "gunNo": gun, "status": status, "sendTime": "2025-11-01 08:00:15"}
            )
        data = dispatcher.get_module_input("S", "site_model")
        assert ("status_gunNo" in data) is flat_order
        assert data["status"] == ([0, 1] if flat_order else 7)
        assert data["_topics"]["SITE-GUNS"]["status_gunNo"] == [1, 2]
        assert data["_topics"]["SITE-PLAIN"]["status"] == 7
        owner = {shared.names: shared.owner for shared in dispatcher.config.shared_names}
        assert owner[("status", "status_window")] == next(iter(topics))
