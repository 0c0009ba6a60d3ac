"""A window saved whole once and then only as its changes comes back, after every round, equal
to the window that went on: for every kind, and for values that make columns change codec."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d_a.windows import Window, WindowChanges, WindowSpec, make_window

examples = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECS = {
    "append": WindowSpec("append", 300, ("v",)),
    "append, aged": WindowSpec("append", 1_000, ("v",), max_age_seconds=150),
    "latest": WindowSpec("latest", 1, ("v",)),
    "replace": WindowSpec("replace", 6, ("v",)),
    "per_second": WindowSpec("per_second", 90, ("gunNo",), max_records_per_second=3),
    "per_device": WindowSpec("per_device", 250, ("dev",), device_key="dev"),
}

# Values that move a column through its codecs: small and large ints, floats, strings that repeat
# and that do not, bools, None, lists of numbers and of strings, a missing key.
MISSING = object()
values = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**40), 2**40),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["idle", "charging", "fault"]),
    st.text("abcdefghij", min_size=1, max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 9) | st.floats(0, 1), max_size=3),
    st.lists(st.sampled_from(["1", "2", "3"]), max_size=2),
    st.just(MISSING),
)
# A run: `count` records a second apart from `ts` (strings varied a little), so that rounds hold
# both rows already encoded into columns and rows still waiting as records.
runs = st.tuples(
    st.integers(0, 60), st.integers(1, 120), st.integers(0, 2), values, st.sampled_from(["x", "y", MISSING])
)
rounds = st.lists(st.lists(st.lists(runs, max_size=3), max_size=3), min_size=2, max_size=6)


def record(ts: int, device: int, value: object, extra: object) -> tuple[dict, float]:
    row: dict = {"gunNo": device, "dev": f"D{device}"}
    if value is not MISSING:
        row["v"] = value
    if extra is not MISSING:
        row["note"] = extra
    return row, float(ts)


def expanded(run: tuple, start: int) -> list[tuple[dict, float]]:
    ts, count, device, value, extra = run
    return [
        record(start + ts + i, (device + i) % 3, f"{value}{i % 4}" if isinstance(value, str) else value, extra)
        for i in range(count)
    ]


def feed(window: Window, batches: list[list[tuple]], pending: bool, start: int = 0) -> None:
    """The batches' runs of records, their times counted from `start`."""
    for batch in batches:
        rows = [row for run in batch for row in expanded(run, start)]
        if window.kind == "replace":
            window.replace([r for r, _ in rows], [t for _, t in rows], now=1_000.0)
        else:
            add = window.add_pending if pending else window.add_many
            add([r for r, _ in rows], [t for _, t in rows], now=1_000.0)


def stored(window: Window) -> Window:
    """A copy as a restore reads it back (reads would change the copy a chain goes on from)."""
    copy = pickle.loads(pickle.dumps(window, protocol=5))
    copy.attach(None)
    return copy


def stored_changes(changes: WindowChanges) -> WindowChanges:
    return pickle.loads(pickle.dumps(changes, protocol=5))


def assert_same(saved: Window, live: Window) -> None:
    saved, live = stored(saved), stored(live)
    assert saved.records() == live.records()
    assert np.array_equal(saved.times(), live.times())
    assert saved.last_update == live.last_update
    for field in ("v", "gunNo", "dev", "note"):
        assert saved.column(field) == live.column(field)
    if live.kind == "per_device":
        assert saved.devices() == live.devices()
    if live.kind == "per_second":
        assert saved.completed_second() == live.completed_second()


@pytest.mark.parametrize("name", SPECS)
@given(rounds=rounds, pending=st.booleans())
@examples
def test_a_window_rebuilt_from_its_changes_equals_the_window(name: str, rounds: list, pending: bool) -> None:
    live = make_window(SPECS[name])
    feed(live, rounds[0], pending)
    saved, mark = live.detached(), live.mark()  # the copy may hold records still pending
    for number, batches in enumerate(rounds[1:], start=1):
        feed(live, batches, pending, start=150 * number)  # rounds overlap a little: some rows are late
        changes = live.copy_changes_since(mark)
        saved = live.detached() if changes is None else saved.applied(stored_changes(changes))
        mark = live.mark()
        assert_same(saved, live)
    follow = [[(1_000, 90, 1, 2.5, "x"), (1_100, 3, 2, "later", MISSING)]]
    feed(saved, follow, pending)
    feed(live, follow, pending)
    assert_same(saved, live)


def test_changes_hold_only_the_new_rows(car_order, t0) -> None:
    live = make_window(WindowSpec("append", 100_000, ("soc",)))
    live.add_many([car_order(t0 + i) for i in range(5_000)], [t0 + i for i in range(5_000)])
    saved, mark = live.detached(), live.mark()
    live.add_many([car_order(t0 + 5_000 + i) for i in range(10)], [t0 + 5_000 + i for i in range(10)])
    changes = live.copy_changes_since(mark)
    assert isinstance(changes, WindowChanges)
    assert changes.kept == 5_000
    assert len(changes.window.records()) == 10
    assert len(pickle.dumps(changes, protocol=5)) < len(pickle.dumps(saved, protocol=5)) / 50
    assert saved.applied(changes).records() == live.records()


def test_rows_changed_in_the_middle_need_the_whole_window(car_order, t0) -> None:
    live = make_window(WindowSpec("append", 100, ("soc",)))
    live.add_many([car_order(t0 + i) for i in range(0, 20, 2)], [t0 + i for i in range(0, 20, 2)])
    mark = live.mark()
    live.add_many([car_order(t0 + 5)], [t0 + 5])  # a late record, merged between stored ones
    assert live.copy_changes_since(mark) is None
