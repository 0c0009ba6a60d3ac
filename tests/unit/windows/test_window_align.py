"""align_by_key: per-gun rows over time re-indexed to one sorted gun order."""

from __future__ import annotations

import pytest

from d_a.windows import align_by_key, align_listed


def hourly_gun_power(row: dict) -> dict:
    """One REALTIME-DATA row's gunPower as {gunNo: average power}."""
    power = row["gunPower"]
    return dict(zip(power["gunNo"], power["outputPowerPerGunAvg"], strict=True))


REALTIME_ROWS = [
    {"stationId": "ST-0001", "gunPower": {"gunNo": [2, 1], "outputPowerPerGunAvg": [20.0, 10]}},
    {"stationId": "ST-0001", "gunPower": {"gunNo": [1], "outputPowerPerGunAvg": [12]}},
    {"stationId": "ST-0001", "gunPower": {"gunNo": [1, 2, 3], "outputPowerPerGunAvg": [14, 40.0, 7.5]}},
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (None, [[10, 20.0, None], [12, None, None], [14, 40.0, 7.5]]),
        ("missing", [[10, 20.0, None], [12, None, None], [14, 40.0, 7.5]]),
        ("zero", [[10, 20.0, 0], [12, 0, 0], [14, 40.0, 7.5]]),
        ("forward", [[10, 20.0, 7.5], [12, 20.0, 7.5], [14, 40.0, 7.5]]),
        ("linear", [[10, 20.0, 7.5], [12, 30.0, 7.5], [14, 40.0, 7.5]]),
    ],
)
def test_guns_missing_in_an_hour_are_filled_along_time(strategy, expected):
    guns, rows = align_by_key([hourly_gun_power(row) for row in REALTIME_ROWS], strategy)
    assert guns == [1, 2, 3]
    assert rows == expected


def test_device_gun_records_pivot_into_time_by_gun():
    seen = [{"1": 0, "2": 1}, {"2": 1, "3": 2}, {"1": 1, "3": 0}]  # gunNo -> status per 15-second tick
    guns, rows = align_by_key(seen, "forward")
    assert guns == ["1", "2", "3"]
    assert rows == [[0, 1, 2], [0, 1, 2], [1, 1, 0]]


def test_keys_of_mixed_types_still_get_one_stable_order():
    keys, rows = align_by_key([{1: "a", "1": "b"}], None)
    assert keys == [1, "1"]
    assert rows == [["a", "b"]]


def test_no_rows_give_no_keys():
    assert align_by_key([], "zero") == ([], [])
    assert align_by_key([{}, {}], "zero") == ([], [[], []])


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="'nearest'"):
        align_by_key([{1: 1}], "nearest")


def test_pivot_makes_one_row_per_slot_and_one_column_per_key(t0) -> None:
    from d_a.windows import WindowSpec, make_window

    window = make_window(WindowSpec(kind="append", window_size=100, fields=("gunNo", "status"), interval_seconds=15))
    statuses = [(0, 1, 1), (1, 2, 0), (15, 1, 0), (16, 3, 2), (30, 2, 1), (31, 2, 2)]
    window.add_many([{"gunNo": g, "status": s} for _, g, s in statuses], [t0 + dt for dt, _, _ in statuses])
    order, rows = window.pivot("gunNo", "status")
    assert order == [1, 2, 3]
    assert rows == [[1, 0, None], [0, None, 2], [None, 2, None]]  # 30 s slot: the newer gun-2 record wins
    order, rows = window.pivot("gunNo", "status", padding="forward", fmt="numpy")
    assert rows.tolist() == [[1.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 2.0, 2.0]]
    assert make_window(WindowSpec(kind="append", window_size=3)).pivot("gunNo", "status") == ([], [])


def test_small_and_large_pivots_give_the_same_table(t0, monkeypatch) -> None:
    """Pivots of up to SMALL_PIVOT records are built in Python, larger ones with numpy: same table."""
    from d_a.windows import WindowSpec, make_window
    from d_a.windows import window as window_module

    window = make_window(WindowSpec(kind="append", window_size=100, fields=("gunNo", "status"), interval_seconds=15))
    reports = [(0, 1, 1), (1, 2, None), (15, "3", 0), (16, None, 2), (30, 2, "fault"), (31, 2, 2), (60, 1, 0)]
    window.add_many([{"gunNo": g, "status": s} for _, g, s in reports], [t0 + dt for dt, _, _ in reports])
    window.add({"gunNo": 1}, t0 + 75)  # a report without a status
    small = window.pivot("gunNo", "status")
    monkeypatch.setattr(window_module, "SMALL_PIVOT", 0)
    assert small == window.pivot("gunNo", "status")
    assert small == (
        [1, 2, "3"],
        [[1, None, None], [None, None, 0], [None, 2, None], [0, None, None], [None, None, None]],
    )


def _rows_path(records, key, field, strategy):
    return align_by_key([dict(zip(r[key], r[field], strict=False)) for r in records], strategy)


def test_align_listed_gives_what_the_row_dicts_give_for_every_shape():
    same = [{"gunNo": ["01", "02"], "p": [1.0, 2.0]}, {"gunNo": ["01", "02"], "p": [3.0, None]}]
    cases = [
        same,
        [{"gunNo": ["02", "01"], "p": [1.0, 2.0]}, {"gunNo": ["02", "01"], "p": [3.0, 4.0]}],  # not in order
        [{"gunNo": ["01", "02"], "p": [1.0, 2.0]}, {"gunNo": ["01", "03"], "p": [3.0, 4.0]}],  # guns differ
        [{"gunNo": ["01", "02"], "p": [1.0]}, {"gunNo": ["01", "02"], "p": [3.0, 4.0]}],  # a value short
        [{"gunNo": ["01", "01"], "p": [1.0, 2.0]}],  # a gun twice
        [],
    ]
    for records in cases:
        for strategy in (None, "zero", "forward"):
            assert align_listed(records, "gunNo", "p", strategy) == _rows_path(records, "gunNo", "p", strategy)


def test_align_listed_hands_out_copies_and_checks_the_strategy():
    records = [{"gunNo": ["01", "02"], "p": [1.0, 2.0]}]
    order, table = align_listed(records, "gunNo", "p", None)
    order.append("03")
    table[0][0] = 9.0
    assert records == [{"gunNo": ["01", "02"], "p": [1.0, 2.0]}]
    with pytest.raises(ValueError):
        align_listed(records, "gunNo", "p", "sideways")
