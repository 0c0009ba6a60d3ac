"""Which column holds which key of a record: one column per key, and an overflow column.

The spec's fields come first (their columns are made at the first write: a window whose rows
are never encoded holds no column), then other keys in the order first seen, up to
MAX_EXTRA_COLUMNS; keys beyond that are kept per record, as a dict, in one overflow column
(so a feed with ever-new keys cannot make a column per key). Batches whose records all
have the same known keys are split into columns with one C-level pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from .columns import ABSENT, Column
from .slots import Where

MAX_EXTRA_COLUMNS = 64
OVERFLOW = object()  # name of the overflow column


class Layout:
    """The columns of one store, by key."""

    def __init__(self, fields: Sequence[str] = (), capacity: int = 0) -> None:
        self.fields = tuple(fields)
        self.columns: dict[Any, Column] = {}
        self.overflow: Column | None = None
        self._shape: tuple | None = None  # the keys of the last batch that had one set of known keys
        self._getter: Any = None

    def __iter__(self) -> Iterator[Column]:
        """Every column, the overflow column included."""
        yield from self.columns.values()
        if self.overflow is not None:
            yield self.overflow

    def trimmed(self, live: Where, narrowed: int | None = None) -> Layout:
        """A copy whose columns hold only the slots `live` (see Column.trimmed)."""
        copy = Layout(self.fields, 0)
        copy.columns = {name: column.trimmed(live, narrowed) for name, column in self.columns.items()}
        copy.overflow = None if self.overflow is None else self.overflow.trimmed(live, narrowed)
        copy._shape, copy._getter = self._shape, self._getter
        return copy

    def matched(self, other: Layout, capacity: int, has_rows: bool) -> list[tuple[Column, Column]]:
        """(this layout's column, `other`'s) for each of `other`'s columns, adding the columns this
        one lacks (their slots so far marked absent when `has_rows`), in `other`'s order."""
        if not self.columns:
            self._add_columns(self.fields, capacity, has_rows)
        self._add_columns(other.columns, capacity, has_rows)
        pairs = [(self.columns[name], column) for name, column in other.columns.items() if name in self.columns]
        if other.overflow is not None:
            if self.overflow is None:
                self.overflow = Column(capacity, absent=has_rows)
            pairs.append((self.overflow, other.overflow))
        if other._shape is not None:
            self._shape, self._getter = other._shape, other._getter
        return pairs

    def knows(self, name: Any) -> bool:
        """Whether `name` has a column, or will have one at the first write (a spec field)."""
        return name in self.columns or name in self.fields

    def named(self) -> Iterator[tuple[Any, Column]]:
        """(key, column) pairs, the overflow column named OVERFLOW."""
        yield from self.columns.items()
        if self.overflow is not None:
            yield OVERFLOW, self.overflow

    def split(self, records: list[dict], capacity: int, has_rows: bool) -> dict[Any, Sequence]:
        """Each key's values over `records` (ABSENT where a record lacks it); adds columns for new keys.

        `capacity` and `has_rows` shape a new column: its slots so far are marked absent.
        """
        if not self.columns:
            self._add_columns(self.fields, capacity, has_rows)
        shape = tuple(records[0])
        if shape != self._shape:
            self._add_columns(shape, capacity, has_rows)
            if all(key in self.columns for key in shape):
                self._shape, self._getter = shape, itemgetter(*shape) if shape else None
        if shape and shape == self._shape and set(map(len, records)) == {len(shape)}:
            try:
                rows = list(map(self._getter, records))
            except KeyError:
                pass
            else:
                if len(shape) == 1:
                    return {shape[0]: rows}
                return dict(zip(shape, zip(*rows, strict=True), strict=True))
        return self._split_varied(records, capacity, has_rows)

    def _add_columns(self, keys: Iterable[Any], capacity: int, has_rows: bool) -> bool:
        """Columns for the new `keys` while there is room; False when some must overflow."""
        fits = True
        for key in keys:
            if key in self.columns:
                continue
            if len(self.columns) - len(self.fields) < MAX_EXTRA_COLUMNS:
                self.columns[key] = Column(capacity, absent=has_rows)
            else:
                fits = False
        return fits

    def _split_varied(self, records: list[dict], capacity: int, has_rows: bool) -> dict[Any, Sequence]:
        overflowing = not self._add_columns(dict.fromkeys(chain.from_iterable(records)), capacity, has_rows)
        values: dict[Any, Sequence] = {name: [record.get(name, ABSENT) for record in records] for name in self.columns}
        if overflowing:
            if self.overflow is None:
                self.overflow = Column(capacity, absent=has_rows)
            values[OVERFLOW] = [
                {k: v for k, v in record.items() if k not in self.columns} or ABSENT for record in records
            ]
        return values
