"""Codecs for lists: lists of numbers as rows of a float64 matrix, lists of strings as codes.

Per-gun history (REALTIME-DATA's `outputPowerPerGunAvg`, `gunNo`) is a short list per record;
kept as Python lists it costs ~40 bytes per number and ~50 per string, held by every record of a
week of hourly rows. These codecs keep the same values in ~8 bytes per number and one code per
list, and give back a new list, equal to the one stored, at every read.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import chain, repeat

import numpy as np

from ..slots import Where, put, take
from .base import Codec, Unfit
from .numeric import MAX_EXACT_FLOAT_INT
from .text import DISTINCT_SHARE_FOR_FIXED, ESTIMATED_TABLE_ENTRY_BYTES, DictStrCodec

MAX_LIST_WIDTH = 64  # longer number lists are kept as objects: every slot would pay for the widest


class NumberListCodec(Codec):
    """Lists of ints and floats: one float64 row per slot (as wide as the longest list), its
    length, and which elements were ints (allocated once one is), given back as ints."""

    types = frozenset({list})

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self.values = np.zeros((capacity, 0), dtype=np.float64)
        self.lengths = np.zeros(capacity, dtype=np.int32)
        self.ints: np.ndarray | None = None

    def encode(self, values: list, types: set[type]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        lengths = np.fromiter(map(len, values), dtype=np.int32, count=len(values))
        width = int(lengths.max(initial=0))
        if width > MAX_LIST_WIDTH:
            raise Unfit
        flat = list(chain.from_iterable(values))
        kinds = set(map(type, flat))
        if not kinds <= {int, float}:
            raise Unfit
        numbers = np.array(flat, dtype=np.float64)
        ints = None
        if int in kinds:
            ints = np.fromiter(map(operator.is_, map(type, flat), repeat(int)), dtype=bool, count=len(flat))
            if np.abs(numbers[ints]).max(initial=0.0) >= MAX_EXACT_FLOAT_INT:
                raise Unfit
        self._widen(width)
        rows = np.zeros((len(values), self.values.shape[1]), dtype=np.float64)
        filled = np.arange(rows.shape[1]) < lengths[:, None]
        rows[filled] = numbers
        if ints is not None:
            int_rows = np.zeros(rows.shape, dtype=bool)
            int_rows[filled] = ints
            ints = int_rows
        return rows, lengths, ints

    def put(self, where: Where, payload: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> None:
        rows, lengths, ints = payload
        width = self.values.shape[1]
        if rows.shape[1] < width:  # a wider batch was encoded since
            rows = np.pad(rows, ((0, 0), (0, width - rows.shape[1])))
            ints = None if ints is None else np.pad(ints, ((0, 0), (0, width - ints.shape[1])))
        put(self.values, where, rows)
        put(self.lengths, where, lengths)
        if ints is not None and self.ints is None and ints.any():
            self.ints = np.zeros(self.values.shape, dtype=bool)
        if self.ints is not None:
            put(self.ints, where, False if ints is None else ints)

    def decode(self, where: Where) -> np.ndarray:
        return np.fromiter(self.to_list(where), dtype=object, count=len(take(self.lengths, where)))

    def to_list(self, where: Where) -> list:
        rows = take(self.values, where)
        lengths = take(self.lengths, where)
        ints = None if self.ints is None else take(self.ints, where)
        if ints is not None and ints.any():
            exact = rows.astype(object)
            exact[ints] = rows[ints].astype(np.int64).astype(object)
            rows = exact
        lists = rows.tolist()
        if len(lengths) and (lengths == rows.shape[1]).all():
            return lists
        return [row[:length] for row, length in zip(lists, lengths.tolist(), strict=True)]

    def remap(self, change: Callable[[np.ndarray], np.ndarray]) -> None:
        self.values = change(self.values)
        self.lengths = change(self.lengths)
        if self.ints is not None:
            self.ints = change(self.ints)

    def rows_from(self, other: Codec, source: Where) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        assert isinstance(other, NumberListCodec)
        self._widen(other.values.shape[1])
        ints = None if other.ints is None else take(other.ints, source)
        return take(other.values, source), take(other.lengths, source), ints

    def _widen(self, width: int) -> None:
        extra = width - self.values.shape[1]
        if extra > 0:
            self.values = np.pad(self.values, ((0, 0), (0, extra)))
            if self.ints is not None:
                self.ints = np.pad(self.ints, ((0, 0), (0, extra)))

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.lengths.nbytes + (0 if self.ints is None else self.ints.nbytes)


class TextListCodec(DictStrCodec):
    """Lists of strings as codes into a table of distinct lists (kept as tuples), while lists
    repeat (a station's gun numbers); mostly distinct lists are kept as objects instead."""

    types = frozenset({list})

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        if not set(map(type, chain.from_iterable(values))) <= {str}:
            raise Unfit  # only strings: (1,), (1.0,) and (True,) are one dictionary key
        return super().encode(list(map(tuple, values)), types)

    def decode(self, where: Where) -> np.ndarray:
        return np.fromiter(self.to_list(where), dtype=object, count=len(take(self.values, where)))

    def to_list(self, where: Where) -> list:
        lists = self.table.strings
        return [list(lists[code]) for code in take(self.values, where).tolist()]

    def maintain(self, present: np.ndarray) -> Codec:
        used = np.unique(self.values[present])
        if len(used) * DISTINCT_SHARE_FOR_FIXED > len(present):
            raise Unfit
        return super().maintain(present)

    @property
    def nbytes(self) -> int:
        strings = list(chain.from_iterable(self.table.strings))
        entries = len(self.table.strings) + len(strings)
        return self.values.nbytes + sum(map(len, strings)) + ESTIMATED_TABLE_ENTRY_BYTES * entries
