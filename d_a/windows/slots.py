"""Addressing slots of a ring buffer, and reading or writing an array there.

A run of consecutive ring slots is a tuple of at most two slices (two when it wraps around
the end of the buffer), so that contiguous reads and writes stay plain slice copies; slots
scattered by an out-of-order insert or a compaction are an integer index array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Where = tuple[slice, ...] | np.ndarray


def ring_run(start: int, count: int, capacity: int) -> tuple[slice, ...]:
    """The slots of `count` consecutive ring positions starting at physical slot `start`."""
    if count <= 0 or capacity <= 0:
        return (slice(0, 0),)
    start %= capacity
    end = start + count
    if end <= capacity:
        return (slice(start, end),)
    return (slice(start, capacity), slice(0, end - capacity))


def size_of(where: Where) -> int:
    """How many slots `where` addresses."""
    if isinstance(where, tuple):
        return sum(s.stop - s.start for s in where)
    return len(where)


def as_indices(where: Where) -> np.ndarray:
    """`where` as an index array (for selecting some of its slots with a mask)."""
    if isinstance(where, tuple):
        return np.concatenate([np.arange(s.start, s.stop) for s in where])
    return where


def take(array: np.ndarray, where: Where) -> np.ndarray:
    """A copy of the values of `array` at `where`, in order."""
    if not isinstance(where, tuple):
        return array[where]
    if len(where) == 1:
        return array[where[0]].copy()
    return np.concatenate([array[s] for s in where])


def put(array: np.ndarray, where: Where, data: Any) -> None:
    """Write `data` (an array with one value per slot, or a scalar for all of them) to `array` at `where`."""
    if not isinstance(where, tuple):
        array[where] = data
        return
    if not isinstance(data, np.ndarray):
        for s in where:
            array[s] = data
        return
    offset = 0
    for s in where:
        stop = offset + s.stop - s.start
        array[s] = data[offset:stop]
        offset = stop
