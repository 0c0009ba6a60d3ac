"""ModuleInput: every way a callback can read a shared window gives it a copy of its own."""

from __future__ import annotations

import copy
import json
import pickle
import threading

import orjson
import pytest

from d_a.modules import ModuleInput


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
