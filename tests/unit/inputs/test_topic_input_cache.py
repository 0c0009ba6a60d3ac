"""TopicInputCache: reused while a window is unchanged, extended while it only grows, and always
equal to inputs built from scratch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d_a.config import TopicConfig
from d_a.inputs import TopicInputCache
from d_a.inputs.topic_inputs import topic_inputs
from d_a.modules import ModuleInput
from d_a.windows import make_window
from d_a.windows.spec import window_spec

T0 = 1_762_000_000.0

ORDERS = TopicConfig(
    kind="per_second",
    records_key="car_orders",
    fields=["stationId", "transactionSerialNo", "gunNo", "soc", "outputPower", "endChargeTime"],
    types={"transactionSerialNo": "id", "gunNo": "id", "soc": "number", "outputPower": "number"},
    interval_seconds=1,
    window_size=6,
    max_records_per_second=3,
)
METER = TopicConfig(kind="append", fields=["stationId", "meterId", "meterPower"], interval_seconds=300, window_size=5)
GUNS = TopicConfig(
    kind="append",
    fields=["hostCode", "gunNo", "status"],
    align_by="gunNo",
    aligned_fields=["status"],
    interval_seconds=15,
    window_size=7,
)


def car_order(t: float, gun: int) -> dict:
    """A SCHEDULE-CAR-ORDER record as the parser stores it (endChargeTime "" until the last second)."""
    return {
        "stationId": "ST0001",
        "transactionSerialNo": f"TX{gun}{int(t) // 60}",
        "gunNo": str(gun),
        "soc": round(20 + (t - T0) / 10, 2),
        "outputPower": 60.0 + gun,
        "endChargeTime": "" if gun != 3 else None,
        "sendTime": f"{int(t)}",
    }


def gun_status(t: float, gun: int) -> dict:
    """A SCHEDULE-DEVICE-GUN report; gun 3 sometimes reports no status, gun 4 no gun number."""
    record = {"stationId": "ST0001", "hostCode": "H1", "gunNo": gun, "status": int(t) % 3, "sendTime": f"{int(t)}"}
    if gun == 3 and int(t) % 2:
        record["status"] = None
    if gun == 4:
        del record["gunNo"]
    return record


def meter(t: float, gun: int) -> dict:
    record = {"stationId": "ST0001", "meterId": "M-01", "meterPower": round(100 + t - T0, 1)}
    if gun == 2:
        del record["meterId"]  # a record lacking a key reads as None in the lists
    return record


def both(cache: TopicInputCache, topic: str, config: TopicConfig, window, fmt: str = "list") -> tuple[dict, dict]:
    cached = cache.get(topic, config, window, padding=None, fmt=fmt, now=T0)
    fresh = topic_inputs(topic, config, window, padding=None, fmt=fmt, now=T0)
    return cached, fresh


def same(a: object, b: object) -> bool:
    """Equal in value and in type, recursively (1 == 1.0 is not enough for a model input)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=True)) if a.dtype.kind == "f" else same(a.tolist(), b.tolist())
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


operations = st.lists(
    st.tuples(
        st.sampled_from(["stage", "stage", "stage", "late", "duplicate", "replace", "text"]),
        st.integers(1, 4),  # how many records
        st.integers(0, 20),  # seconds forward
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, which=st.sampled_from(["orders", "meter", "guns"]), fmt=st.sampled_from(["list", "numpy"]))
def test_cached_inputs_equal_inputs_built_from_scratch(ops, which, fmt) -> None:
    config, build = {"orders": (ORDERS, car_order), "meter": (METER, meter), "guns": (GUNS, gun_status)}[which]
    window = make_window(window_spec(config))
    cache = TopicInputCache()
    now, last, given_out = T0, [], []
    for op, count, step in ops:
        now += step
        if op == "stage":
            last = [build(now, gun) for gun in range(1, count + 1)]
            window.add_pending(last, [now] * count, now=now)
        elif op == "late":
            window.add_pending([build(now - 3, 9)], [now - 3], now=now)
        elif op == "duplicate" and last:
            window.add_pending(last, [now - step] * len(last), now=now)
        elif op == "replace":
            window.replace([build(now, 1)], [now], now=now)
        elif op == "text":  # a number field receives text: its numpy values turn into objects
            record = build(now, 1)
            record.update({name: "n/a" for name in ("soc", "meterPower", "status") if name in record})
            window.add_pending([record], [now], now=now)
        cached, fresh = both(cache, "T", config, window, fmt)
        assert same(cached, fresh), (op, cached, fresh)
        given_out += [(value, value.copy()) for value in cached.values() if isinstance(value, np.ndarray)]
    assert all(same(view, kept) for view, kept in given_out)  # numpy inputs are views: none changed since


def test_a_growing_window_is_extended_not_rebuilt() -> None:
    window = make_window(window_spec(ORDERS))
    cache = TopicInputCache()
    for second in range(20):  # far beyond window_size: the oldest seconds are evicted as it goes
        window.add_pending([car_order(T0 + second, gun) for gun in (1, 2)], [T0 + second] * 2, now=T0 + second)
        cached, fresh = both(cache, "CAR", ORDERS, window)
        assert same(cached, fresh)
    assert cache.builds == {"CAR": 1}  # the first read only
    assert cached["gunNo_window"] == ["1", "2"] * 6
    assert cached["car_orders"] == [car_order(T0 + 18, 1), car_order(T0 + 18, 2)]


def test_a_late_record_rebuilds_the_inputs() -> None:
    window = make_window(window_spec(ORDERS))
    cache = TopicInputCache()
    for second in range(3):
        window.add_pending([car_order(T0 + second, 1)], [T0 + second], now=T0 + second)
        both(cache, "CAR", ORDERS, window)
    window.add_pending([car_order(T0 + 0.5, 2)], [T0 + 0.5], now=T0 + 3)  # late: lands between the others
    cached, fresh = both(cache, "CAR", ORDERS, window)
    assert same(cached, fresh)
    assert cached["gunNo_window"] == ["1", "2", "1", "1"]


def test_an_input_kept_by_its_caller_keeps_what_it_held_when_built() -> None:
    """Lists extended in place for the next runs must not change an input a model still holds."""
    window = make_window(window_spec(ORDERS))
    cache = TopicInputCache()
    station_inputs = []
    for second in range(10):  # beyond window_size: the oldest second is dropped from the lists too
        window.add_pending([car_order(T0 + second, 1)], [T0 + second], now=T0 + second)
        data = ModuleInput()
        data.update(cache.get("CAR", ORDERS, window, padding=None, fmt="list", now=T0, borrower=data))
        data.share(list(data))
        built = topic_inputs("CAR", ORDERS, window, padding=None, fmt="list", now=T0)
        station_inputs.append((data, dict(ModuleInput(built, built))))  # as a model reads it, now
    for data, when_built in station_inputs:
        assert same(dict(data), when_built)


def test_inputs_no_longer_referenced_are_not_copied(monkeypatch) -> None:
    copies = []
    real = ModuleInput.own_values
    monkeypatch.setattr(ModuleInput, "own_values", lambda self, values: copies.append(1) or real(self, values))
    window = make_window(window_spec(ORDERS))
    cache = TopicInputCache()
    for second in range(10):
        window.add_pending([car_order(T0 + second, 1)], [T0 + second], now=T0 + second)
        data = ModuleInput()
        data.update(cache.get("CAR", ORDERS, window, padding=None, fmt="list", now=T0, borrower=data))
        del data  # a service drops each run's input once the callback returned
    assert copies == []


@pytest.mark.parametrize("fmt", ["list", "numpy"])
def test_a_gun_table_is_extended_as_reports_arrive_and_age_out(fmt) -> None:
    config = GUNS.model_copy(update={"window_size": 8})
    window = make_window(window_spec(config))
    cache = TopicInputCache()
    given_out = []
    for tick in range(12):  # guns 1 and 2 report every 15 s; the window keeps the newest 8 reports
        t = T0 + 15 * tick
        window.add_pending([gun_status(t, 1)], [t], now=t)  # gun 2's report of the slot comes in the next run
        cached, fresh = both(cache, "GUN", config, window, fmt)
        assert same(cached, fresh)
        window.add_pending([gun_status(t + 1, 2)], [t + 1], now=t)
        cached, fresh = both(cache, "GUN", config, window, fmt)
        assert same(cached, fresh)
        given_out.append((cached["status_window"], copy.deepcopy(fresh["status_window"])))
    assert cache.builds == {"GUN": 2}  # the first read, and gun 2's first report (a new column)
    assert cached["gunNo"] == [1, 2]
    assert list(cached["status_window"][-1]) == [(int(T0) + 165) % 3, (int(T0) + 166) % 3]
    if fmt == "numpy":  # a table handed out never changes, though its last row was replaced since
        assert all(same(view, kept) for view, kept in given_out)


def test_numpy_inputs_are_views_that_follow_appends_and_never_change_once_given() -> None:
    window = make_window(window_spec(ORDERS))
    cache = TopicInputCache()
    given_out = []
    for second in range(200):  # far beyond window_size, and past several moves to a new buffer
        window.add_pending([car_order(T0 + second, gun) for gun in (1, 2)], [T0 + second] * 2, now=T0 + second)
        cached, fresh = both(cache, "CAR", ORDERS, window, "numpy")
        assert same(cached, fresh)
        given_out.append((cached["soc_window"], fresh["soc_window"].copy()))
    assert cache.builds == {"CAR": 1}
    assert all(np.array_equal(view, copy) for view, copy in given_out)
    assert not cached["soc_window"].flags.writeable
