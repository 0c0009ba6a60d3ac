"""Pending: records a window accepted but has not written to its columns yet, in two steps.

Writing costs about the same for one record as for dozens, and a service adds a few records per
station per poll, so records wait where waiting is cheap and are written together:

1. A window's pending records (`Window.add_pending`) are queued as they came, unsorted; they are
   stored at the next read of the window (`Window.store_pending`), or once PENDING_RECORDS_LIMIT
   of them wait. Storing sorts them by time, drops duplicates, evicts and places late records.
2. The store's pending rows: stored rows (their times in place) whose values still wait as
   records, up to PENDING_ROWS; then all but the newest KEPT_ROWS are encoded into the columns in
   one write. Reads of the newest rows (the latest record, the last second of car orders, what
   was appended since a mark) come straight from these records, and so do column reads while no
   row was ever encoded (PendingColumn: small windows rarely get that far).

With a PendingEncoder, a store leaves that encoding to its owner's idle moments (a service's
event loop with nothing to serve), except for a write of PENDING_ROWS rows or more, which gains
nothing from waiting; a store whose owner is never idle still encodes at DEFERRED_PENDING_ROWS.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

from .codecs.numeric import MAX_EXACT_FLOAT_INT
from .slots import Where

__all__ = [
    "DEFERRED_PENDING_ROWS",
    "KEPT_ROWS",
    "PENDING_RECORDS_LIMIT",
    "PENDING_ROWS",
    "PendingColumn",
    "PendingEncoder",
    "fields_of",
]

PENDING_RECORDS_LIMIT = 1024  # a window's pending records are stored once this many wait
PENDING_ROWS = 80  # a store's newest rows wait as records until this many, then are encoded in one write...
KEPT_ROWS = 16  # ...except the newest this many, which readers of the newest rows still find as records
DEFERRED_PENDING_ROWS = 4 * PENDING_ROWS  # with a PendingEncoder: encoded by the store itself from this many
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class HasPendingRows(Protocol):
    def encode_pending(self) -> None: ...


class PendingColumn:
    """The reads of `Column` over records; record i of `records` sits at slot `first + i`."""

    __slots__ = ("name", "records", "first")

    def __init__(self, name: Any, records: list[dict], first: int) -> None:
        self.name = name
        self.records = records
        self.first = first

    def to_list(self, where: Where) -> list:
        """The values at `where`, None where there is no value."""
        name = self.name
        return [record.get(name) for record in self._records_at(where)]

    def exact(self, where: Where) -> np.ndarray:
        """The values at `where` (object array), None where there is no value."""
        values = self.to_list(where)
        return np.fromiter(values, dtype=object, count=len(values))

    def numbers(self, where: Where) -> np.ndarray | None:
        """float64 with NaN for no value, when the values would be kept as numbers; else None."""
        if not self._numeric():
            return None
        return np.array([np.nan if value is None else value for value in self.to_list(where)], dtype=np.float64)

    def _numeric(self) -> bool:
        """Whether `Column` would hold these values in a numeric codec: ints (within int64), or
        floats and ints (the ints below 2**53), and nothing else."""
        name = self.name
        values = [value for record in self.records if (value := record.get(name)) is not None]
        types = set(map(type, values))
        if not types or not types <= {int, float}:
            return False
        ints = [value for value in values if type(value) is int]
        if not ints:
            return True
        if float in types:
            return max(map(abs, ints)) < MAX_EXACT_FLOAT_INT
        return min(ints) >= INT64_MIN and max(ints) <= INT64_MAX

    def _records_at(self, where: Where) -> list[dict]:
        records, first = self.records, self.first
        if isinstance(where, tuple):
            return [record for run in where for record in records[run.start - first : run.stop - first]]
        return [records[slot - first] for slot in where.tolist()]


class PendingEncoder:
    """The stores whose waiting rows are due to be encoded, for their owner to encode when idle.

    Encoding a store's waiting rows costs about as much as building a few module inputs, and a
    store reaches PENDING_ROWS in the middle of serving stations. A service hands that work to
    the moments it has nothing to serve (`encode_one` per turn of its event loop); a store whose
    owner is never idle still encodes its rows itself at DEFERRED_PENDING_ROWS, so memory stays
    bounded. Not thread-safe: its owner serialises access, as for the stores.
    """

    def __init__(self) -> None:
        self._due: dict[int, HasPendingRows] = {}  # by id, in the order they became due

    def __len__(self) -> int:
        return len(self._due)

    def due(self, store: HasPendingRows) -> None:
        """Note that `store` has rows to encode (again: it keeps its place)."""
        self._due.setdefault(id(store), store)

    def encode_one(self) -> bool:
        """Encode the waiting rows of the store due longest; False when none was due."""
        if not self._due:
            return False
        store = self._due.pop(next(iter(self._due)))
        store.encode_pending()
        return True


def fields_of(records: list[dict], names: Sequence[Any]) -> dict[Any, list]:
    """Each name's values over `records` (None where a record lacks it); records that all hold
    every name are transposed in one pass."""
    if records and names:
        try:
            rows = list(map(itemgetter(*names), records))
        except KeyError:
            pass
        else:
            if len(names) == 1:
                return {names[0]: rows}
            return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
    return {name: [record.get(name) for record in records] for name in names}
