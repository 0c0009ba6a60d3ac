"""GrowingArray: a window's numpy values that follow appends without being rebuilt.

A numpy input is handed out as a read-only view of a buffer with room at its end. New values are
written after the last view's end and the oldest are dropped by moving the view's start, so no view
already given out ever changes; when the room runs out, the live values move to a new buffer (the
old one stays with the views that use it). Each append is O(new values), amortized.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GrowingArray", "GrowingTable", "Unfit"]

SLACK = 0.125  # room kept beyond the live values, as a share of them
MIN_ROOM = 64


class GrowingArray:
    """The live values `buffer[start:end]` of one numpy window input."""

    def __init__(self, values: np.ndarray) -> None:
        self.buffer = np.empty((0, *values.shape[1:]), dtype=values.dtype)
        self.start = self.end = 0
        self._move(values, len(values))

    def view(self) -> np.ndarray:
        """The live values, read-only."""
        view = self.buffer[self.start : self.end]
        view.flags.writeable = False
        return view

    def advance(self, dropped: int, appended: np.ndarray, *, move: bool = False) -> bool:
        """Drop the `dropped` oldest values and append `appended` (`move`: to a new buffer whatever
        the room); False (nothing changed) when `appended` has another dtype (then rebuild)."""
        if appended.dtype != self.buffer.dtype:
            return False
        live = self.buffer[min(self.start + dropped, self.end) : self.end]
        if move or self.end + len(appended) > len(self.buffer):
            self._move(live, len(live) + len(appended))
        else:
            self.start = self.end - len(live)
        self.buffer[self.end : self.end + len(appended)] = appended
        self.end += len(appended)
        return True

    def _move(self, live: np.ndarray, needed: int) -> None:
        rows = needed + max(MIN_ROOM, int(needed * SLACK))
        buffer = np.empty((rows, *self.buffer.shape[1:]), dtype=self.buffer.dtype)
        buffer[: len(live)] = live
        self.buffer, self.start, self.end = buffer, 0, len(live)


class Unfit(ValueError):
    """A value the table's dtype cannot hold as `Window.pivot` would give it: rebuild instead."""


class GrowingTable:
    """A numpy table (one row per time slot) edited the way AlignedTable edits a list of rows: rows
    dropped at the front, appended, or replaced. A view handed out never changes: replacing a row
    after a view was given moves the table to a new buffer first (a copy, far cheaper than a pivot)."""

    def __init__(self, table: np.ndarray) -> None:
        self.array = GrowingArray(table)
        self.numbers = table.dtype == np.float64
        self.width = table.shape[1]
        self._shared = False

    def __len__(self) -> int:
        return self.array.end - self.array.start

    def __getitem__(self, index: int) -> list:
        return self.array.buffer[self.array.start : self.array.end][index].tolist()

    def __delitem__(self, rows: slice) -> None:
        if rows.start is not None or rows.step is not None:
            raise IndexError("a table only drops rows at its front")
        self.array.advance(rows.stop, self.array.buffer[:0])

    def __setitem__(self, index: int, row: list) -> None:
        values = self._row(row)
        if self._shared:
            self.array.advance(0, self.array.buffer[:0], move=True)
            self._shared = False
        self.array.buffer[self.array.start : self.array.end][index] = values

    def append(self, row: list) -> None:
        self.array.advance(0, self._row(row)[np.newaxis])

    def view(self) -> np.ndarray:
        self._shared = True
        return self.array.view()

    def _row(self, row: list) -> np.ndarray:
        if len(row) != self.width:
            raise Unfit(f"a row of {len(row)} cells for {self.width} columns")
        if not self.numbers:
            values = np.empty(self.width, dtype=object)
            for index, value in enumerate(row):
                values[index] = value
            return values
        if not all(value is None or _plain_number(value) for value in row):
            raise Unfit("a value that is not a number in a numeric table")
        return np.array([np.nan if value is None else value for value in row], dtype=np.float64)


def _plain_number(value: object) -> bool:
    """A value a numeric column stores as a number (bools and ints beyond 2**53 make it objects)."""
    return type(value) is float or (type(value) is int and abs(value) < 2**53)
