"""per_second windows (car orders): seconds as entries, the new-second trigger, the per-second cap."""

from __future__ import annotations

import pytest

from d_a.windows import PerSecondWindow, WindowSpec, make_window


def orders_window(seconds: int = 604_800, cap: int = 64) -> PerSecondWindow:
    return make_window(
        WindowSpec("per_second", seconds, ("gunNo", "outputPower"), interval_seconds=1, max_records_per_second=cap)
    )


def test_records_of_one_second_form_one_entry_and_size_counts_seconds(car_order, t0):
    window = orders_window(seconds=3)
    for second in range(5):
        window.add_many([car_order(t0 + second, gun=g) for g in (1, 2)], [t0 + second] * 2)
    assert window.seconds_count == 3
    assert len(window) == 6
    assert window.records() == [car_order(t0 + s, gun=g) for s in (2, 3, 4) for g in (1, 2)]


def test_a_new_second_triggers_and_completes_the_previous_one(car_order, t0):
    window = orders_window()
    assert window.add(car_order(t0, gun=1), t0) is False
    assert window.add(car_order(t0 + 0.4, gun=2), t0 + 0.4) is False
    assert window.completed_second() == []
    assert window.current_second() == [car_order(t0, gun=1), car_order(t0 + 0.4, gun=2)]
    assert window.add(car_order(t0 + 1, gun=1), t0 + 1) is True
    assert window.completed_second() == [car_order(t0, gun=1), car_order(t0 + 0.4, gun=2)]
    assert window.current_second() == [car_order(t0 + 1, gun=1)]
    assert window.add(car_order(t0 + 1, gun=2), t0 + 1) is False


def test_each_new_second_completes_the_one_before_while_rows_are_encoded(car_order, t0):
    """A service stages a second of orders at a time; the completed second stays right across the
    points where waiting rows are encoded into the window's columns."""
    window = orders_window()
    previous: list[dict] = []
    for second in range(60):  # 6 guns: 360 rows, several encodings
        orders = [car_order(t0 + second, gun=g, outputPower=10.0 * g + second) for g in range(1, 7)]
        assert window.add_pending(orders, [t0 + second] * 6) is (second > 0)
        assert window.completed_second() == previous
        assert window.current_second() == orders
        previous = orders
    assert window.seconds_count == 60
    assert window.records()[-12:] == [*window.completed_second(), *window.current_second()]


@pytest.mark.parametrize(
    "per_second",
    [
        [3],
        [40],
        [3, 4],
        [20, 20],
        [5, 40],
        [40, 5],
        [30, 1, 2],
        [1] * 50,
        [2, 30, 1],
        [10, 25],
        [60, 60, 3, 64],
        [64] * 3,
    ],
    ids=str,
)
def test_the_last_two_seconds_are_found_however_many_records_they_hold(car_order, t0, per_second):
    """The newest rows are scanned for where the last two seconds start; seconds holding more rows
    than are scanned, or starting before them, must come out the same."""
    window = orders_window()
    seconds = [[car_order(t0 + s + i / 100, gun=i) for i in range(count)] for s, count in enumerate(per_second)]
    window.add_many(
        [r for second in seconds for r in second],
        [t0 + s + i / 100 for s, n in enumerate(per_second) for i in range(n)],
    )
    assert window.current_second() == seconds[-1]
    assert window.completed_second() == (seconds[-2] if len(seconds) > 1 else [])


def test_a_batch_reaching_a_new_second_triggers_once(car_order, t0):
    window = orders_window()
    window.add(car_order(t0, gun=1), t0)
    times = [t0, t0 + 1, t0 + 1, t0 + 2]
    assert window.add_many([car_order(ts, gun=g) for ts, g in zip(times, (2, 1, 2, 1), strict=True)], times) is True
    assert window.completed_second() == [car_order(t0 + 1, gun=1), car_order(t0 + 1, gun=2)]
    assert window.add_many([car_order(t0 + 2, gun=2)], [t0 + 2]) is False


def test_a_late_record_of_an_older_second_is_placed_but_does_not_trigger(car_order, t0):
    window = orders_window()
    window.add_many([car_order(t0, gun=1), car_order(t0 + 2, gun=1)], [t0, t0 + 2])
    assert window.add(car_order(t0 + 1, gun=1), t0 + 1) is False
    assert window.column("sendTime")[1] == car_order(t0 + 1)["sendTime"]
    assert window.seconds_count == 3
    assert window.completed_second() == [car_order(t0 + 1, gun=1)]


def test_a_second_holds_at_most_the_cap_and_counts_the_rest(car_order, t0):
    window = orders_window(cap=4)
    window.add_many([car_order(t0, gun=g) for g in range(1, 7)], [t0] * 6)
    window.add(car_order(t0, gun=7), t0)
    assert len(window) == 4
    assert window.dropped == 3
    assert window.column("gunNo") == [1, 2, 3, 4]
    window.add(car_order(t0 + 1, gun=1), t0 + 1)
    assert window.completed_second() == [car_order(t0, gun=g) for g in range(1, 5)]


def test_duplicates_are_not_counted_against_the_cap(car_order, t0):
    window = orders_window(cap=2)
    window.add_many([car_order(t0, gun=1)] * 3, [t0] * 3)
    window.add(car_order(t0, gun=2), t0)
    assert window.column("gunNo") == [1, 2]
    assert window.dropped == 0


def test_the_first_record_into_an_empty_window_does_not_trigger(car_order, t0):
    window = orders_window()
    assert window.add_many([car_order(t0 + 5, gun=1), car_order(t0 + 3, gun=1)], [t0 + 5, t0 + 3]) is False
    assert window.add_many([car_order(t0 + 3, gun=2), car_order(t0 + 6, gun=1)], [t0 + 3, t0 + 6]) is True


def test_memory_follows_the_seconds_held_not_the_window_size(car_order, t0):
    window = orders_window()
    times = [t0 + i // 4 for i in range(4000)]
    window.add_many([car_order(ts, gun=1 + i % 4) for i, ts in enumerate(times)], times)
    assert window.seconds_count == 1000
    assert window.nbytes < 4000 * 200


def test_resize_keeps_the_newest_seconds(car_order, t0):
    window = orders_window()
    times = [t0 + i // 2 for i in range(10)]
    window.add_many([car_order(ts, gun=1 + i % 2) for i, ts in enumerate(times)], times)
    window.resize(2)
    assert window.seconds_count == 2
    assert window.records() == [car_order(t0 + s, gun=g) for s in (3, 4) for g in (1, 2)]
    window.add(car_order(t0 + 5), t0 + 5)
    assert window.seconds_count == 2


# -- a second complete by the clock (second_grace_seconds) ----------------------------------------------

GRACE = 0.5


def clocked_window(seconds: int = 604_800, grace: float | None = GRACE) -> PerSecondWindow:
    spec = WindowSpec("per_second", seconds, ("gunNo", "outputPower"), interval_seconds=1, second_grace_seconds=grace)
    return make_window(spec)


def write(window: PerSecondWindow, how: str, records: list[dict], times: list[float], now: float) -> bool:
    """Records as a service stages them, or as a library user adds them."""
    return window.add_pending(records, times, now) if how == "stage" else window.add_many(records, times, now)


@pytest.fixture(params=["stage", "add_many"])
def how(request) -> str:
    return request.param


def test_a_sessions_last_second_is_complete_once_it_ended_and_its_grace_passed(car_order, t0, how):
    window = clocked_window()
    arrival = t0 + 0.2  # each second's order arrives 0.2 s into it
    for second in range(3):
        write(window, how, [car_order(t0 + second)], [t0 + second], arrival + second)
    last = car_order(t0 + 2)
    assert window.completed_second() == [car_order(t0 + 1)]
    assert window.due_at() == pytest.approx(arrival + 2 + 1 + GRACE)
    version = window.version
    assert window.close_due(arrival + 3.4) is False
    assert window.completed_second() == [car_order(t0 + 1)] and window.version == version
    assert window.close_due(arrival + 3.5) is True
    assert window.newest_second_complete
    assert window.completed_second() == [last]
    assert window.version != version  # readers that cached the inputs rebuild car_orders
    assert window.due_at() is None and window.close_due(arrival + 100) is False
    assert window.seconds_count == 3 and len(window) == 3


@pytest.mark.parametrize(
    "lag", [-3.0, 0.0, 4.0, 86_400.0], ids=["producer 3 s ahead", "in step", "4 s behind", "replay"]
)
def test_the_clock_runs_from_the_arrival_of_the_seconds_records_whatever_the_producers_clock(car_order, t0, lag):
    """A second ends one second after its records began to arrive, whether the producer's clock is
    ahead of ours, behind it, or the feed is a replay a day behind (the wall clock alone would
    close a lagging producer's seconds while they arrive, and keep a leading one's open)."""
    window = clocked_window()
    window.add_pending([car_order(t0, gun=1)], [t0], now=t0 + lag)
    window.add_pending([car_order(t0, gun=2)], [t0], now=t0 + lag + 0.8)
    assert window.due_at() == pytest.approx(t0 + lag + 1 + GRACE)
    assert window.close_due(t0 + lag + 1.4) is False
    assert window.close_due(t0 + lag + 1.5) is True
    assert [order["gunNo"] for order in window.completed_second()] == [1, 2]


def test_a_second_still_receiving_records_stays_open_for_the_grace(car_order, t0):
    """A slow replay delivering one second's records over more than a second: each record keeps it
    open for another grace (a poll batch split a second)."""
    window = clocked_window()
    window.add_pending([car_order(t0, gun=1)], [t0], now=t0 + 100)
    window.add_pending([car_order(t0, gun=2)], [t0], now=t0 + 101.3)
    assert window.due_at() == pytest.approx(t0 + 101.3 + GRACE)
    assert window.close_due(t0 + 101.7) is False
    window.add_pending([car_order(t0 - 5, gun=9)], [t0 - 5], now=t0 + 101.7)  # a late record of an older second
    assert window.close_due(t0 + 102.1) is False
    assert window.close_due(t0 + 102.2) is True
    assert [order["gunNo"] for order in window.completed_second()] == [1, 2]


def test_a_late_record_of_a_closed_second_updates_it_and_triggers(car_order, t0, how):
    window = clocked_window()
    write(window, how, [car_order(t0, gun=1)], [t0], t0)
    assert window.close_due(t0 + 1.5) is True
    assert write(window, how, [car_order(t0, gun=2)], [t0], t0 + 1.8) is True
    assert window.completed_second() == [car_order(t0, gun=1), car_order(t0, gun=2)]
    assert window.newest_second_complete and window.due_at() is None


def test_after_a_closed_second_a_newer_one_triggers_when_it_completes_a_second_not_shown(car_order, t0, how):
    """The next session's first second completes nothing new (car_orders keeps the closed second);
    the second after it does; a batch holding the closed second's late record does at once."""
    window = clocked_window()
    write(window, how, [car_order(t0)], [t0], t0)
    window.close_due(t0 + 2)
    assert write(window, how, [car_order(t0 + 60)], [t0 + 60], t0 + 60) is False
    assert window.completed_second() == [car_order(t0)]
    assert not window.newest_second_complete
    assert write(window, how, [car_order(t0 + 61)], [t0 + 61], t0 + 61) is True
    assert window.completed_second() == [car_order(t0 + 60)]
    window.close_due(t0 + 63)
    times = [t0 + 61, t0 + 62]
    assert write(window, how, [car_order(t, gun=2) for t in times], times, t0 + 63) is True
    assert window.completed_second() == [car_order(t0 + 61), car_order(t0 + 61, gun=2)]


def test_a_newer_second_after_an_open_one_behaves_as_before(car_order, t0, how):
    window = clocked_window()
    write(window, how, [car_order(t0)], [t0], t0)
    assert window.due_at() == pytest.approx(t0 + 1 + GRACE)
    assert write(window, how, [car_order(t0 + 1)], [t0 + 1], t0 + 1) is True
    assert window.due_at() == pytest.approx(t0 + 2 + GRACE)
    assert window.completed_second() == [car_order(t0)]


def test_closed_seconds_count_against_the_window_size(car_order, t0):
    window = clocked_window(seconds=2)
    for second in range(5):
        window.add_pending([car_order(t0 + 10 * second)], [t0 + 10 * second], now=t0 + 10 * second)
        assert window.close_due(t0 + 10 * second + 2) is True
        assert window.completed_second() == [car_order(t0 + 10 * second)]
    assert window.seconds_count == 2
    assert window.records() == [car_order(t0 + 30), car_order(t0 + 40)]


def test_without_a_grace_only_a_newer_second_completes_one(car_order, t0):
    window = clocked_window(grace=None)
    window.add(car_order(t0), t0, now=t0)
    assert window.due_at() is None
    assert window.close_due(t0 + 3600) is False
    assert window.completed_second() == []


def test_emptying_the_window_forgets_the_closed_second(car_order, t0):
    window = clocked_window()
    window.add(car_order(t0), t0, now=t0)
    window.close_due(t0 + 2)
    window.expire(now=t0 + 1000, max_idle_seconds=600)
    assert window.completed_second() == [] and window.due_at() is None
    window.add(car_order(t0 + 1000), t0 + 1000, now=t0 + 1000)
    assert window.completed_second() == []
    assert window.due_at() == pytest.approx(t0 + 1001 + GRACE)
