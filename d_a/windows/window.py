"""Window: one station's recent records of one topic, bounded, ordered by record time.

The base class has append semantics (newest `window_size` records, late records placed by
time, exact duplicates stored once); the other kinds override only what differs. Windows
are not thread-safe: the dispatcher serialises access to a station's windows. Records are
JSON-like dicts; they are not copied, so a dict must not be changed after it was added.

`add_pending` is the cheap write path for many small batches (a service writes a few records
per station per poll): the records wait, pending, and are stored in one vectorised write at the
next read (see pending).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np

from .align import sorted_keys
from .batch import Batch
from .padding import check_strategy, fill, grid_sources
from .pending import PENDING_RECORDS_LIMIT, PendingEncoder
from .spec import WindowSpec
from .store import ColumnStore

FORMATS = ("list", "numpy")
SMALL_PIVOT = 256  # up to this many records an unpadded list pivot is built in Python (cheaper than numpy)
Times = Sequence[float] | np.ndarray
Mark = tuple[int, int, int]
UNPICKLED = WindowSpec("append", 1)  # the spec a window is made with before pickle restores its own (d_a.state)


class Window:
    """Newest `window_size` records, oldest first, stored as compact columns."""

    kind: ClassVar[str] = "append"
    last_update: float | None  # when the newest write arrived (epoch s), None while empty
    _store: ColumnStore
    _pending_records: list[dict]
    _pending_ts: list[float]

    def __init__(self, spec: WindowSpec = UNPICKLED, encoder: PendingEncoder | None = None) -> None:
        self.spec = spec
        self.encoder = encoder  # encodes the store's newest rows when its owner is idle (store.py)
        self.clear()

    def add(self, record: dict, ts: float, now: float | None = None) -> bool:
        """Add one record of time `ts` (epoch s) arriving at `now`; True if the station should run."""
        return self.add_many([record], [ts], now)

    def add_many(self, records: Sequence[dict], ts: Times, now: float | None = None) -> bool:
        """Add a poll batch at once (one vectorised write per column); same result as `add` for each."""
        self.store_pending()
        batch = Batch.of(records, ts)
        if not len(batch):
            return False
        self.last_update = time.time() if now is None else float(now)
        return self._add(batch, self.last_update)

    def add_pending(self, records: Sequence[dict], ts: Sequence[float], now: float | None = None) -> bool:
        """Queue records to be stored at the next read; True if the station should run.

        Any record triggers (per_second: a record of a newer second); duplicates, late and
        surplus records are sorted out when the queue is stored, exactly as `add_many` does.
        """
        if not len(records):
            return False
        self.last_update = time.time() if now is None else float(now)
        trigger = self._pending_trigger(ts)
        self._pending_records.extend(records)
        self._pending_ts.extend(ts)
        if len(self._pending_records) >= PENDING_RECORDS_LIMIT:
            self.store_pending()
        return trigger

    def store_pending(self) -> None:
        """Store the pending records `add_pending` queued (every read does this first)."""
        if not self._pending_records:
            return
        records, ts = self._pending_records, self._pending_ts
        self._pending_records, self._pending_ts = [], []
        batch = Batch.of(records, ts)
        if len(batch):
            self._add(batch, self.last_update if self.last_update is not None else time.time())

    def replace(self, records: Sequence[dict], ts: Times, now: float | None = None) -> bool:
        """Make `records` the whole window (newest `window_size` of them by time); True if it changed."""
        self.store_pending()
        previous = self._store
        self.clear()
        self.add_many(records, ts, now)
        return not _same_rows(previous, self._store)

    def records(self) -> list[dict]:
        """The window's records, oldest first, equal in type and value to what was added."""
        self.store_pending()
        return self._store.rows()

    def latest(self) -> dict | None:
        """The newest record, or None when the window is empty."""
        self.store_pending()
        size = len(self._store)
        return self._store.rows(size - 1, size)[0] if size else None

    def __len__(self) -> int:
        self.store_pending()
        return len(self._store)

    def __iter__(self) -> Iterator[tuple[dict, float]]:
        """`(record, ts)` pairs, oldest first: the original d_a's `deque[(raw, ts)]` view of a window."""
        self.store_pending()
        return iter(list(zip(self._store.rows(), self._store.times().tolist(), strict=True)))

    def __getitem__(self, index: int) -> tuple[dict, float]:
        """The `(record, ts)` pair at `index` (negative counts from the newest), as the original d_a's deque."""
        self.store_pending()
        size = len(self._store)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError(f"window index {index} out of range ({size} records)")
        return self._store.rows(position, position + 1)[0], float(self._store.times(position, position + 1)[0])

    @property
    def newest_ts(self) -> float | None:
        """Time of the newest record (epoch s), None when empty."""
        self.store_pending()
        return self._store.newest_ts

    @property
    def version(self) -> int:
        """Changes whenever the content changes (and only then): a key for caching derived values."""
        self.store_pending()
        return self._store.version

    def mark(self) -> Mark:
        """A mark of the current rows, for `changes_since` and `copy_changes_since`."""
        self.store_pending()
        return self._store.mark()

    def changes_since(self, mark: Mark) -> tuple[int, int] | None:
        """(oldest records dropped, records appended) since `mark`, or None when records changed
        in another way (a late record placed among the others, a window replaced or cleared)."""
        self.store_pending()
        return self._store.changes_since(mark)

    def tail_columns(self, fields: Sequence[str], count: int) -> dict[str, list]:
        """The newest `count` records' values of each field, oldest first (None for no value)."""
        self.store_pending()
        return self._store.tail_lists(fields, min(count, len(self._store)))

    def tail_arrays(self, fields: Sequence[str], count: int) -> dict[str, np.ndarray]:
        """The newest `count` records' values of each field as `column(field, fmt="numpy")` gives them."""
        self.store_pending()
        store = self._store
        size = len(store)
        count = min(count, size)
        where = store.run(size - count, size)
        arrays = {}
        for field in fields:
            column = store.column(field)
            if column is None:
                arrays[field] = np.full(count, None, dtype=object)
                continue
            numbers = column.numbers(where)
            arrays[field] = numbers if numbers is not None else column.exact(where)
        return arrays

    def number_view(self, field: str) -> np.ndarray | None:
        """The field's values as `column(field, fmt="numpy")` gives them, as a read-only view of the
        window's buffer (no copy) that never changes; None unless every record has a float value."""
        self.store_pending()
        return self._store.number_view(field)

    def tail_times(self, count: int) -> np.ndarray:
        """The times of the newest `count` records, oldest first."""
        self.store_pending()
        size = len(self._store)
        return self._store.times(size - min(count, size), size)

    def oldest(self, count: int) -> list[dict]:
        """The oldest `count` records, as added."""
        self.store_pending()
        return self._store.rows(0, min(count, len(self._store)))

    def times(self) -> np.ndarray:
        """The records' times (epoch s), oldest first, aligned with `records()`."""
        self.store_pending()
        return self._store.times()

    @property
    def nbytes(self) -> int:
        """Bytes held by the window's buffers."""
        self.store_pending()
        return self._store.nbytes

    def column(self, field: str, padding: str | None = None, fmt: str = "list") -> list | np.ndarray:
        """The field's values, oldest first; aligned and padded to `window_size` when `padding` is set.

        fmt "numpy" gives float64 (NaN for no value) for numeric fields, an object array otherwise;
        unpadded float values come as a read-only view of the window's buffer (see `number_view`).
        """
        if fmt not in FORMATS:
            raise ValueError(f"unknown column format {fmt!r}; use one of {', '.join(FORMATS)}")
        if padding is not None:
            check_strategy(padding)
        self.store_pending()
        store = self._store
        if padding is None and fmt == "numpy" and (view := store.number_view(field)) is not None:
            return view
        if padding is None and fmt == "list" and (listed := store.to_list(field)) is not None:
            return listed
        where = store.run(0, len(store))
        column = store.column(field)
        if column is None:
            values, numbers = np.full(len(store), None, dtype=object), None
        else:
            numbers = column.numbers(where)
            values = numbers if fmt == "numpy" and numbers is not None else column.exact(where)
        if padding is not None:
            sources = grid_sources(store.times(), self.spec.window_size, self.spec.interval_seconds)
            values = fill(sources, padding, values, numbers)
        return values.tolist() if fmt == "list" else values

    def pivot(
        self, key: str, field: str, padding: str | None = None, fmt: str = "list"
    ) -> tuple[list, list | np.ndarray]:
        """Records keyed by `key` (e.g. one per gun) as a table: one row per time slot (the
        `interval_seconds` grid, else each distinct time), one column per key value (sorted).

        Returns (key order, rows). In a slot a key's newest record wins; a slot without a key is
        filled along time per `padding` (None without a strategy).
        """
        if fmt not in FORMATS:
            raise ValueError(f"unknown column format {fmt!r}; use one of {', '.join(FORMATS)}")
        strategy = "missing" if padding is None else padding
        check_strategy(strategy)
        self.store_pending()
        store = self._store
        key_column = store.column(key)
        if not len(store) or key_column is None:
            return [], ([] if fmt == "list" else np.empty((0, 0)))
        where = store.run(0, len(store))
        keys = key_column.exact(where).tolist()
        column = store.column(field)
        interval = self.spec.interval_seconds
        if strategy == "missing" and fmt == "list" and len(keys) <= SMALL_PIVOT:
            values_list = [None] * len(keys) if column is None else column.to_list(where)
            return _pivot_lists(keys, values_list, store.times().tolist(), interval)
        numbers = column.numbers(where) if column is not None else None
        values = np.full(len(keys), None, dtype=object) if column is None else column.exact(where)
        if fmt == "numpy" and numbers is not None:
            values = numbers
        times = store.times()
        row_of = np.unique(np.rint(times / interval) if interval else times, return_inverse=True)[1]
        rows = int(row_of.max()) + 1
        order = sorted_keys({k for k in keys if k is not None})
        position = {k: i for i, k in enumerate(order)}
        column_of = np.fromiter((position.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        series = []
        for index in range(len(order)):
            records = np.flatnonzero(column_of == index)
            slots = row_of[records]
            newest = np.concatenate((slots[1:] != slots[:-1], [True]))
            sources = np.full(rows, -1, dtype=np.int64)
            sources[slots[newest]] = records[newest]
            series.append(fill(sources, strategy, values, numbers))
        table = np.column_stack(series) if series else np.empty((rows, 0), dtype=values.dtype)
        return order, table.tolist() if fmt == "list" else table

    def expire(self, now: float, max_idle_seconds: float) -> bool:
        """Empty the window if nothing arrived for `max_idle_seconds`; True when it is empty afterwards."""
        self.store_pending()
        if self.last_update is not None and now - self.last_update > max_idle_seconds:
            self.clear()
        return not len(self)

    def resize(self, window_size: int) -> None:
        """Change `window_size`: a shrunk window keeps its newest records, a grown one keeps all."""
        self.store_pending()
        self.spec = dataclasses.replace(self.spec, window_size=window_size)
        self._store.set_max_rows(self._max_rows())

    def detached(self) -> Window:
        """A copy sharing nothing that later writes change, without the encoder: a checkpoint
        saves it while this window goes on (see d_a.state)."""
        return self._copy(self._store.detached())

    def copy_changes_since(self, mark: Mark) -> WindowChanges | None:
        """What a copy taken at `mark` lacks, when since then rows were only appended and the
        oldest evicted: the newer rows, and a copy of the rest of the window's state (`applied`
        puts them together). None when rows changed otherwise: save the whole window."""
        self.store_pending()
        kept = self._store.kept_since(mark)
        if kept is None:
            return None
        return WindowChanges(kept, self._copy(self._store.detached(kept)))

    def applied(self, changes: WindowChanges) -> Window:
        """The window that a copy taken at a mark (this one) and the changes since make: this
        window's rows, the evicted dropped and the newer appended, in the copy of the rest of the
        state the changes hold. This window is used up."""
        window = changes.window
        assert window is not None
        self.store_pending()  # records the copy held pending were in the store at the mark
        store = self._store
        store.evict_front(store.size - changes.kept)
        store.extend(window._store)
        window._store = store
        return window

    def _copy(self, store: ColumnStore) -> Window:
        """A copy of this window holding `store`, sharing nothing later writes change, without the encoder."""
        saved = copy.copy(self)
        saved.encoder = None
        saved._store = store
        saved._pending_records = list(self._pending_records)
        saved._pending_ts = list(self._pending_ts)
        return saved

    def make_room(self) -> None:
        """After loading a saved copy: room for new rows, made now rather than by the first write."""
        self._store.make_room()

    def attach(self, encoder: PendingEncoder | None) -> None:
        """After a restore: join the owner's encoder; content versions restart in this process."""
        self.encoder = encoder
        self._store.renew(encoder)

    def clear(self) -> None:
        """Drop every record (and the buffers holding them)."""
        self._store = ColumnStore(self.spec.fields, self._max_rows(), self.encoder)
        self.last_update = None
        self._pending_records = []
        self._pending_ts = []

    def _pending_trigger(self, ts: Sequence[float]) -> bool:
        """Whether adding pending records of these times should run the station (any record does)."""
        return True

    def _max_rows(self) -> int:
        return self.spec.window_size

    def _add(self, batch: Batch, arrival: float) -> bool:
        """Store a sorted batch; True if any record was stored."""
        batch = self._new_records(batch)
        stored = self._store.insert(batch.records, batch.ts)
        self._drop_aged()
        return stored > 0

    def _new_records(self, batch: Batch) -> Batch:
        """The batch without records already stored or too old to stay (older than max_age_seconds)."""
        stored_newest = self._store.newest_ts
        if self.spec.max_age_seconds is not None:
            newest = batch.ts[-1] if stored_newest is None else max(batch.ts[-1], stored_newest)
            batch = batch.select(batch.ts >= newest - self.spec.max_age_seconds)
        return batch.select(self._store.unseen(batch.records, batch.ts))

    def _drop_aged(self) -> float | None:
        """Drop records older than newest - max_age_seconds; returns that cutoff (None without a bound)."""
        newest = self._store.newest_ts
        if self.spec.max_age_seconds is None or newest is None:
            return None
        cutoff = newest - self.spec.max_age_seconds
        self._drop_front(int(self._store.searchsorted(cutoff, "left")))
        return cutoff

    def _drop_front(self, count: int) -> None:
        """Drop the `count` oldest records."""
        self._store.evict_front(count)


class WindowChanges:
    """What a window's copy taken at a mark lacks (`Window.changes_since`): how many of its rows
    are still held, and a copy of the window holding only the rows added since."""

    def __init__(self, kept: int = 0, window: Window | None = None) -> None:  # defaults: for unpickling
        self.kept = kept
        self.window = window


def _pivot_lists(keys: list, values: list, times: list[float], interval: float | None) -> tuple[list, list[list]]:
    """`pivot` without a padding strategy, as lists: each key's newest value in each slot, None elsewhere."""
    slots = [round(t / interval) for t in times] if interval else times
    row_of = {slot: row for row, slot in enumerate(sorted(set(slots)))}
    order = sorted_keys({k for k in keys if k is not None})
    column_of = {key: index for index, key in enumerate(order)}
    table = [[None] * len(order) for _ in row_of]
    for key, slot, value in zip(keys, slots, values, strict=True):
        if key is not None:
            table[row_of[slot]][column_of[key]] = value
    return order, table


def _same_rows(a: ColumnStore, b: ColumnStore) -> bool:
    """Whether two stores hold the same records at the same times."""
    return len(a) == len(b) and bool(np.array_equal(a.times(), b.times())) and a.rows() == b.rows()
