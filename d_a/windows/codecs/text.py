"""Codecs for strings: dictionary codes while values repeat, fixed-width bytes once most are distinct."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..slots import Where, take
from .base import ArrayCodec, Codec, Unfit, convert, widened

CODE_DTYPES = tuple((np.dtype(t), int(np.iinfo(t).max) + 1) for t in (np.uint8, np.uint16, np.int32))
DICTIONARY_CHECK_AT = 256  # table size at which unused strings are first compacted away
DISTINCT_SHARE_FOR_FIXED = 16  # more than 1 distinct value in this many: store fixed-width instead
MAX_FIXED_WIDTH_BYTES = 64  # longer (or wide-unicode) distinct strings are kept as objects
ESTIMATED_TABLE_ENTRY_BYTES = 100  # a str object plus its dict and list slots, for `nbytes`


class _CodeTable(dict):
    """String (or tuple of strings) -> code, assigning the next code to one seen for the first time."""

    def __init__(self, strings: list[Any] | None = None) -> None:
        """A table of `strings`, which are distinct (a table's own, or part of them)."""
        strings = list(strings or ())
        super().__init__(zip(strings, range(len(strings)), strict=True))
        self.strings: list[Any] = strings

    def __missing__(self, string: Any) -> int:
        code = len(self.strings)
        self[string] = code
        self.strings.append(string)
        return code


class DictStrCodec(ArrayCodec):
    """Strings as codes (uint8..int32) into a table of distinct strings.

    The table only grows, so when it passes a limit the codes still in use are compacted; a
    column whose values are mostly distinct switches to fixed-width storage instead.
    """

    types = frozenset({str})
    dtype = np.uint8

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self.table = _CodeTable()
        self.limit = DICTIONARY_CHECK_AT
        self._lookup: np.ndarray | None = None  # the table as an object array, for vectorised decoding

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        codes = np.fromiter(map(self.table.__getitem__, values), dtype=np.int64, count=len(values))
        self.values = widened(self.values, _code_dtype(len(self.table.strings)))
        self.maintenance_due = len(self.table.strings) > self.limit
        return codes

    def decode(self, where: Where) -> np.ndarray:
        if self._lookup is None or len(self._lookup) != len(self.table.strings):
            self._lookup = np.empty(len(self.table.strings), dtype=object)
            self._lookup[:] = self.table.strings
        return self._lookup[take(self.values, where)]

    def to_list(self, where: Where) -> list:
        return self.decode(where).tolist()

    def copy(self) -> DictStrCodec:
        copy = super().copy()
        assert isinstance(copy, DictStrCodec)
        copy.table = _CodeTable(self.table.strings)  # the table grows in place: the copy gets its own
        copy._lookup = None
        return copy

    def narrowed(self, present: np.ndarray) -> Codec:
        used, compact = _used_codes(self.values[present], len(self.table.strings))
        self.table = _CodeTable([self.table.strings[code] for code in used.tolist()])
        self.values[present] = compact
        self._lookup = None
        return self

    def rows_from(self, other: Codec, source: Where) -> np.ndarray:
        assert isinstance(other, DictStrCodec)
        strings = other.table.strings
        codes = np.fromiter(map(self.table.__getitem__, strings), dtype=np.int64, count=len(strings))
        self.values = widened(self.values, _code_dtype(len(self.table.strings)))
        self.maintenance_due = len(self.table.strings) > self.limit
        return codes[take(other.values, source)]

    def maintain(self, present: np.ndarray) -> Codec:
        used, compact = _used_codes(self.values[present], len(self.table.strings))
        if len(used) * DISTINCT_SHARE_FOR_FIXED > len(present):
            return convert(self, FixedStrCodec, present)
        self.table = _CodeTable([self.table.strings[code] for code in used.tolist()])
        self.values[present] = compact
        self.limit = max(DICTIONARY_CHECK_AT, 2 * len(used))
        self.maintenance_due = False
        self._lookup = None
        return self

    @property
    def nbytes(self) -> int:
        strings = self.table.strings
        return self.values.nbytes + sum(map(len, strings)) + ESTIMATED_TABLE_ENTRY_BYTES * len(strings)


class FixedStrCodec(ArrayCodec):
    """Mostly-distinct strings as fixed-width ASCII bytes (UCS-4 once one is not ASCII), widened as needed."""

    types = frozenset({str})
    dtype = "S1"

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        joined = "".join(values)
        if "\x00" in joined:  # numpy strips trailing NULs
            raise Unfit
        width = max(1, max(map(len, values)))
        array = np.array(values, dtype=f"S{width}" if joined.isascii() else f"U{width}")
        wide = np.promote_types(self.values.dtype, array.dtype)
        if wide.itemsize > MAX_FIXED_WIDTH_BYTES:
            raise Unfit
        if wide != self.values.dtype:
            self.values = self.values.astype(wide)
        return array

    def decode(self, where: Where) -> np.ndarray:
        return take(self.values, where).astype(str).astype(object)

    def to_list(self, where: Where) -> list:
        return take(self.values, where).astype(str).tolist()


def _code_dtype(count: int) -> np.dtype:
    """The narrowest code dtype for a table of `count` strings."""
    for dtype, limit in CODE_DTYPES:
        if count <= limit:
            return dtype
    return np.dtype(np.int64)


def _used_codes(codes: np.ndarray, table_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes in use, ascending, and `codes` renumbered into them (np.unique's answer, counted
    rather than sorted: codes are below `table_size`)."""
    used = np.flatnonzero(np.bincount(codes, minlength=table_size))
    renumber = np.zeros(table_size, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return used, renumber[codes]
