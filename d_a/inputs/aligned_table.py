"""AlignedTable: keeps a keyed topic's tables (one row per time slot, one column per key, e.g. gun
status per 15-second slot) up to date as records are appended and the oldest evicted.

Re-pivoting a 7-day DEVICE-GUN window costs milliseconds, and every gun report changes it; the
table changes only at its ends, so only the rows there are touched. The result equals
`Window.pivot` without padding (a slot's cell is the value of its newest record of that key, None
when it has none). A new key, or a key whose last record leaves the window, changes the columns:
then the caller rebuilds.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from itertools import islice
from typing import Any

import numpy as np

from ..windows import Window

__all__ = ["AlignedTable"]


class AlignedTable:
    """What extending the tables of one window needs: each record's key, each row's slot and size."""

    def __init__(self, key: str, fields: list[str], interval: float | None, order: list[Hashable]) -> None:
        self.key = key
        self.fields = fields
        self.interval = interval
        self.position = {k: i for i, k in enumerate(order)}
        self.keys: deque[Any] = deque()  # the key of every record in the window, oldest first
        self.key_counts: Counter[Any] = Counter()
        self.slots: list[float] = []  # the time slot of each table row
        self.counts: list[int] = []  # how many records each row is made of

    @classmethod
    def of(
        cls, window: Window, key: str, fields: list[str], interval: float | None, order: list
    ) -> AlignedTable | None:
        """The state behind tables just built from `window` (None for list-valued keys, which are
        aligned per record, not per slot)."""
        keys = window.tail_columns([key], len(window))[key]
        if any(isinstance(k, list) for k in keys):
            return None
        table = cls(key, fields, interval, order)
        table.keys.extend(keys)
        table.key_counts.update(k for k in keys if k is not None)
        slots, counts = np.unique(table._slots_of(window.times()), return_counts=True)
        table.slots, table.counts = slots.tolist(), counts.tolist()
        return table

    def extend(self, window: Window, evicted: int, fresh: int, tables: list[Any]) -> bool:
        """Apply `evicted` records gone from the front and the newest `fresh` records to `tables` (one
        per field, lists of rows or GrowingTables; rows are replaced, never edited); False when the
        columns change."""
        tail = window.tail_columns([self.key, *self.fields], fresh)
        new_keys = tail[self.key]
        if any(k is not None and k not in self.position for k in new_keys):
            return False
        if evicted:
            gone = Counter(k for k in islice(self.keys, evicted) if k is not None)
            arriving = Counter(k for k in new_keys if k is not None)
            if any(self.key_counts[k] - n + arriving[k] <= 0 for k, n in gone.items()):
                return False
            for _ in range(evicted):
                self.keys.popleft()
            self.key_counts.subtract(gone)
        key_counts = self.key_counts
        for k in new_keys:
            if k is not None:
                key_counts[k] += 1
        self.keys.extend(new_keys)
        self._drop_front(window, evicted, tables)
        self._append(window.tail_times(fresh), tail, tables)
        return True

    def _slots_of(self, times: np.ndarray) -> np.ndarray:
        return np.rint(times / self.interval) if self.interval else times

    def _drop_front(self, window: Window, evicted: int, tables: list[Any]) -> None:
        whole = 0
        while evicted and whole < len(self.counts) and self.counts[whole] <= evicted:
            evicted -= self.counts[whole]
            whole += 1
        del self.slots[:whole], self.counts[:whole]
        for rows in tables:
            del rows[:whole]
        if evicted:  # the oldest slot lost some of its records: rebuild its row from those left
            self.counts[0] -= evicted
            records = window.oldest(self.counts[0])
            for name, rows in zip(self.fields, tables, strict=True):
                rows[0] = self._row(records, name)

    def _append(self, times: np.ndarray, tail: dict[str, list], tables: list[Any]) -> None:
        slots = self._slots_of(times).tolist()
        width = len(self.position)
        for index, (slot, key) in enumerate(zip(slots, tail[self.key], strict=True)):
            if self.slots and slot == self.slots[-1]:
                self.counts[-1] += 1
                for name, rows in zip(self.fields, tables, strict=True):
                    if key is not None:
                        row = list(rows[-1])
                        row[self.position[key]] = tail[name][index]
                        rows[-1] = row
                continue
            self.slots.append(slot)
            self.counts.append(1)
            for name, rows in zip(self.fields, tables, strict=True):
                row = [None] * width
                if key is not None:
                    row[self.position[key]] = tail[name][index]
                rows.append(row)

    def _row(self, records: list[dict], name: str) -> list[Any]:
        row: list[Any] = [None] * len(self.position)
        for record in records:
            key = record.get(self.key)
            if key is not None:
                row[self.position[key]] = record.get(name)
        return row
