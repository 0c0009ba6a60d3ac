"""GrowingTable: a numpy table of a module input (one row per time slot) that follows the
window's appends, evictions and row replacements without being rebuilt."""

from __future__ import annotations

import numpy as np

from ..windows.codecs import Unfit
from ..windows.sliding import SlidingArray

__all__ = ["GrowingTable"]


class GrowingTable:
    """A numpy table edited the way AlignedTable edits a list of rows: rows dropped at the front,
    appended, or replaced. A view handed out never changes: replacing a row after a view was
    lent moves the table to a new buffer first (a copy, far cheaper than a pivot). A row the
    table's dtype cannot hold as `Window.pivot` would give it raises Unfit: rebuild instead."""

    def __init__(self, table: np.ndarray) -> None:
        self.array = SlidingArray(table)
        self.numbers = table.dtype == np.float64
        self.width = table.shape[1]

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int) -> list:
        return self.array.live()[index].tolist()

    def __delitem__(self, rows: slice) -> None:
        if rows.start is not None or rows.step is not None:
            raise IndexError("a table only drops rows at its front")
        self.array.advance(rows.stop, self.array.array[:0])

    def __setitem__(self, index: int, row: list) -> None:
        values = self._row(row)
        self.array.unlend()
        self.array.live()[index] = values

    def append(self, row: list) -> None:
        self.array.advance(0, self._row(row)[np.newaxis])

    def view(self) -> np.ndarray:
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
