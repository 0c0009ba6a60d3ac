"""PendingColumn: one field of a store whose rows were never encoded, read from the records.

A store keeps its newest rows as records until enough of them wait (see store), so a small
window (parameters, prices, hourly history, a device's latest reports) and every window's first
rows are read while no row was ever encoded. Encoding them for a read costs more than the read
(a codec chosen per column, buffers allocated), so such reads come from the records, with the
results `Column` would give: the column's codec would be chosen from exactly these values, as
no value ever reached one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .codecs.numeric import MAX_EXACT_FLOAT_INT
from .slots import Where

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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
