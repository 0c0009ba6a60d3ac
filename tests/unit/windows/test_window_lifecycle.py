"""Expiry, resizing, clearing, the record-age bound, and spec validation."""

from __future__ import annotations

import pytest

from d_a.windows import (
    WINDOW_KINDS,
    AppendWindow,
    LatestWindow,
    PerDeviceWindow,
    PerSecondWindow,
    ReplaceWindow,
    WindowSpec,
    make_window,
)


def meter_window(size: int = 2016, **spec: object) -> AppendWindow:
    return make_window(WindowSpec("append", size, ("meterPower",), interval_seconds=300, **spec))


def test_an_idle_window_expires_by_arrival_time_not_record_time(meter, t0):
    window = meter_window()
    window.add(meter(t0 - 86_400), t0 - 86_400, now=t0)
    assert window.expire(now=t0 + 599, max_idle_seconds=600) is False
    assert len(window) == 1
    assert window.expire(now=t0 + 601, max_idle_seconds=600) is True
    assert len(window) == 0 and window.newest_ts is None and window.last_update is None


def test_an_empty_window_reports_empty_on_expire(t0):
    assert meter_window().expire(now=t0, max_idle_seconds=600) is True


def test_shrinking_keeps_the_newest_and_growing_keeps_all(meter, t0):
    window = meter_window(size=10)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in range(10)], [t0 + 300 * i for i in range(10)])
    window.resize(4)
    assert window.spec.window_size == 4
    assert window.column("meterPower") == [6.0, 7.0, 8.0, 9.0]
    window.resize(6)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in (10, 11)], [t0 + 3000, t0 + 3300])
    assert window.column("meterPower") == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    with pytest.raises(ValueError, match="0"):
        window.resize(0)


def test_clear_empties_the_window(meter, t0):
    window = meter_window()
    window.add(meter(t0), t0)
    window.clear()
    assert window.records() == [] and window.latest() is None and len(window) == 0
    window.add(meter(t0 + 300, power=1.0), t0 + 300)
    assert window.column("meterPower") == [1.0]


def test_records_older_than_the_age_bound_are_dropped(meter, t0):
    window = meter_window(max_age_seconds=900)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in range(6)], [t0 + 300 * i for i in range(6)])
    assert window.column("meterPower") == [2.0, 3.0, 4.0, 5.0]
    window.add(meter(t0 + 3000, power=10.0), t0 + 3000)
    assert window.column("meterPower") == [10.0]


def test_the_age_bound_also_applies_per_second_and_per_device(car_order, storage, t0):
    orders = make_window(WindowSpec("per_second", 100, max_age_seconds=2))
    orders.add_many(
        [car_order(t0 + s, gun=g) for s in range(5) for g in (1, 2)], [t0 + s for s in range(5) for _ in (1, 2)]
    )
    assert orders.seconds_count == 3 and len(orders) == 6
    units = make_window(WindowSpec("per_device", 100, device_key="storageId", max_age_seconds=60))
    units.add_many([storage(t0, "BAT-1"), storage(t0 + 120, "BAT-2")], [t0, t0 + 120])
    assert [d["storageId"] for d in units.devices()] == ["BAT-2"]


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("latest", LatestWindow),
        ("append", AppendWindow),
        ("replace", ReplaceWindow),
        ("per_second", PerSecondWindow),
        ("per_device", PerDeviceWindow),
    ],
)
def test_make_window_builds_each_kind(kind, cls):
    window = make_window(WindowSpec(kind, 5, device_key="hostCode"))
    assert type(window) is cls and window.kind == kind and kind in WINDOW_KINDS


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dict(kind="append", window_size=0), "window_size .* got 0"),
        (dict(kind="append", window_size=2.5), "window_size .* got 2.5"),
        (dict(kind="append", window_size=True), "window_size .* got True"),
        (dict(kind="rolling", window_size=1), "'rolling' is not one of latest, append"),
        (dict(kind="per_device", window_size=1), "device_key"),
        (dict(kind="append", window_size=1, interval_seconds=0), "interval_seconds .* got 0"),
        (dict(kind="append", window_size=1, max_age_seconds=-5), "max_age_seconds .* got -5"),
        (dict(kind="per_second", window_size=1, max_records_per_second=0), "max_records_per_second"),
        (dict(kind="append", window_size=1, fields=("a", "a")), "more than once"),
    ],
)
def test_an_invalid_spec_is_refused_naming_the_value(spec, message):
    with pytest.raises(ValueError, match=message):
        WindowSpec(**spec)


def test_record_and_time_counts_must_match(meter, t0):
    with pytest.raises(ValueError, match="2 records but 1 times"):
        meter_window().add_many([meter(t0), meter(t0)], [t0])
    with pytest.raises(ValueError, match="finite"):
        meter_window().add(meter(t0), float("nan"))
