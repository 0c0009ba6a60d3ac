"""PerSecondWindow: car orders, one record per charging gun per second, grouped by whole second.

`window_size` counts seconds. The station is triggered when a record of a newer second
arrives, because the previous second is then complete. Memory stays bounded: a second holds
at most `max_records_per_second` records (extras are dropped and counted in `dropped`), and
the buffers grow with the records actually held, never preallocated for the maximum.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .batch import Batch
from .spec import WindowSpec
from .store import Compactor
from .window import Window


class PerSecondWindow(Window):
    """Records of the newest `window_size` whole seconds, oldest first."""

    kind: ClassVar[str] = "per_second"

    def __init__(self, spec: WindowSpec, compactor: Compactor | None = None) -> None:
        self.dropped = 0
        super().__init__(spec, compactor)

    @property
    def seconds_count(self) -> int:
        """How many distinct seconds the window holds (<= window_size)."""
        self.flush()
        return self._seconds

    def completed_second(self) -> list[dict]:
        """Records of the newest complete second (the one before the newest, in-progress second)."""
        self.flush()
        starts = self._last_second_starts()
        return self._store.rows(starts[0], starts[1]) if len(starts) == 2 else []

    def current_second(self) -> list[dict]:
        """Records of the newest (in-progress) second."""
        self.flush()
        starts = self._last_second_starts()
        return self._store.rows(starts[-1]) if starts else []

    def resize(self, window_size: int) -> None:
        self.flush()
        self.spec = dataclasses.replace(self.spec, window_size=window_size)
        self._evict_seconds(self._seconds - window_size)
        super().resize(window_size)

    def clear(self) -> None:
        super().clear()
        self._seconds = 0
        self._newest_staged: float | None = None

    def _stage_trigger(self, ts: Sequence[float]) -> bool:
        """A newer second than any seen before begins (the previous second is then complete)."""
        newest = max(ts)
        known = self._store.newest_ts
        if self._newest_staged is not None:
            known = self._newest_staged if known is None else max(known, self._newest_staged)
        reference = math.floor(min(ts) if known is None else known)
        self._newest_staged = newest if known is None else max(known, newest)
        return math.floor(newest) > reference

    def _max_rows(self) -> int:
        """Room for the window's seconds plus a batch's (at most window_size seconds once admitted)."""
        return 2 * self.spec.window_size * self.spec.max_records_per_second

    def _add(self, batch: Batch, arrival: float) -> bool:
        store = self._store
        newest = store.newest_ts
        reference = math.floor(batch.first_ts if newest is None else newest)
        batch = self._admitted(self._new_records(batch))
        if not len(batch):
            return False
        if newest is None or batch.ts[0] >= newest:
            seconds = [math.floor(t) for t in batch.ts.tolist()]
            continuing = newest is not None and seconds[0] == math.floor(newest)
            self._seconds += 1 + sum(a != b for a, b in zip(seconds, seconds[1:], strict=False)) - continuing
            store.insert(batch.records, batch.ts)
        else:
            store.insert(batch.records, batch.ts)
            self._seconds = _distinct_seconds(store.times())
        self._evict_seconds(self._seconds - self.spec.window_size)
        self._drop_aged()
        newest = store.newest_ts
        return newest is not None and math.floor(newest) > reference

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
