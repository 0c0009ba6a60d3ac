"""Time-grid alignment and padding strategies on exact examples."""

from __future__ import annotations

import numpy as np
import pytest

from d_a.windows import PADDING_STRATEGIES, WindowSpec, make_window

GRID = 300  # SCHEDULE-DEVICE-METER reports every 5 minutes


@pytest.fixture
def gappy_meter(meter, t0):
    """A 6-slot meter window holding 10 at slot 1, 30 at slot 3 and 50 at slot 5 (oldest first)."""
    window = make_window(WindowSpec("append", 6, ("meterId", "meterPower"), interval_seconds=GRID))
    times = [t0, t0 + 2 * GRID, t0 + 4 * GRID]
    window.add_many([meter(ts, power=p) for ts, p in zip(times, (10, 30, 50), strict=True)], times)
    return window


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("missing", [None, 10, None, 30, None, 50]),
        ("zero", [0, 10, 0, 30, 0, 50]),
        ("forward", [10, 10, 10, 30, 30, 50]),
        ("linear", [10, 10, 20.0, 30, 40.0, 50]),
    ],
)
def test_gaps_on_the_time_grid_are_filled_by_the_strategy(gappy_meter, strategy, expected):
    assert gappy_meter.column("meterPower", padding=strategy) == expected


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("missing", [np.nan, 10, np.nan, 30, np.nan, 50]),
        ("zero", [0, 10, 0, 30, 0, 50]),
        ("forward", [10, 10, 10, 30, 30, 50]),
        ("linear", [10, 10, 20, 30, 40, 50]),
    ],
)
def test_numpy_padding_gives_float64_with_nan_for_missing(gappy_meter, strategy, expected):
    column = gappy_meter.column("meterPower", padding=strategy, fmt="numpy")
    assert column.dtype == np.float64
    np.testing.assert_array_equal(column, np.array(expected, dtype=np.float64))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("missing", [None, "M-1", None, "M-3", None, "M-5"]),
        ("zero", [None, "M-1", None, "M-3", None, "M-5"]),
        ("forward", ["M-1", "M-1", "M-1", "M-3", "M-3", "M-5"]),
        ("linear", ["M-1", "M-1", "M-1", "M-3", "M-3", "M-5"]),
    ],
)
def test_non_numeric_columns_pad_with_none_or_repeat(meter, t0, strategy, expected):
    window = make_window(WindowSpec("append", 6, ("meterId",), interval_seconds=GRID))
    times = [t0, t0 + 2 * GRID, t0 + 4 * GRID]
    window.add_many([meter(ts, meterId=f"M-{i}") for ts, i in zip(times, (1, 3, 5), strict=True)], times)
    assert window.column("meterId", padding=strategy) == expected


def test_without_padding_the_column_is_exactly_what_the_window_holds(gappy_meter):
    assert gappy_meter.column("meterPower") == [10, 30, 50]
    assert gappy_meter.column("meterPower", fmt="numpy").tolist() == [10.0, 30.0, 50.0]


def test_records_off_the_grid_snap_to_the_nearest_slot_and_the_newest_wins(meter, t0):
    window = make_window(WindowSpec("append", 4, ("meterPower",), interval_seconds=GRID))
    times = [t0 + 10, t0 + 2 * GRID - 20, t0 + 2 * GRID + 20, t0 + 3 * GRID]
    window.add_many([meter(ts, power=p) for ts, p in zip(times, (1.0, 2.0, 3.0, 4.0), strict=True)], times)
    assert window.column("meterPower", padding="missing") == [1.0, None, 3.0, 4.0]


def test_records_older_than_the_grid_window_are_left_out(meter, t0):
    window = make_window(WindowSpec("append", 3, ("meterPower",), interval_seconds=GRID))
    window.add(meter(t0, power=1.0), t0)
    window.add(meter(t0 + 10 * GRID, power=2.0), t0 + 10 * GRID)
    assert window.column("meterPower") == [1.0, 2.0]
    assert window.column("meterPower", padding="forward") == [2.0, 2.0, 2.0]
    assert window.column("meterPower", padding="zero") == [0, 0, 2.0]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("missing", [None, None, 1, 2, 4]),
        ("zero", [0, 0, 1, 2, 4]),
        ("forward", [1, 1, 1, 2, 4]),
        ("linear", [1, 1, 1, 2, 4]),
    ],
)
def test_without_a_grid_only_the_front_is_padded_to_window_size(strategy, expected, t0):
    window = make_window(WindowSpec("append", 5, ("hostError",)))
    window.add_many([{"hostError": v} for v in (1, 2, 4)], [t0, t0 + 7, t0 + 100])
    assert window.column("hostError", padding=strategy) == expected


def test_a_none_value_is_kept_and_linear_interpolates_around_it(meter, t0):
    window = make_window(WindowSpec("append", 5, ("meterPower",), interval_seconds=GRID))
    times = [t0, t0 + GRID, t0 + 4 * GRID]
    window.add_many([meter(ts, power=p) for ts, p in zip(times, (0.0, None, 40.0), strict=True)], times)
    assert window.column("meterPower", padding="linear") == [0.0, None, 20.0, 30.0, 40.0]
    assert window.column("meterPower", padding="forward") == [0.0, None, None, None, 40.0]


def test_an_empty_window_pads_to_its_size(t0):
    window = make_window(WindowSpec("append", 3, ("meterPower",), interval_seconds=GRID))
    for strategy in PADDING_STRATEGIES:
        assert window.column("meterPower", padding=strategy) == [None, None, None]
    assert np.isnan(window.column("meterPower", padding="zero", fmt="numpy").astype(float)).all()


def test_an_unknown_strategy_is_refused_naming_the_valid_ones(gappy_meter):
    with pytest.raises(ValueError, match="'cubic'; use one of zero, linear, forward, missing"):
        gappy_meter.column("meterPower", padding="cubic")
    with pytest.raises(ValueError, match="'csv'; use one of list, numpy"):
        gappy_meter.column("meterPower", fmt="csv")
