"""ModuleInput: every way a callback can read a shared window gives it a copy of its own."""

from __future__ import annotations

import copy
import json
import pickle
import threading

import orjson
import pytest

from d_a.modules import ModuleInput, TopicDicts, TopicViews


@pytest.fixture
def cached() -> dict:
    """Windows as the input cache holds them (shared by every run of the station)."""
    return {
        "soc_window": [20.5, 21.0, 21.4],
        "car_orders": [{"gunNo": "1", "outputPower": 61.0}],
        "storage_devices": {"BAT-1": {"storageSOC": 55.0}},
    }


@pytest.fixture
def module_input(cached: dict) -> ModuleInput:
    return ModuleInput({"stationId": "ST0001", "soc": 21.4, **cached}, shared=["soc", *cached])


def pristine(cached: dict) -> bool:
    return cached == {
        "soc_window": [20.5, 21.0, 21.4],
        "car_orders": [{"gunNo": "1", "outputPower": 61.0}],
        "storage_devices": {"BAT-1": {"storageSOC": 55.0}},
    }


def spoil(values) -> None:
    """What a careless model does to what it read."""
    for value in values:
        if isinstance(value, list):
            value.append(-1)
            value.sort(key=str)
        elif isinstance(value, dict):
            value["spoiled"] = True


READS = {
    "getitem": lambda m: [m[k] for k in m],
    "get": lambda m: [m.get(k) for k in m],
    "values": lambda m: list(m.values()),
    "items": lambda m: [v for _, v in m.items()],
    "dict()": lambda m: list(dict(m).values()),
    "unpacking": lambda m: list({**m}.values()),
    "copy()": lambda m: list(m.copy().values()),
    "union": lambda m: list((m | {}).values()),
    "reverse union": lambda m: list(({} | m).values()),
    "setdefault": lambda m: [m.setdefault(k) for k in list(m)],
    "pop": lambda m: [m.pop(k) for k in list(m)],
    "popitem": lambda m: [m.popitem()[1] for _ in range(len(m))],
    "copy.copy": lambda m: list(copy.copy(m).values()),
    "pickle": lambda m: list(pickle.loads(pickle.dumps(m)).values()),
    "update into": lambda m: list(({}.update(m) or {}).values()) + [v for v in dict(m).values()],
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_changing_what_was_read_leaves_the_cache_alone(module_input, cached, read) -> None:
    spoil(read(module_input))
    assert pristine(cached)


def test_a_value_is_copied_once_and_then_kept(module_input, cached) -> None:
    window = module_input["soc_window"]
    assert window is not cached["soc_window"]
    window.append(22.0)
    assert module_input["soc_window"] == [20.5, 21.0, 21.4, 22.0]  # the callback sees its own change
    assert module_input.get("soc_window") is window


def test_it_reads_like_the_plain_dict_it_is(module_input, cached) -> None:
    plain = {"stationId": "ST0001", "soc": 21.4, **cached}
    assert isinstance(module_input, dict)
    assert module_input == plain
    assert orjson.loads(orjson.dumps(module_input)) == plain
    assert json.loads(json.dumps(module_input)) == plain
    assert copy.deepcopy(module_input) == plain
    assert len(module_input) == 5 and "car_orders" in module_input
    assert module_input.get("missing", 0) == 0
    with pytest.raises(KeyError):
        module_input.pop("missing")


def test_values_set_by_the_caller_are_its_own(module_input, cached) -> None:
    mine = [1, 2]
    module_input["soc_window"] = mine
    module_input.update(car_orders=[])
    module_input |= {"storage_devices": {}}
    assert module_input["soc_window"] is mine
    assert module_input["car_orders"] == [] and module_input["storage_devices"] == {}
    del module_input["soc_window"]
    module_input.clear()
    assert pristine(cached)


def test_handing_out_copies_waits_for_a_read_in_progress(monkeypatch) -> None:
    """A model's thread reading a kept input while the cache is about to extend the list it shares:
    the copy for the input is made once, before the list changes, whichever thread makes it."""
    data = ModuleInput({"soc_window": [20.5, 21.0]}, shared=["soc_window"])
    cached = dict.__getitem__(data, "soc_window")
    entered, release = threading.Event(), threading.Event()
    real = ModuleInput._own_unlocked

    def paused(self, key):
        if threading.current_thread().name == "model":  # the model's read stops half-way
            entered.set()
            release.wait(5)
        return real(self, key)

    monkeypatch.setattr(ModuleInput, "_own_unlocked", paused)
    read: list = []
    reader = threading.Thread(target=lambda: read.append(data["soc_window"]), name="model")
    reader.start()
    assert entered.wait(5)
    settler = threading.Thread(target=data.own_values, args=([cached],))
    settler.start()
    settler.join(0.2)
    assert settler.is_alive()  # the cache waits for the read in progress
    release.set()
    reader.join(5)
    settler.join(5)
    cached.append(21.4)  # the cache extends its list only then
    assert read == [[20.5, 21.0]]
    assert data["soc_window"] == [20.5, 21.0]


def with_topics(cached: dict) -> ModuleInput:
    """An input as the assembly builds it: `_topics` holds each topic's keys, sharing the cache's lists."""
    topics = TopicDicts({"ORDERS": cached, "PARAM": {"hostCode": "H1", "gridCapacity": 630}})
    return ModuleInput(
        {"stationId": "ST0001", "soc_window": cached["soc_window"], "_topics": topics}, shared=["soc_window", "_topics"]
    )


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_changing_what_was_read_through_the_views_leaves_the_cache_alone(cached, read) -> None:
    for value in read(with_topics(cached)):
        if isinstance(value, TopicViews):
            for view in read(value):
                spoil(read(view))
        spoil([value])
    assert pristine(cached)


def test_a_view_is_made_for_what_is_read_and_copies_what_is_read(cached) -> None:
    data = with_topics(cached)
    assert type(dict.__getitem__(data, "_topics")) is TopicDicts  # not read: nothing made
    views = data["_topics"]
    assert isinstance(views, TopicViews) and data["_topics"] is views
    orders = views["ORDERS"]
    assert isinstance(orders, ModuleInput) and views["ORDERS"] is orders
    assert type(dict.__getitem__(views, "PARAM")) is dict  # a topic not read costs nothing
    assert dict.__getitem__(orders, "car_orders") is cached["car_orders"]  # nor does a value not read
    window = orders["soc_window"]
    assert window == cached["soc_window"] and window is not cached["soc_window"]
    assert orders["soc_window"] is window and window is not data["soc_window"]


def test_an_input_gets_copies_in_its_views_before_the_cache_changes_its_lists(cached) -> None:
    unread, moved = with_topics(cached), with_topics(cached)
    views = moved.pop("_topics")  # a model keeps the views apart from its input
    orders = views["ORDERS"]
    for data in (unread, moved):
        data.own_values([cached["soc_window"], cached["car_orders"]])
    cached["soc_window"].append(22.0)  # what the cache does next
    cached["car_orders"].clear()
    assert unread["_topics"]["ORDERS"]["soc_window"] == [20.5, 21.0, 21.4]
    assert unread["_topics"]["ORDERS"]["car_orders"] == [{"gunNo": "1", "outputPower": 61.0}]
    assert orders["car_orders"] == [{"gunNo": "1", "outputPower": 61.0}]
    assert views["ORDERS"]["soc_window"] == [20.5, 21.0, 21.4]
    assert type(dict.__getitem__(views, "PARAM")) is dict  # it holds nothing that changed


def test_views_read_like_the_plain_dicts_they_are(cached) -> None:
    plain = {
        "stationId": "ST0001",
        "soc_window": [20.5, 21.0, 21.4],
        "_topics": {"ORDERS": dict(cached), "PARAM": {"hostCode": "H1", "gridCapacity": 630}},
    }
    assert with_topics(cached) == plain
    assert orjson.loads(orjson.dumps(with_topics(cached))) == plain
    assert json.loads(json.dumps(with_topics(cached))) == plain
    assert pickle.loads(pickle.dumps(with_topics(cached))) == plain
    assert type(pickle.loads(pickle.dumps(with_topics(cached)))["_topics"]["ORDERS"]) is dict
    assert copy.deepcopy(with_topics(cached)) == plain
