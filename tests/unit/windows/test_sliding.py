"""SlidingArray: numpy values that follow appends and evictions; a view lent never changes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from d_a.windows.sliding import SlidingArray, room

steps = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60)


@given(st.integers(0, 50), steps)
def test_views_lent_keep_their_values_while_the_array_slides(start: int, moves: list[tuple[int, int]]) -> None:
    expected = list(range(start))
    array = SlidingArray(np.arange(start, dtype=np.float64))
    lent = [(array.view(), list(expected))]
    counter = start
    for dropped, appended in moves:
        new = np.arange(counter, counter + appended, dtype=np.float64)
        counter += appended
        assert array.advance(dropped, new)
        expected = expected[dropped:] + new.tolist()
        assert array.live().tolist() == expected
        lent.append((array.view(), list(expected)))
    for view, values in lent:
        assert view.tolist() == values and not view.flags.writeable


def test_a_full_array_keeps_at_most_its_room_beyond_the_live_values() -> None:
    array = SlidingArray(np.zeros(1_000))
    for _ in range(5_000):
        array.advance(1, np.ones(1))
        array.view()
    assert len(array) == 1_000
    assert array.capacity <= 1_000 + room(1_000) + 1


def test_values_of_another_dtype_are_refused_and_change_nothing() -> None:
    array = SlidingArray(np.arange(4, dtype=np.float64))
    assert not array.advance(1, np.array(["x"], dtype=object))
    assert array.live().tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("width", [1, 3])
def test_rows_of_a_table_slide_like_values(width: int) -> None:
    array = SlidingArray(np.zeros((2, width)))
    view = array.view()
    array.advance(1, np.ones((3, width)))
    assert array.live().tolist() == [[0.0] * width] + [[1.0] * width] * 3
    assert view.tolist() == [[0.0] * width] * 2
