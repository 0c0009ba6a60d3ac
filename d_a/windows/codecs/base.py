"""The codec interface, the array-backed base, and the two codecs without a type family
(empty: nothing seen yet; object: anything, by reference)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..slots import Where, put, size_of, take


class Unfit(ValueError):
    """Values a buffer's type cannot hold losslessly: its owner moves them to one that can (a
    column to another codec), or rebuilds what it derived (a module input's table)."""


class Codec:
    """Base: a buffer of `capacity` slots holding values of the types in `types`."""

    types: ClassVar[frozenset[type]] = frozenset()
    numeric: ClassVar[bool] = False
    maintenance_due: bool = False  # whether `maintain` should run before the next encode

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity

    def holds(self, types: set[type]) -> bool:
        """Whether values of these types belong to this codec's family."""
        return types <= self.types

    def encode(self, values: list, types: set[type]) -> Any:
        """The payload `put` writes for `values` (all non-None, of `types`); may widen the buffer."""
        raise Unfit

    def put(self, where: Where, payload: Any) -> None:
        """Write an `encode` payload to the slots `where`."""

    def decode(self, where: Where) -> np.ndarray:
        """The exact Python values at `where` (object array)."""
        return np.full(size_of(where), None, dtype=object)

    def to_list(self, where: Where) -> list:
        """The exact Python values at `where` as a list."""
        return self.decode(where).tolist()

    def numbers(self, where: Where) -> np.ndarray | None:
        """The values at `where` as float64, or None when the codec is not numeric."""
        return None

    def view(self, where: slice) -> np.ndarray | None:
        """`numbers(where)` as a view of the codec's buffer, or None when it has no such buffer."""
        return None

    def remap(self, change: Callable[[np.ndarray], np.ndarray]) -> None:
        """Apply `change` to every per-slot buffer (move slots, reallocate)."""

    def maintain(self, present: np.ndarray) -> Codec:
        """Housekeeping before an encode, given the slots holding values; returns the codec to use."""
        return self

    def narrowed(self, present: np.ndarray) -> Codec:
        """This codec keeping, besides its slots, only what the slots `present` need."""
        return self

    def rows_from(self, other: Codec, source: Where) -> Any:
        """The `put` payload of `other`'s values at `source` (a codec of this one's class), widening
        this buffer as needed; None when they must be decoded and encoded instead."""
        return None

    def copy(self) -> Codec:
        """A copy whose per-slot buffers `remap` can replace without touching this codec's."""
        return copy.copy(self)

    @property
    def nbytes(self) -> int:
        return 0


class EmptyCodec(Codec):
    """No value seen yet: nothing stored."""


class ArrayCodec(Codec):
    """A codec backed by one numpy buffer of a fixed dtype."""

    dtype: ClassVar[Any] = object

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self.values = np.zeros(capacity, dtype=self.dtype)

    def put(self, where: Where, payload: Any) -> None:
        put(self.values, where, payload)

    def decode(self, where: Where) -> np.ndarray:
        return take(self.values, where).astype(object)

    def to_list(self, where: Where) -> list:
        return take(self.values, where).tolist()

    def remap(self, change: Callable[[np.ndarray], np.ndarray]) -> None:
        self.values = change(self.values)

    def rows_from(self, other: Codec, source: Where) -> Any:
        assert isinstance(other, ArrayCodec)
        dtype = np.promote_types(self.values.dtype, other.values.dtype)
        if dtype != self.values.dtype:
            self.values = self.values.astype(dtype)
        return take(other.values, source)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes


class ObjectCodec(ArrayCodec):
    """Any value, by reference: lists, dicts, and columns whose values mix incompatible types."""

    dtype = object

    def holds(self, types: set[type]) -> bool:
        return True

    def encode(self, values: list, types: set[type]) -> np.ndarray:
        return np.fromiter(values, dtype=object, count=len(values))

    def decode(self, where: Where) -> np.ndarray:
        return take(self.values, where)


def convert(codec: Codec, target: type[Codec], present: np.ndarray) -> Codec:
    """A `target` codec holding the values `codec` holds at the slots `present` (may raise Unfit)."""
    new = target(codec.capacity)
    if len(present):
        values = codec.decode(present).tolist()
        new.put(present, new.encode(values, set(map(type, values))))
    return new


def widened(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`values` as `dtype` if that is wider than its current (integer) dtype, else unchanged."""
    return values.astype(dtype) if dtype.itemsize > values.itemsize else values
