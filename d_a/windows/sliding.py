"""SlidingBuffer: live rows in a run of slots that slides forward through buffers with room.

Appends write after the newest row, evictions move the run's start, and when the buffers end the
live rows move to fresh ones: grown geometrically while the run fills from the start, with room to
slide (a share of the rows) once it evicts. A slot a lent read-only view shows is never rewritten:
an owner that must change live rows in place first calls `unlend`, which moves them to fresh
buffers when a view was lent. ColumnStore (a window's columns) and SlidingArray (a module input's
numpy values that follow appends) are the two kinds.
"""

from __future__ import annotations

import numpy as np

from .slots import Where, size_of, values_at

__all__ = ["SlidingArray", "SlidingBuffer", "room"]

ROOM_SHARE = 8  # room kept after the live rows: 1/8 of them, so the rows move every rows/8 appends
MIN_ROOM = 16
DOUBLING_UP_TO = 1 << 16  # while filling, capacity doubles up to this, then grows by half (bounded slack)
UNBOUNDED = 1 << 62


def room(rows: int) -> int:
    """The free slots kept after `rows` live rows when they move."""
    return max(MIN_ROOM, rows // ROOM_SHARE)


class SlidingBuffer:
    """The live rows sit in the slots `head .. head + size - 1` of `capacity`; a subclass owns
    the buffers and moves them in `_reallocate`."""

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.head = 0
        self.size = 0
        self.lent = False  # whether a view of the buffers was handed out (their live slots must not change)

    def run(self, lo: int, hi: int) -> tuple[slice, ...]:
        """The slots of the rows lo..hi-1 (oldest first)."""
        return (slice(self.head + lo, self.head + max(lo, hi)),)

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """The slot index of each of the rows lo..hi-1."""
        return np.arange(self.head + lo, self.head + hi)

    def limit(self) -> int:
        """The most slots the buffers ever need."""
        return UNBOUNDED

    def reserve(self, extra: int) -> None:
        """Free slots for `extra` rows after the newest, moving the rows to fresh buffers when the
        buffers end sooner."""
        if self.head + self.size + extra <= self.capacity:
            return
        needed = self.size + extra
        if self.head:
            capacity = needed + room(needed)
        else:
            capacity = self.capacity + (self.capacity if self.capacity < DOUBLING_UP_TO else self.capacity // 2)
        self._reallocate(max(needed, min(self.limit(), capacity)), self.run(0, self.size))

    def unlend(self) -> None:
        """Before live slots change in place: move the rows to fresh buffers if a view was lent."""
        if self.lent:
            self._reallocate(self.capacity, self.run(0, self.size))

    def _reallocate(self, capacity: int, live: Where) -> None:
        """Move the rows at the slots `live` (in order) to fresh buffers of `capacity` slots, and
        set `capacity`, `head`, `size` and `lent` accordingly."""
        raise NotImplementedError


class SlidingArray(SlidingBuffer):
    """One numpy array's values (rows along the first axis) that follow appends and evictions
    without being rebuilt; `view` lends the live rows read-only, and they never change."""

    def __init__(self, values: np.ndarray) -> None:
        count = len(values)
        super().__init__(count + room(count))
        self.array = np.empty((self.capacity, *values.shape[1:]), dtype=values.dtype)
        self.array[:count] = values
        self.size = count

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def __len__(self) -> int:
        return self.size

    def view(self) -> np.ndarray:
        """The live values, read-only."""
        view = self.array[self.head : self.head + self.size]
        view.flags.writeable = False
        self.lent = True
        return view

    def live(self) -> np.ndarray:
        """The live values, writable (`unlend` first if they are to change)."""
        return self.array[self.head : self.head + self.size]

    def advance(self, dropped: int, appended: np.ndarray) -> bool:
        """Drop the `dropped` oldest values and append `appended`; False (nothing changed) when
        `appended` has another dtype (then rebuild)."""
        if appended.dtype != self.array.dtype:
            return False
        dropped = min(dropped, self.size)
        self.head += dropped
        self.size -= dropped
        count = len(appended)
        if count:
            self.reserve(count)
            self.array[self.head + self.size : self.head + self.size + count] = appended
            self.size += count
        return True

    def _reallocate(self, capacity: int, live: Where) -> None:
        count = size_of(live)
        array = np.empty((capacity, *self.array.shape[1:]), dtype=self.array.dtype)
        array[:count] = values_at(self.array, live)
        self.array, self.capacity, self.head, self.size, self.lent = array, capacity, 0, count, False
