"""PerSecondWindow: car orders, one record per charging gun per second, grouped by whole second.

`window_size` counts seconds. A second is complete when a record of a newer second arrives, or
by the clock (`close_due`, asked by the window's owner): `second_grace_seconds` after the second
ended, so a charging session's last second is complete without waiting for the next session.
Readers get the newest complete second (`completed_second`); writes return True (the station
should run) whenever that changes: a newer second completes the open one, or a late record joins
a second the clock completed. Memory stays bounded: a second holds at most
`max_records_per_second` records (extras are dropped and counted in `dropped`), and the buffers
grow with the records actually held, never preallocated for the maximum.

The clock is the arrival clock (the `now` records are written with), read relative to the
records' own times, so producers whose clocks differ from ours by seconds and backlogs replayed
hours behind real time are judged alike: a second `s` whose record of time `t` arrived at `A` has
ended by `A + (s + 1 - t)` on our clock (1 s after its first arrival for whole-second times). It
is complete `second_grace_seconds` after that, and never sooner than that grace after the
window's newest arrival, so a replay still delivering a second's records keeps it open.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .batch import Batch
from .pending import PendingEncoder
from .spec import WindowSpec
from .store import ColumnStore
from .window import UNPICKLED, Times, Window


class PerSecondWindow(Window):
    """Records of the newest `window_size` whole seconds, oldest first."""

    kind: ClassVar[str] = "per_second"
    clock_listed: float | None  # the due time the owner listed for the newest second (DataDispatcher)

    def __init__(self, spec: WindowSpec = UNPICKLED, encoder: PendingEncoder | None = None) -> None:
        self.dropped = 0
        super().__init__(spec, encoder)

    @property
    def seconds_count(self) -> int:
        """How many distinct seconds the window holds (<= window_size)."""
        self.store_pending()
        return self._seconds

    def completed_second(self) -> list[dict]:
        """Records of the newest complete second: the newest second once the clock closed it, else
        the one before it (the newest is still in progress)."""
        self.store_pending()
        starts = self._last_second_starts()
        if starts and self.newest_second_complete:
            return self._store.rows(starts[-1])
        return self._store.rows(starts[0], starts[1]) if len(starts) == 2 else []

    def current_second(self) -> list[dict]:
        """Records of the newest second (in progress unless `newest_second_complete`)."""
        self.store_pending()
        starts = self._last_second_starts()
        return self._store.rows(starts[-1]) if starts else []

    @property
    def newest_second_complete(self) -> bool:
        """Whether the clock closed the newest second (`close_due`): `completed_second` gives it."""
        return self._open is not None and self._open == self._closed

    def due_at(self) -> float | None:
        """When (on the arrival clock) the newest second becomes complete by the clock: its end on
        the producer's clock, then `second_grace_seconds` with no new record in the window.

        None when the window is empty, the newest second is complete already, or the topic has no
        grace (`second_grace_seconds: null`: only a newer second completes one)."""
        grace = self.spec.second_grace_seconds
        if grace is None or self._open is None or self._open == self._closed or self.last_update is None:
            return None
        return max(self._open + 1.0 + self._open_offset, self.last_update) + grace

    def close_due(self, now: float) -> bool:
        """Close the newest second if it is complete by the clock at `now`; True when it was closed
        (readers now get it as `completed_second`, and `version` changed)."""
        due = self.due_at()
        if due is None or now < due:
            return False
        self.store_pending()
        self._closed = self._open if self._open is not None else -math.inf
        self._store.touch()
        return True

    def resize(self, window_size: int) -> None:
        self.store_pending()
        self.spec = dataclasses.replace(self.spec, window_size=window_size)
        self._evict_seconds(self._seconds - window_size)
        super().resize(window_size)

    def add_many(self, records: Sequence[dict], ts: Times, now: float | None = None) -> bool:
        triggered = super().add_many(records, ts, now)
        if len(records) and self.last_update is not None:
            self._arrived(float(max(ts)), self.last_update)
        return triggered

    def _copy(self, store: ColumnStore) -> PerSecondWindow:
        saved = super()._copy(store)
        assert isinstance(saved, PerSecondWindow)
        saved.clock_listed = None  # the clock's listing is this process's (DueSeconds)
        return saved

    def clear(self) -> None:
        super().clear()
        self._seconds = 0
        self._newest_pending: float | None = None
        self._open: float | None = None  # the newest second held (its start, epoch s)
        self._open_offset = 0.0  # arrival minus record time, least over its records: the producer's clock lag
        self._closed = -math.inf  # the second the clock closed last (`close_due`)
        self.clock_listed = None

    def _pending_trigger(self, ts: Sequence[float]) -> bool:
        """Whether the completed second readers get changes: a newer second begins (completing the
        one before), or a record joins a second the clock closed."""
        newest = max(ts)
        known = self._store.newest_ts
        if self._newest_pending is not None:
            known = self._newest_pending if known is None else max(known, self._newest_pending)
        self._newest_pending = newest if known is None else max(known, newest)
        if known is None:
            trigger = math.floor(newest) > math.floor(min(ts))
        else:
            trigger = self._shown_second_changes(float(math.floor(known)), float(math.floor(newest)), ts)
        if self.last_update is not None:
            self._arrived(float(newest), self.last_update)
        return trigger

    def _shown_second_changes(self, reference: float, newest: float, ts: Sequence[float] | np.ndarray) -> bool:
        """Whether records of times `ts` (newest in second `newest`) change the completed second, the
        window's newest second having been `reference`."""
        if newest < reference:
            return False  # late records of older seconds only
        if reference != self._closed:
            return newest > reference  # the open second is complete now
        if newest == reference:
            return True  # a late record of the second the clock closed
        return any(reference <= t < newest for t in ts)  # it, or a second after it, is the newest complete

    def _arrived(self, newest: float, arrival: float) -> None:
        """Note records arriving at `arrival`, the newest of time `newest`: a newer second opens,
        or the open second's producer lag is known better (the least lag is the closest to its clock)."""
        second = float(math.floor(newest))
        if self._open is None or second > self._open:
            self._open, self._open_offset = second, arrival - newest
        elif second == self._open:
            self._open_offset = min(self._open_offset, arrival - newest)

    def _max_rows(self) -> int:
        """Room for the window's seconds plus a batch's (at most window_size seconds once admitted)."""
        return 2 * self.spec.window_size * self.spec.max_records_per_second

    def _add(self, batch: Batch, arrival: float) -> bool:
        store = self._store
        before = store.newest_ts
        reference = math.floor(batch.first_ts if before is None else before)
        batch = self._admitted(self._new_records(batch))
        if not len(batch):
            return False
        if before is None or batch.ts[0] >= before:
            seconds = [math.floor(t) for t in batch.ts.tolist()]
            continuing = before is not None and seconds[0] == math.floor(before)
            self._seconds += 1 + sum(a != b for a, b in zip(seconds, seconds[1:], strict=False)) - continuing
            store.insert(batch.records, batch.ts)
        else:
            store.insert(batch.records, batch.ts)
            self._seconds = _distinct_seconds(store.times())
        self._evict_seconds(self._seconds - self.spec.window_size)
        self._drop_aged()
        newest = store.newest_ts
        if newest is None:
            return False
        if before is None:
            return math.floor(newest) > reference
        return self._shown_second_changes(float(reference), float(math.floor(newest)), batch.ts)

    def _admitted(self, batch: Batch) -> Batch:
        """The batch without records beyond `max_records_per_second` in their second (the later
        arrivals, counted in `dropped`), nor seconds older than its newest `window_size` ones."""
        if not len(batch):
            return batch
        newest = self._store.newest_ts
        first_new = newest is None or math.floor(batch.ts[0]) > math.floor(newest)
        if first_new and len(batch) <= min(self.spec.max_records_per_second, self.spec.window_size):
            return batch  # every second is new to the window, and none can be over its limit
        seconds = np.floor(batch.ts)
        new_second = np.concatenate(([True], seconds[1:] != seconds[:-1]))
        starts = np.flatnonzero(new_second)
        run = np.cumsum(new_second) - 1
        held = np.zeros(len(starts), dtype=np.int64)
        if newest is not None and seconds[0] <= newest:
            held = self._store.searchsorted(seconds[starts] + 1) - self._store.searchsorted(seconds[starts])
        by_arrival = np.arange(len(batch)) if batch.arrival is None else np.lexsort((batch.arrival, run))
        rank = np.empty(len(batch), dtype=np.int64)
        rank[by_arrival] = np.arange(len(batch)) - starts[run[by_arrival]] + held[run[by_arrival]]
        keep = rank < self.spec.max_records_per_second
        self.dropped += int(len(batch) - np.count_nonzero(keep))
        if len(starts) > self.spec.window_size:
            keep[: starts[-self.spec.window_size]] = False
        return batch.select(keep)

    def _evict_seconds(self, count: int) -> None:
        """Drop the `count` oldest seconds."""
        if count <= 0:
            return
        store = self._store
        scan = min(len(store), count * self.spec.max_records_per_second + 1)
        starts = np.flatnonzero(np.diff(np.floor(store.times(0, scan)))) + 1
        self._drop_front(int(starts[count - 1]) if len(starts) >= count else scan)

    def _drop_front(self, count: int) -> None:
        """Drop the `count` oldest records, keeping the count of seconds right."""
        if count <= 0:
            return
        store = self._store
        seconds = np.floor(store.times(0, min(count + 1, len(store))))
        gone = 1 + int(np.count_nonzero(np.diff(seconds[:count])))
        if len(seconds) > count and seconds[count] == seconds[count - 1]:
            gone -= 1
        self._seconds -= gone
        store.evict_front(count)

    def _last_second_starts(self) -> list[int]:
        """Row indices where the last two seconds start (fewer when the window holds fewer).

        A second holds at most `max_records_per_second` rows, so the newest 2 * that + 1 rows show
        where both start; they are scanned back from the newest in Python (a few rows per second).
        """
        size = len(self._store)
        if not size:
            return []
        offset = max(0, size - 2 * self.spec.max_records_per_second - 1)
        times = self._store.times(offset, size).tolist()
        last = _second_start(times, len(times))
        if not last:
            return [offset]
        return [offset + _second_start(times, last), offset + last]


def _second_start(times: list[float], end: int) -> int:
    """Where the second of `times[end - 1]` starts among the sorted `times`."""
    second = math.floor(times[end - 1])
    while end and times[end - 1] >= second:
        end -= 1
    return end


def _distinct_seconds(ts: np.ndarray) -> int:
    return 1 + int(np.count_nonzero(np.diff(np.floor(ts)))) if len(ts) else 0
