"""One field of a window: its values in a compact codec, plus which slots hold None or no key.

A column starts empty and picks the most compact codec for the values it meets; a value
its codec cannot hold losslessly (a float among ints, a string among numbers, an int beyond
int64) moves the whole column to a codec that can, so nothing is ever coerced. None and
"the record had no such key" are kept apart in a tag array that only exists once needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress, repeat
from typing import Any

import numpy as np

from .codecs import Codec, EmptyCodec, ObjectCodec, Unfit, codecs_for, convert
from .slots import Where, as_indices, put, size_of, take, values_at

VALUE, NONE, ABSENT_TAG = 0, 1, 2


class _Absent:
    """Marker for a key the record did not have (distinct from a None value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"  # one marker: a saved window's ABSENT is this module's


ABSENT = _Absent()
_TAG_OF_TYPE = {type(None): NONE, _Absent: ABSENT_TAG}
_NO_VALUE_TYPES = frozenset(_TAG_OF_TYPE)


@dataclass(slots=True)
class Encoded:
    """A batch of one column's values, encoded and ready to be written to some slots."""

    tags: np.ndarray | int | None  # per-value tags (or one tag for all), None when every value is present
    present: np.ndarray | None  # which values the payload holds, None for all
    payload: Any  # the codec's encoding of the present values, None when there are none


class Column:
    """A field's values in `capacity` slots; the store decides which slots are live."""

    def __init__(self, capacity: int = 0, absent: bool = False) -> None:
        self.capacity = capacity
        self.codec: Codec = EmptyCodec(capacity)
        self.tags: np.ndarray | None = np.full(capacity, ABSENT_TAG, dtype=np.int8) if absent else None

    @property
    def nbytes(self) -> int:
        return self.codec.nbytes + (0 if self.tags is None else self.tags.nbytes)

    def encode(self, values: Sequence, live: Callable[[], np.ndarray]) -> Encoded:
        """Encode a batch; `live()` gives the live slots, needed if the codec must change."""
        types = set(map(type, values))
        tags = present = None
        if not types.isdisjoint(_NO_VALUE_TYPES):
            tags = np.fromiter(map(_TAG_OF_TYPE.get, map(type, values), repeat(VALUE)), np.int8, len(values))
            present = tags == VALUE
            values = list(compress(values, present))
            types -= _NO_VALUE_TYPES
            if not values:
                return Encoded(tags, present, None)
        if self.codec.maintenance_due:
            self._switch(lambda: self.codec.maintain(self._present(live())), live)
        return Encoded(tags, present, self._encode_values(list(values), types, live))

    def absent(self, count: int) -> Encoded:
        """A batch of `count` records none of which has this key."""
        return Encoded(ABSENT_TAG, None, None)

    def put(self, where: Where, encoded: Encoded) -> None:
        """Write an encoded batch to the slots `where` (one slot per value, in order)."""
        if encoded.tags is None:
            if self.tags is not None:
                put(self.tags, where, VALUE)
            self.codec.put(where, encoded.payload)
            return
        if self.tags is None:
            self.tags = np.zeros(self.capacity, dtype=np.int8)
        put(self.tags, where, encoded.tags)
        if encoded.payload is not None:
            self.codec.put(as_indices(where)[encoded.present], encoded.payload)

    def put_rows_of(self, other: Column, source: Where, where: Where, live: Callable[[], np.ndarray]) -> None:
        """Write `other`'s values at the slots `source` to the slots `where` (as many, in order):
        raw when both codecs are of one class, else decoded and encoded; `live()` as in `encode`."""
        tags = None if other.tags is None else take(other.tags, source)
        present = None if tags is None else tags == VALUE
        if isinstance(other.codec, EmptyCodec) or (present is not None and not present.any()):
            self.put(where, Encoded(ABSENT_TAG if tags is None else tags, present, None))
            return
        held = source if present is None else as_indices(source)[present]
        if isinstance(self.codec, EmptyCodec):
            self.codec = type(other.codec)(self.capacity)
        payload = self.codec.rows_from(other.codec, held) if type(self.codec) is type(other.codec) else None
        if payload is None:
            values = other.codec.decode(held).tolist()
            payload = self._encode_values(values, set(map(type, values)), live)
        self.put(where, Encoded(tags, present, payload))

    def move(self, source: np.ndarray, target: np.ndarray) -> None:
        """Copy the slots `source` to the slots `target` (reads all before writing any)."""

        def moved(array: np.ndarray) -> np.ndarray:
            array[target] = array[source]
            return array

        self._remap(moved)

    def reallocate(self, capacity: int, live: Where) -> None:
        """Move to buffers of `capacity` slots holding the slots `live` at 0..len(live)-1."""
        count = size_of(live)

        def reallocated(array: np.ndarray) -> np.ndarray:
            new = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            new[:count] = values_at(array, live)
            return new

        self._remap(reallocated)
        self.capacity = self.codec.capacity = capacity

    def exact(self, where: Where, absent: Any = None) -> np.ndarray:
        """The values at `where` as they were added (object array); `absent` where the key was missing."""
        tags = None if self.tags is None else take(self.tags, where)
        if tags is None or not tags.any():
            return self.codec.decode(where)
        out = np.full(len(tags), None, dtype=object)
        present = tags == VALUE
        if present.any():
            out[present] = self.codec.decode(as_indices(where)[present])
        if absent is not None:
            out[tags == ABSENT_TAG] = absent
        return out

    def to_list(self, where: Where) -> list:
        """The values at `where` as a list, None where there is no value."""
        if self.tags is None or not take(self.tags, where).any():
            return self.codec.to_list(where)
        return self.exact(where).tolist()

    def numbers(self, where: Where) -> np.ndarray | None:
        """The values at `where` as float64 with NaN for no value; None for a non-numeric column."""
        numbers = self.codec.numbers(where)
        if numbers is None:
            return None
        if self.tags is not None:
            numbers[take(self.tags, where) != VALUE] = np.nan
        return numbers

    def view(self, where: slice) -> np.ndarray | None:
        """The values at `where` as `numbers` gives them, as a read-only view of the buffer (no
        copy); None when the codec stores no float64 buffer or some slot holds no value."""
        if self.tags is not None and self.tags[where].any():
            return None
        view = self.codec.view(where)
        if view is not None:
            view.flags.writeable = False
        return view

    def has_values(self, where: Where) -> bool:
        """Whether any slot of `where` holds a key (a value or None)."""
        return self.tags is None or bool((take(self.tags, where) != ABSENT_TAG).any())

    def has_absent(self, where: Where) -> bool:
        """Whether any slot of `where` is of a record that lacked this key."""
        return self.tags is not None and bool((take(self.tags, where) == ABSENT_TAG).any())

    def trimmed(self, live: Where, narrowed: int | None = None) -> Column:
        """A copy holding only the slots `live`, at 0..len(live)-1, sharing no buffer with this one;
        with `narrowed`, whatever its codec keeps besides the slots (a string table) is cut down
        to what the first `narrowed` of them use."""
        trimmed = Column(0)
        trimmed.codec = self.codec.copy()
        trimmed.tags = self.tags
        trimmed.capacity = self.capacity
        trimmed.reallocate(size_of(live), live)
        if narrowed is not None:
            trimmed.codec = trimmed.codec.narrowed(trimmed._present(np.arange(narrowed)))
        return trimmed

    def _present(self, live: np.ndarray) -> np.ndarray:
        return live if self.tags is None else live[self.tags[live] == VALUE]

    def _encode_values(self, values: list, types: set[type], live: Callable[[], np.ndarray]) -> Any:
        if self.codec.holds(types):
            try:
                return self.codec.encode(values, types)
            except Unfit:
                targets: tuple[type[Codec], ...] = (ObjectCodec,)
        else:
            targets = codecs_for(self.codec.types | types)
        for target in targets:
            self._switch(partial(self._converted, target, live), live)
            try:
                return self.codec.encode(values, types)
            except Unfit:
                continue
        raise AssertionError("unreachable: an object codec holds any value")

    def _converted(self, target: type[Codec], live: Callable[[], np.ndarray]) -> Codec:
        return convert(self.codec, target, self._present(live()))

    def _switch(self, build: Callable[[], Codec], live: Callable[[], np.ndarray]) -> None:
        """Replace the codec by `build()`, or by an object codec if that raises Unfit."""
        try:
            self.codec = build()
        except Unfit:
            self.codec = convert(self.codec, ObjectCodec, self._present(live()))

    def _remap(self, change: Callable[[np.ndarray], np.ndarray]) -> None:
        self.codec.remap(change)
        if self.tags is not None:
            self.tags = change(self.tags)
