"""Codecs for numbers and bools: narrowest-int, float64 (ints among them kept as ints), bool."""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import repeat

import numpy as np

from ..slots import Where, put, take
from .base import ArrayCodec, Codec, Unfit, widened

MAX_EXACT_FLOAT_INT = 2**53  # ints from here on may not survive a float64 (2**53 + 1 rounds to 2**53)
INT_RANGES = tuple(
    (np.dtype(t), int(np.iinfo(t).min), int(np.iinfo(t).max)) for t in (np.int8, np.int16, np.int32, np.int64)
)
SMALL_BATCH = 32  # up to this many values, Python's min/max beat numpy's call overhead


class IntCodec(ArrayCodec):
    """Python ints in the narrowest of int8..int64 that holds every value seen."""

    types = frozenset({int})
    numeric = True
    dtype = np.int8

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError as exc:
            raise Unfit from exc
        small = len(values) <= SMALL_BATCH
        low, high = (min(values), max(values)) if small else (int(array.min()), int(array.max()))
        self.values = widened(self.values, _int_dtype(low, high))
        return array

    def numbers(self, where: Where) -> np.ndarray:
        return take(self.values, where).astype(np.float64)


class FloatCodec(ArrayCodec):
    """Floats (float64), and ints below 2**53 among them, which are given back as ints."""

    types = frozenset({int, float})
    numeric = True
    dtype = np.float64

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self.ints: np.ndarray | None = None  # which slots hold an int; allocated once one does

    def encode(self, values: list, types: set[type]) -> tuple[np.ndarray, np.ndarray | None]:
        array = np.array(values, dtype=np.float64)
        if int not in types:
            return array, None
        ints = np.fromiter(map(operator.is_, map(type, values), repeat(int)), dtype=bool, count=len(values))
        if np.abs(array[ints]).max(initial=0.0) >= MAX_EXACT_FLOAT_INT:
            raise Unfit
        return array, ints

    def put(self, where: Where, payload: tuple[np.ndarray, np.ndarray | None]) -> None:
        array, ints = payload
        put(self.values, where, array)
        if ints is not None and self.ints is None and ints.any():
            self.ints = np.zeros(self.capacity, dtype=bool)
        if self.ints is not None:
            put(self.ints, where, False if ints is None else ints)

    def decode(self, where: Where) -> np.ndarray:
        floats = take(self.values, where)
        exact = floats.astype(object)
        if self.ints is not None:
            ints = take(self.ints, where)
            if ints.any():
                exact[ints] = floats[ints].astype(np.int64).astype(object)
        return exact

    def to_list(self, where: Where) -> list:
        if self.ints is not None and take(self.ints, where).any():
            return self.decode(where).tolist()
        return take(self.values, where).tolist()

    def numbers(self, where: Where) -> np.ndarray:
        return take(self.values, where)

    def view(self, where: slice) -> np.ndarray:
        return self.values[where]

    def remap(self, change: Callable[[np.ndarray], np.ndarray]) -> None:
        super().remap(change)
        if self.ints is not None:
            self.ints = change(self.ints)

    def rows_from(self, other: Codec, source: Where) -> tuple[np.ndarray, np.ndarray | None]:
        assert isinstance(other, FloatCodec)
        return take(other.values, source), None if other.ints is None else take(other.ints, source)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + (0 if self.ints is None else self.ints.nbytes)


class BoolCodec(ArrayCodec):
    """Bools; categorical, not numeric (they are not interpolated or zero-filled)."""

    types = frozenset({bool})
    dtype = np.bool_

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        return np.array(values, dtype=bool)


def _int_dtype(low: int, high: int) -> np.dtype:
    """The narrowest integer dtype holding low..high."""
    for dtype, least, most in INT_RANGES:
        if least <= low and high <= most:
            return dtype
    return INT_RANGES[-1][0]
