"""Addressing slots of a store's buffers, and reading or writing an array there.

A run of consecutive slots is a tuple of slices, so that contiguous reads and writes stay plain
slice copies; slots scattered by an out-of-order insert or a compaction are an integer index array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Where = tuple[slice, ...] | np.ndarray


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


def values_at(array: np.ndarray, where: Where) -> np.ndarray:
    """The values of `array` at `where`, in order: a view for one slice (to copy from, not to keep)."""
    if isinstance(where, tuple) and len(where) == 1:
        return array[where[0]]
    return take(array, where)


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
