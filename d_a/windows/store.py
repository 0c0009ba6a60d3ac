"""Rows of one window in numpy columns, kept sorted by record time.

Every key a record carries has a column (see layout), so records come back exactly as
added while costing a few bytes per value. Buffers grow with content up to `max_rows` (plus
room to slide) instead of being allocated for the maximum: the live rows are one run of slots
that slides forward (see sliding), and a slot is never rewritten in place once a read-only view
of it was handed out (`number_view`), so such views stay valid without a copy. In-order batches
are appended with one slice write per column; late records are merged in by moving only the rows
after them.

The newest rows wait as records, pending, and are encoded together (see pending).
`changes_since` tells readers whether rows were only appended and evicted since a mark, so what
they derived can be extended instead of rebuilt.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from itertools import compress
from typing import Any, Literal

import numpy as np

from .columns import ABSENT, Column, Encoded
from .layout import Layout
from .pending import DEFERRED_PENDING_ROWS, KEPT_ROWS, PENDING_ROWS, PendingColumn, PendingEncoder, fields_of
from .sliding import SlidingBuffer, room
from .slots import Where, put, size_of, take, values_at

INITIAL_CAPACITY = 16
MAX_REMEMBERED_NEWEST = 1024  # records of the newest time kept as dicts for duplicate checks


_VERSIONS = itertools.count(1)
Side = Literal["left", "right"]


class ColumnStore(SlidingBuffer):
    """At most `max_rows` rows (time + record), oldest first, in sliding buffers: the times and
    one column per key."""

    def __init__(self, fields: Sequence[str] = (), max_rows: int = 1, encoder: PendingEncoder | None = None) -> None:
        super().__init__(min(INITIAL_CAPACITY, max_rows))
        self.max_rows = max_rows
        self.encoder = encoder  # who encodes the waiting rows from PENDING_ROWS on (None: the store)
        self.ts = np.zeros(self.capacity)
        self.layout = Layout(fields, self.capacity)
        self._newest: list[dict] | None = []  # the records stored with the newest time, None if unknown
        self._pending: list[dict] = []  # records of the newest rows, whose columns are not written yet
        self.newest_ts: float | None = None  # the newest row's time (read on every write: kept, not looked up)
        self.version = next(_VERSIONS)  # changes with every change of content (cache keys)
        self._new_lineage()

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (excluding Python object overhead)."""
        return self.ts.nbytes + sum(column.nbytes for column in self.layout)

    def times(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Record times of the rows lo..hi-1 (a copy)."""
        return take(self.ts, self.run(lo, self.size if hi is None else hi))

    def searchsorted(self, values: Any, side: Side = "left") -> np.ndarray:
        """Where `values` would go among the rows' times (numpy.searchsorted)."""
        return np.searchsorted(self.ts[self.head : self.head + self.size], values, side)

    def rows(self, lo: int = 0, hi: int | None = None) -> list[dict]:
        """The records of rows lo..hi-1, oldest first, as they were added."""
        hi = self.size if hi is None else hi
        written = self.size - len(self._pending)
        if hi > written:
            pending = [dict(record) for record in self._pending[max(0, lo - written) : hi - written]]
            return (self._written_rows(lo, written) if lo < written else []) + pending
        return self._written_rows(lo, hi)

    def _written_rows(self, lo: int, hi: int) -> list[dict]:
        where = self.run(lo, hi)
        named = [(name, column) for name, column in self.layout.columns.items() if column.has_values(where)]
        names = [name for name, _ in named]
        values = [column.exact(where, absent=ABSENT).tolist() for _, column in named]
        rows = zip(*values, strict=True) if values else ((),) * (hi - lo)
        if any(column.has_absent(where) for _, column in named):
            records = [{k: v for k, v in zip(names, row, strict=True) if v is not ABSENT} for row in rows]
        else:
            records = [dict(zip(names, row, strict=True)) for row in rows]
        if self.layout.overflow is not None:
            for record, extra in zip(records, self.layout.overflow.exact(where).tolist(), strict=True):
                if extra is not None:
                    record.update(extra)
        return records

    def column(self, name: Any) -> Column | PendingColumn | None:
        """The named column; while no row was ever encoded, one read from the pending records."""
        if not self.layout.columns and self.layout.knows(name):  # columns are made at the first write
            return PendingColumn(name, self._pending, self.head)
        return self._written_column(name)

    def to_list(self, name: Any) -> list | None:
        """Every row's value of the named column, oldest first (None where a row has none), read
        without encoding the waiting rows; None when no column has that name."""
        if not self.layout.knows(name):
            return None
        written = self.size - len(self._pending)  # a spec field without a column yet: nothing written
        encoded = self.layout.columns[name].to_list(self.run(0, written)) if written else []
        return encoded + [record.get(name) for record in self._pending]

    def _written_column(self, name: Any) -> Column | None:
        self._encode_pending()
        return self.layout.columns.get(name)

    def number_view(self, name: Any) -> np.ndarray | None:
        """A read-only view (no copy) of a float column's values in every row, as `Column.numbers`
        gives them; None when the column is not float or some row has no value."""
        column = self._written_column(name)
        view = None if column is None else column.view(self.run(0, self.size)[0])
        if view is not None:
            self.lent = True
        return view

    def tail_lists(self, names: Sequence[Any], count: int) -> dict[Any, list]:
        """Each named column's values in the newest `count` rows, None where there is no value."""
        if count <= len(self._pending):
            return fields_of(self._pending[len(self._pending) - count :], names)
        where = self.run(self.size - count, self.size)
        columns = [self.column(name) for name in names]
        return {
            name: [None] * count if column is None else column.to_list(where)
            for name, column in zip(names, columns, strict=True)
        }

    def detached(self, first: int = 0) -> ColumnStore:
        """A copy of the rows from `first` on, in buffers of their size, sharing nothing later
        writes change and no encoder (a checkpoint saves it while this store goes on). A copy of
        the newest rows only keeps only the strings they use."""
        count = self.size - first
        live = self.run(first, self.size)
        copy = ColumnStore(self.layout.fields, self.max_rows)
        copy.capacity, copy.size = count, count
        copy.ts = self.ts[live].copy()
        copy._pending = self._pending[max(0, len(self._pending) - count) :]
        copy.layout = self.layout.trimmed(live, count - len(copy._pending) if first else None)
        copy._newest = None if self._newest is None else list(self._newest)
        copy.newest_ts = self.newest_ts
        return copy

    def extend(self, rows: ColumnStore) -> None:
        """Append `rows`, a `detached` copy of rows newer than this store's, as they are (column by
        column, not encoded again): rows saved in parts put back together."""
        self.max_rows = rows.max_rows
        count = rows.size
        if not count:
            return
        self.version = next(_VERSIONS)
        self._encode_pending()
        first, written = self.size, count - len(rows._pending)
        self.reserve(count)
        put(self.ts, self.run(first, first + count), rows.ts[:count])
        if written:
            where, source = self.run(first, first + written), rows.run(0, written)

            def live() -> np.ndarray:
                return self.positions(0, first)

            filled = set()
            for column, saved in self.layout.matched(rows.layout, self.capacity, first > 0):
                column.put_rows_of(saved, source, where, live)
                filled.add(id(column))
            for column in self.layout:
                if id(column) not in filled:
                    column.put(where, column.absent(written))
        self.size += count
        self._appended += count
        self._pending.extend(rows._pending)
        self.newest_ts = rows.newest_ts
        self._newest = None if rows._newest is None else list(rows._newest)

    def make_room(self) -> None:
        """Grow the buffers as the next append would (a loaded copy's buffers are exactly full):
        done while loading, in the loader's thread, rather than at the first write."""
        if self.size and self.head + self.size >= self.capacity:
            self.reserve(1)

    def renew(self, encoder: PendingEncoder | None) -> None:
        """After a restore: versions of this process, and the encoder of the windows' owner."""
        self.encoder = encoder
        self.version = next(_VERSIONS)
        self._new_lineage()

    def encode_pending(self) -> None:
        """Encode the rows waiting as records, all but the newest KEPT_ROWS (contents unchanged)."""
        self._encode_pending(keep=KEPT_ROWS)

    @property
    def pending_rows(self) -> int:
        """How many of the newest rows wait as records, not yet encoded."""
        return len(self._pending)

    def mark(self) -> tuple[int, int, int]:
        """The state `changes_since` compares with."""
        return self._lineage, self._evicted, self._appended

    def changes_since(self, mark: tuple[int, int, int]) -> tuple[int, int] | None:
        """(oldest rows dropped, rows appended) since `mark`; None when rows changed in another way
        (late records merged in, rows removed from the middle), so readers can extend what they
        derived from the rows at `mark` instead of rebuilding it."""
        lineage, evicted, appended = mark
        if lineage != self._lineage:
            return None
        return self._evicted - evicted, self._appended - appended

    def kept_since(self, mark: tuple[int, int, int]) -> int | None:
        """How many of the rows held at `mark` are still here (the oldest are evicted first), when
        rows were only appended and evicted since; None otherwise."""
        changes = self.changes_since(mark)
        if changes is None:
            return None
        _, evicted, appended = mark
        return max(0, appended - evicted - changes[0])

    def unseen(self, records: list[dict], ts: np.ndarray) -> np.ndarray | None:
        """Mask of the (time-sorted) records not already stored with the same time (None: all unseen)."""
        newest = self.newest_ts
        if newest is None or not len(ts) or ts[0] > newest:
            return None
        late, current = int(np.searchsorted(ts, newest, "left")), int(np.searchsorted(ts, newest, "right"))
        mask = np.ones(len(records), dtype=bool)
        newest_rows = self._newest_rows()
        for index in range(late, current):
            mask[index] = records[index] not in newest_rows
        if late:
            times = ts[:late]
            same_time: dict[tuple[int, int], list[dict]] = {}
            starts, ends = self.searchsorted(times).tolist(), self.searchsorted(times, "right").tolist()
            for index, lo, hi in zip(range(late), starts, ends, strict=True):
                if lo < hi:
                    rows = same_time.get((lo, hi)) or same_time.setdefault((lo, hi), self.rows(lo, hi))
                    mask[index] = records[index] not in rows
        return mask

    def insert(self, records: list[dict], ts: np.ndarray) -> int:
        """Store a batch sorted by time; returns how many records were kept."""
        if not records:
            return 0
        self.version = next(_VERSIONS)
        newest = self.newest_ts
        if newest is None or ts[0] >= newest:
            return self._append(records, ts)
        split = int(np.searchsorted(ts, newest, "left"))
        late = self._merge(records[:split], ts[:split])
        return late + self._append(records[split:], ts[split:])

    def touch(self) -> None:
        """A new version with the same rows: what readers derive from them changed (a per_second
        window's newest second became complete by the clock). `mark` stays, so they extend."""
        self.version = next(_VERSIONS)

    def evict_front(self, count: int) -> None:
        """Drop the `count` oldest rows."""
        count = max(0, min(count, self.size))
        pending_evicted = count - (self.size - len(self._pending))
        if pending_evicted > 0:
            del self._pending[:pending_evicted]
        if count:
            self.version = next(_VERSIONS)
            self._evicted += count
        self.size -= count
        self.head = self.head + count if self.size or self.lent else 0
        if not self.size:
            self.newest_ts = None
        self._forget_newest_if_evicted()

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where `mask` is true (compacting the buffers)."""
        self.version = next(_VERSIONS)
        self._encode_pending()
        self._reallocate(self.capacity, self.positions(0, self.size)[mask])
        self._newest = None
        self._new_lineage()

    def set_max_rows(self, max_rows: int) -> None:
        """Bound the store to `max_rows` rows: a shrink drops the oldest and frees the slack."""
        self.max_rows = max_rows
        self._encode_pending()
        self.evict_front(self.size - max_rows)
        if self.capacity > self.limit():
            self._reallocate(self.limit(), self.run(0, self.size))

    def _append(self, records: list[dict], ts: np.ndarray) -> int:
        if len(records) > self.max_rows:
            records, ts = records[-self.max_rows :], ts[-self.max_rows :]
        count = len(records)
        if not count:
            return 0
        total, newest = self.size + count, self.newest_ts
        if total > self.max_rows:
            self.evict_front(total - self.max_rows)
        self.reserve(count)
        put(self.ts, self.run(self.size, self.size + count), ts)
        self.size += count
        self.newest_ts = float(ts[-1])
        self._appended += count
        self._pending.extend(records)
        if len(self._pending) >= PENDING_ROWS:
            if self.encoder is None or count >= PENDING_ROWS or len(self._pending) >= DEFERRED_PENDING_ROWS:
                self._encode_pending(keep=KEPT_ROWS)
            else:
                self.encoder.due(self)
        if ts[-1] != newest:
            self._newest = records[_newest_time_start(ts) :]
        elif self._newest is not None:
            self._newest.extend(records)
        if self._newest is not None and len(self._newest) > MAX_REMEMBERED_NEWEST:
            self._newest = None
        return count

    def _merge(self, records: list[dict], ts: np.ndarray) -> int:
        """Insert late records (older than the newest row) at their time; evict the oldest rows."""
        count = len(records)
        self._encode_pending()
        slots = self.searchsorted(ts, "right")
        late_rows = slots + np.arange(count)
        total = self.size + count
        evicted = max(0, total - self.max_rows)
        kept = late_rows >= evicted
        if not kept.any():
            return 0
        first = int(slots[0])
        tail = np.arange(first, self.size)
        tail_rows = tail + np.searchsorted(slots, tail, "right")
        encoded = self._encode(list(compress(records, kept)))
        self.reserve(count)
        self.unlend()  # rows move in place below: views handed out keep the old buffers
        moved = tail_rows >= evicted
        source, target = self._slots(tail[moved]), self._slots(tail_rows[moved])
        self.ts[target] = self.ts[source]
        for column in self.layout:
            column.move(source, target)
        self._write(self._slots(late_rows[kept]), ts[kept], encoded)
        self.head += evicted
        self.size = total - evicted
        self._note_newest_ts()
        self._forget_newest_if_evicted()
        self._new_lineage()
        return int(kept.sum())

    def _new_lineage(self) -> None:
        """Rows changed other than at the ends: what was derived from them must be rebuilt."""
        self._lineage = next(_VERSIONS)
        self._evicted, self._appended = 0, self.size

    def _newest_rows(self) -> list[dict]:
        """The stored records having the newest time (remembered, or rebuilt from the columns)."""
        if self._newest is not None:
            return self._newest
        rows = self.rows(int(self.searchsorted(self.newest_ts)), self.size)
        if len(rows) <= MAX_REMEMBERED_NEWEST:
            self._newest = rows
        return rows

    def _forget_newest_if_evicted(self) -> None:
        """The rows of the newest time are the last ones; forget them once eviction reaches them."""
        if self._newest is not None and len(self._newest) > self.size:
            self._newest = None

    def _slots(self, rows: np.ndarray) -> np.ndarray:
        return self.head + rows

    def _write(self, where: Where, ts: np.ndarray, encoded: list[tuple[Column, Encoded]]) -> None:
        put(self.ts, where, ts)
        for column, values in encoded:
            column.put(where, values)

    def _encode_pending(self, keep: int = 0) -> None:
        """Encode the pending records, all but the newest `keep`, into the columns (their times are
        stored already)."""
        count = len(self._pending) - keep
        if count <= 0:
            return
        records, self._pending = self._pending[:count], self._pending[count:]
        first = self.size - count - keep
        where = self.run(first, first + count)
        for column, values in self._encode(records, first):
            column.put(where, values)

    def _encode(self, records: list[dict], written: int | None = None) -> list[tuple[Column, Encoded]]:
        """Each column's values of `records`, encoded (adding columns for new keys); `written` is
        how many rows hold column values (default: all)."""
        written = self.size if written is None else written
        values = self.layout.split(records, self.capacity, written > 0)

        def live() -> np.ndarray:
            return self.positions(0, written)

        return [
            (column, column.absent(len(records)) if name not in values else column.encode(values[name], live))
            for name, column in self.layout.named()
        ]

    def limit(self) -> int:
        """The most slots the buffers need: `max_rows` and room to slide."""
        return self.max_rows + room(self.max_rows)

    def _reallocate(self, capacity: int, live: Where) -> None:
        """Move the rows at the slots `live` (in order) to fresh buffers of `capacity` slots."""
        count = size_of(live)
        ts = np.zeros(capacity)
        ts[:count] = values_at(self.ts, live)
        self.ts = ts
        for column in self.layout:
            column.reallocate(capacity, live)
        self.capacity, self.head, self.size = capacity, 0, count
        self.lent = False
        self._note_newest_ts()

    def _note_newest_ts(self) -> None:
        self.newest_ts = float(self.ts[self.head + self.size - 1]) if self.size else None


def _newest_time_start(ts: np.ndarray) -> int:
    """Where the records of the newest time start in a sorted batch (a short scan for a small batch)."""
    count = len(ts)
    if count > 16:
        return int(np.searchsorted(ts, ts[-1], "left"))
    last, first = ts[-1], count - 1
    while first and ts[first - 1] == last:
        first -= 1
    return first
