"""Properties that hold for any feed: windows against simple reference models, padding rules, types."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d_a.windows import WindowSpec, make_window
from d_a.windows.batch import Batch

examples = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small ranges on purpose: they make ties, late records and exact duplicates common.
times = st.integers(min_value=0, max_value=30)
feeds = st.lists(st.tuples(times, st.integers(min_value=0, max_value=3)), max_size=40)
second_feeds = st.lists(st.tuples(st.integers(0, 120).map(lambda tenths: tenths / 10), st.integers(0, 2)), max_size=40)


def chunked(items: list, cuts: list[int]) -> list[list]:
    """`items` split at the positions `cuts` (out-of-range cuts ignored)."""
    bounds = sorted({0, len(items), *[cut for cut in cuts if cut < len(items)]})
    return [items[lo:hi] for lo, hi in pairwise(bounds)]


class AppendModel:
    """The append semantics, written the obvious way: a sorted list, one record at a time."""

    def __init__(self, size: int, max_age: float | None) -> None:
        self.size, self.max_age, self.rows = size, max_age, []

    def add(self, record: dict, ts: float) -> bool:
        newest = max([ts] + [t for t, _ in self.rows])
        if (ts, record) in self.rows or (self.max_age is not None and ts < newest - self.max_age):
            return False
        place = sum(1 for t, _ in self.rows if t <= ts)
        self.rows.insert(place, (ts, record))
        if len(self.rows) > self.size:
            self.rows.pop(0)
            if place == 0:
                return False
        if self.max_age is not None:
            self.rows = [(t, r) for t, r in self.rows if t >= newest - self.max_age]
        return True

    def records(self) -> list[dict]:
        return [record for _, record in self.rows]


class PerSecondModel:
    """The per_second semantics: seconds as entries, a cap per second, trigger on a newer second."""

    def __init__(self, seconds: int, cap: int) -> None:
        self.seconds, self.cap, self.rows, self.dropped = seconds, cap, [], 0

    def add(self, record: dict, ts: float) -> bool:
        if (ts, record) in self.rows:
            return False
        second = math.floor(ts)
        if sum(1 for t, _ in self.rows if math.floor(t) == second) >= self.cap:
            self.dropped += 1
            return False
        newest = math.floor(self.rows[-1][0]) if self.rows else None
        self.rows.insert(sum(1 for t, _ in self.rows if t <= ts), (ts, record))
        while len({math.floor(t) for t, _ in self.rows}) > self.seconds:
            oldest = math.floor(self.rows[0][0])
            self.rows = [(t, r) for t, r in self.rows if math.floor(t) != oldest]
        return newest is not None and second > newest

    def records(self) -> list[dict]:
        return [record for _, record in self.rows]


@examples
@given(feed=feeds, size=st.integers(1, 6), max_age=st.none() | st.integers(1, 12))
def test_append_window_matches_the_reference_model(feed, size, max_age):
    window = make_window(WindowSpec("append", size, ("v",), max_age_seconds=max_age))
    model = AppendModel(size, max_age)
    for ts, value in feed:
        record = {"v": value, "sendTime": f"t{ts}"}
        assert window.add(record, ts) == model.add(record, ts)
        assert window.records() == model.records()


@pytest.mark.parametrize("kind", ["append", "per_second", "per_device"])
@examples
@given(feed=second_feeds, size=st.integers(1, 5), cap=st.integers(1, 3), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_add_many_matches_adding_one_by_one(kind, feed, size, cap, cuts):
    unique = [({"id": i, "gunNo": gun}, ts) for i, (ts, gun) in enumerate(feed)]
    spec = WindowSpec(kind, size, ("gunNo",), device_key="gunNo", max_records_per_second=cap)
    one_by_one, batched = make_window(spec), make_window(spec)
    for chunk in chunked(unique, cuts):
        singles = [one_by_one.add(record, ts) for record, ts in chunk]
        assert batched.add_many([r for r, _ in chunk], [t for _, t in chunk]) == any(singles)
    assert batched.records() == one_by_one.records()
    if kind == "per_device":
        assert batched.devices() == one_by_one.devices()


@examples
@given(feed=feeds, size=st.integers(1, 8))
def test_a_window_is_never_longer_than_its_size_and_is_oldest_first(feed, size):
    window = make_window(WindowSpec("append", size, ("v",)))
    window.add_many([{"v": value, "ts": ts} for ts, value in feed], [ts for ts, _ in feed])
    kept = [record["ts"] for record in window.records()]
    assert len(kept) <= size
    assert kept == sorted(ts for ts, _ in set(feed))[-size:]


@examples
@given(feed=second_feeds, seconds=st.integers(1, 5), cap=st.integers(1, 3))
def test_per_second_window_matches_the_reference_model(feed, seconds, cap):
    window = make_window(WindowSpec("per_second", seconds, ("gunNo",), max_records_per_second=cap))
    model = PerSecondModel(seconds, cap)
    for ts, gun in feed:
        record = {"gunNo": gun, "t": ts}
        assert window.add(record, ts) == model.add(record, ts)
    assert window.records() == model.records()
    assert window.dropped == model.dropped
    assert window.seconds_count == len({math.floor(t) for t, _ in model.rows}) <= seconds


@examples
@given(
    feed=st.lists(st.tuples(times, st.sampled_from(["BAT-1", "BAT-2", "BAT-3", None]), st.integers(0, 2)), max_size=40),
    size=st.integers(1, 6),
)
def test_per_device_window_keeps_each_devices_latest_and_a_bounded_history(feed, size):
    window = make_window(WindowSpec("per_device", size, ("storageId",), device_key="storageId"))
    history, latest = AppendModel(size, None), {}
    for ts, unit, power in feed:
        record = {"storageId": unit, "storagePower": power}
        window.add(record, ts)
        if unit is not None:
            history.add(record, ts)
            if unit not in latest or ts >= latest[unit][0]:
                latest[unit] = (ts, record)
    assert window.records() == history.records()
    assert window.devices() == [record for _, record in latest.values()]
    assert window.rejected == sum(1 for _, unit, _ in feed if unit is None)


def grid_window(size: int, slots: list[int], values: list) -> object:
    """A window on a 15 s grid holding values at the given slot positions (oldest first, last = newest)."""
    window = make_window(WindowSpec("append", size, ("p",), interval_seconds=15))
    newest = max(slots)
    times = [15.0 * (slot - newest) for slot in slots]
    window.add_many([{"p": value} for value in values], times)
    return window


def slots_and_size(draw: st.DrawFn, least: int = 1) -> tuple[int, list[int]]:
    size = draw(st.integers(max(least, 1), 24))
    slots = sorted(draw(st.sets(st.integers(0, size - 1), min_size=least, max_size=size)))
    shift = size - 1 - slots[-1]
    return size, [slot + shift for slot in slots]


@st.composite
def linear_series(draw: st.DrawFn) -> tuple[int, list[int], float, float]:
    size, slots = slots_and_size(draw, least=2)
    return size, slots, draw(st.integers(-50, 50)), draw(st.integers(-1000, 1000))


@examples
@given(series=linear_series())
def test_linear_padding_reproduces_a_linear_series(series):
    size, slots, slope, offset = series
    window = grid_window(size, slots, [slope * slot + offset for slot in slots])
    padded = window.column("p", padding="linear")
    first = slots[0]
    expected = [slope * max(slot, first) + offset for slot in range(size)]
    assert padded == pytest.approx(expected, rel=1e-12, abs=1e-9)


@st.composite
def gappy_series(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    size, slots = slots_and_size(draw)
    return size, slots, draw(st.lists(st.integers(-100, 100), min_size=len(slots), max_size=len(slots)))


@examples
@given(series=gappy_series())
def test_forward_padding_repeats_the_last_earlier_value(series):
    size, slots, values = series
    padded = grid_window(size, slots, values).column("p", padding="forward")
    by_slot = dict(zip(slots, values, strict=True))
    for slot in range(size):
        earlier = [s for s in slots if s <= slot]
        assert padded[slot] == by_slot[earlier[-1] if earlier else slots[0]]


@examples
@given(series=gappy_series())
def test_zero_and_missing_fill_gaps_with_0_and_none(series):
    size, slots, values = series
    window = grid_window(size, slots, values)
    by_slot = dict(zip(slots, values, strict=True))
    assert window.column("p", padding="zero") == [by_slot.get(slot, 0) for slot in range(size)]
    assert window.column("p", padding="missing") == [by_slot.get(slot) for slot in range(size)]


@examples
@given(series=gappy_series(), jitter=st.lists(st.integers(-7, 7), min_size=24, max_size=24))
def test_alignment_keeps_every_record_on_its_own_slot(series, jitter):
    size, slots, values = series
    window = make_window(WindowSpec("append", size, ("p",), interval_seconds=15))
    newest = max(slots)
    times = [15.0 * (slot - newest) + (jitter[i] if slot != newest else 0) for i, slot in enumerate(slots)]
    window.add_many([{"p": value} for value in values], times)
    padded = window.column("p", padding="missing")
    assert [padded[slot] for slot in slots] == values


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
json_records = st.dictionaries(st.sampled_from(["a", "b", "c", "sendTime"]), json_values, max_size=4)


@examples
@given(records=st.lists(json_records, max_size=25), cuts=st.lists(st.integers(0, 25), max_size=4))
def test_any_json_record_comes_back_with_its_types(records, cuts, strictly_equal):
    window = make_window(WindowSpec("append", 100, ("a", "b")))
    numbered = list(enumerate(records))
    for chunk in chunked(numbered, cuts):
        window.add_many([record for _, record in chunk], [index for index, _ in chunk])
    assert strictly_equal(window.records(), records)


@examples
@given(
    bursts=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40)), min_size=1, max_size=6),
    cap=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_staged_seconds_give_the_models_completed_and_current_second(bursts, cap, cuts):
    """Bursts of up to 40 records in a second, staged in chunks as a service does: the last two
    seconds are found however many records they hold."""
    feed = [(second + index / 100, index) for second, count in bursts for index in range(count)]
    window = make_window(WindowSpec("per_second", 3, ("gunNo",), max_records_per_second=cap))
    model = PerSecondModel(3, cap)
    for chunk in chunked(feed, cuts):
        records = [{"gunNo": gun, "t": ts} for ts, gun in chunk]
        window.add_pending(records, [ts for ts, _ in chunk])
        for record, (ts, _) in zip(records, chunk, strict=True):
            model.add(record, ts)
        seconds = sorted({math.floor(t) for t, _ in model.rows})
        in_second = {s: [r for t, r in model.rows if math.floor(t) == s] for s in seconds}
        assert window.current_second() == (in_second[seconds[-1]] if seconds else [])
        assert window.completed_second() == (in_second[seconds[-2]] if len(seconds) > 1 else [])


finite_or_not = st.one_of(
    st.integers(0, 5), st.floats(0, 5, allow_nan=False), st.sampled_from([math.nan, math.inf, -math.inf])
)


@examples
@given(feed=st.lists(st.tuples(finite_or_not, st.integers(0, 2)), max_size=12))
def test_a_small_batch_checked_in_python_equals_the_vectorised_check(feed):
    records = [{"gunNo": gun} for _, gun in feed]
    ts = [t for t, _ in feed]
    try:
        expected = Batch.of(records, np.asarray(ts, dtype=np.float64))  # an array takes the numpy path
    except ValueError:
        with pytest.raises(ValueError):
            Batch.of(records, ts)
        return
    batch = Batch.of(records, ts)
    assert batch.records == expected.records
    assert batch.ts.tolist() == expected.ts.tolist()
    assert not batch.records or batch.first_ts == expected.first_ts


@examples
@given(
    feed=st.lists(st.tuples(st.integers(-4, 0), st.floats(-1e6, 1e6)), max_size=60),
    size=st.integers(1, 6),
    max_age=st.none() | st.integers(1, 12),
    cuts=st.lists(st.integers(0, 60), max_size=8),
)
def test_number_views_show_the_column_and_never_change_once_given(feed, size, max_age, cuts):
    """A view is handed out without a copy, so appends, evictions, late records and a batch larger
    than the window must all leave the slots it shows alone. A record comes up to 4 s late."""
    window = make_window(WindowSpec("append", size, ("v",), max_age_seconds=max_age))
    feed = [(index + lateness, value) for index, (lateness, value) in enumerate(feed)]
    given_out = []
    for chunk in chunked(feed, cuts):
        window.add_many([{"v": value} for _, value in chunk], [float(ts) for ts, _ in chunk])
        view = window.number_view("v")
        assert view is not None and not view.flags.writeable
        assert np.array_equal(view, window.column("v", fmt="numpy"))
        assert view.tolist() == [record["v"] for record in window.records()]
        given_out.append((view, view.copy()))
    assert all(np.array_equal(view, kept) for view, kept in given_out)
