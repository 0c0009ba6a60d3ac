"""append / latest / replace windows: bounds, order by record time, duplicates, replacement."""

from __future__ import annotations

import random

from d_a.windows import AppendWindow, LatestWindow, ReplaceWindow, WindowSpec, make_window

METER_FIELDS = ("meterId", "meterPower", "rmeterLimitPower")


def meter_window(size: int = 2016, kind: str = "append") -> AppendWindow:
    return make_window(WindowSpec(kind, size, METER_FIELDS, interval_seconds=300))


def test_records_come_back_oldest_first_exactly_as_added(meter, t0):
    window = meter_window()
    records = [meter(t0 + 300 * i, power=100.0 + i) for i in range(5)]
    for i, record in enumerate(records):
        assert window.add(record, t0 + 300 * i, now=t0 + 300 * i) is True
    assert window.records() == records
    assert window.latest() == records[-1]
    assert len(window) == 5
    assert window.newest_ts == t0 + 1200
    assert window.last_update == t0 + 1200
    assert window.column("meterPower") == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_window_keeps_the_newest_window_size_records(meter, t0):
    window = meter_window(size=3)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in range(10)], [t0 + 300 * i for i in range(10)])
    assert len(window) == 3
    assert window.column("meterPower") == [7.0, 8.0, 9.0]
    window.add(meter(t0 + 3000, power=10.0), t0 + 3000)
    assert window.column("meterPower") == [8.0, 9.0, 10.0]


def test_a_late_record_is_placed_by_its_time_not_its_arrival(meter, t0):
    window = meter_window()
    window.add(meter(t0, power=1.0), t0)
    window.add(meter(t0 + 600, power=3.0), t0 + 600)
    assert window.add(meter(t0 + 300, power=2.0), t0 + 300) is True
    assert window.column("meterPower") == [1.0, 2.0, 3.0]
    assert window.latest()["meterPower"] == 3.0


def test_a_late_record_older_than_a_full_window_is_not_kept(meter, t0):
    window = meter_window(size=2)
    window.add_many([meter(t0 + 300, power=1.0), meter(t0 + 600, power=2.0)], [t0 + 300, t0 + 600])
    assert window.add(meter(t0, power=0.0), t0) is False
    assert window.column("meterPower") == [1.0, 2.0]
    assert window.add(meter(t0 + 450, power=1.5), t0 + 450) is True
    assert window.column("meterPower") == [1.5, 2.0]


def test_a_shuffled_batch_is_stored_in_time_order_keeping_the_newest(meter, t0):
    window = meter_window(size=5)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in (10, 12)], [t0 + 3000, t0 + 3600])
    order = list(range(12))
    random.Random(7).shuffle(order)
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in order], [t0 + 300 * i for i in order])
    assert window.column("meterPower") == [8.0, 9.0, 10.0, 11.0, 12.0]


def test_an_exact_duplicate_is_stored_once(meter, t0):
    window = meter_window()
    record = meter(t0, power=5.0)
    assert window.add(record, t0) is True
    assert window.add(dict(record), t0) is False
    assert window.add_many([meter(t0 + 300), meter(t0 + 300), dict(record)], [t0 + 300, t0 + 300, t0]) is True
    assert len(window) == 2
    assert window.add_many([meter(t0 + 300)], [t0 + 300]) is False


def test_records_differing_in_value_or_time_are_all_kept(car_order, t0):
    window = make_window(WindowSpec("append", 100))
    first_gun, second_gun = car_order(t0, gun=1), car_order(t0, gun=2)
    window.add_many([first_gun, second_gun], [t0, t0])
    window.add(first_gun, t0 + 1)
    assert window.records() == [first_gun, second_gun, first_gun]


def test_a_late_duplicate_inside_the_window_is_not_stored_again(meter, t0):
    window = meter_window()
    window.add_many([meter(t0 + 300 * i, power=float(i)) for i in range(4)], [t0 + 300 * i for i in range(4)])
    assert window.add(meter(t0 + 300, power=1.0), t0 + 300) is False
    assert len(window) == 4


def test_add_many_gives_the_same_window_as_adding_one_by_one(meter, t0):
    times = [t0 + 300 * i for i in (3, 1, 4, 1, 5, 9, 2, 6)]
    records = [meter(ts, power=ts - t0) for ts in times]
    one_by_one, batched = meter_window(size=4), meter_window(size=4)
    results = [one_by_one.add(record, ts) for record, ts in zip(records, times, strict=True)]
    assert batched.add_many(records, times) is any(results)
    assert batched.records() == one_by_one.records()


def test_latest_keeps_the_newest_record(t0):
    window = make_window(WindowSpec("latest", 1, ("gunNum", "gridCapacity")))
    assert isinstance(window, LatestWindow)
    assert window.latest() is None
    window.add({"stationId": "ST-0001", "gunNum": 8, "gridCapacity": 630}, t0)
    window.add({"stationId": "ST-0001", "gunNum": 10, "gridCapacity": 800}, t0 + 60)
    assert window.records() == [{"stationId": "ST-0001", "gunNum": 10, "gridCapacity": 800}]
    assert window.column("gunNum") == [10]


def test_latest_with_a_larger_size_keeps_the_last_n(t0):
    window = make_window(WindowSpec("latest", 2))
    for i in range(4):
        window.add({"value": i}, t0 + i)
    assert window.column("value") == [2, 3]


def realtime_rows(t0: float, hours: int, scale: float = 1.0) -> tuple[list[dict], list[float]]:
    """A REALTIME-DATA message for one station: hourly rows, newest last."""
    rows = [
        {
            "stationId": "ST-0001",
            "hostCode": "H-01",
            "sendTime": f"h{h}",
            "gunPower": {
                "gunNo": [1, 2],
                "outputPowerPerGunAvg": [10.0 * scale, h * scale],
                "outputPowerPerGunMax": [20.0, 30.0],
            },
            "outputPowerPerStationAvg": 10.0 + h * scale,
            "outputPowerPerStationMax": 50.0,
        }
        for h in range(hours)
    ]
    return rows, [t0 + 3600 * h for h in range(hours)]


def test_replace_makes_the_message_the_window_sorted_and_bounded(t0):
    window = make_window(WindowSpec("replace", 168, ("outputPowerPerStationAvg",), interval_seconds=3600))
    assert isinstance(window, ReplaceWindow)
    window.add({"stationId": "ST-0001", "outputPowerPerStationAvg": -1.0}, t0 - 3600)
    rows, times = realtime_rows(t0, 200)
    shuffled = list(zip(rows, times, strict=True))
    random.Random(3).shuffle(shuffled)
    assert window.replace([r for r, _ in shuffled], [t for _, t in shuffled], now=t0) is True
    assert window.records() == rows[-168:]
    assert window.column("outputPowerPerStationAvg")[0] == 10.0 + 32


def test_replace_reports_whether_the_window_changed(t0):
    window = make_window(WindowSpec("replace", 168))
    rows, times = realtime_rows(t0, 24)
    assert window.replace(rows, times) is True
    assert window.replace([dict(r) for r in rows], times) is False
    changed, _ = realtime_rows(t0, 24, scale=2.0)
    assert window.replace(changed, times) is True
    assert window.records() == changed
    assert window.replace([], []) is True
    assert len(window) == 0


def test_add_on_a_replace_window_appends(t0):
    window = make_window(WindowSpec("replace", 30, ("FeeNo", "gridPrice")))
    window.replace([{"FeeNo": 1, "gridPrice": 0.61}, {"FeeNo": 2, "gridPrice": 1.02}], [t0, t0])
    window.add({"FeeNo": 3, "gridPrice": 0.33}, t0 + 1)
    assert window.column("FeeNo") == [1, 2, 3]


def test_times_are_the_record_times_aligned_with_records(meter, t0):
    window = meter_window()
    window.add_many([meter(t0 + 600), meter(t0), meter(t0 + 300)], [t0 + 600, t0, t0 + 300])
    assert window.times().tolist() == [t0, t0 + 300, t0 + 600]
    assert [r["sendTime"] for r in window.records()] == [meter(t)["sendTime"] for t in (t0, t0 + 300, t0 + 600)]
