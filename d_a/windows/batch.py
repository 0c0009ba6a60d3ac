"""An incoming batch of records with their times: validated, sorted by time, exact duplicates removed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np

SMALL = 64  # batches up to this size are checked in Python (see _small)


@dataclass(frozen=True)
class Batch:
    """Records sorted by time (stable: arrival order among equal times), each stored once."""

    records: list[dict]
    ts: np.ndarray
    arrival: np.ndarray | None = None  # each record's position in arrival order; None when already so

    @classmethod
    def of(cls, records: Sequence[dict], ts: Sequence[float] | np.ndarray) -> Batch:
        """Validate and sort; ValueError on mismatched lengths or a time that is not finite."""
        if len(records) <= SMALL and len(ts) == len(records) and not isinstance(ts, np.ndarray):
            small = _small(records, ts)
            if small is not None:
                return small
        times = np.asarray(ts, dtype=np.float64).reshape(-1)
        if len(times) != len(records):
            raise ValueError(f"got {len(records)} records but {len(times)} times")
        if not np.isfinite(times).all():
            bad = times[~np.isfinite(times)][:3]
            raise ValueError(f"record times must be finite epoch seconds, got {bad}")
        records = list(records)
        if len(times) < 2:
            return cls(records, times)
        arrival = None
        if (times[1:] < times[:-1]).any():
            arrival = np.argsort(times, kind="stable")
            records, times = [records[i] for i in arrival.tolist()], times[arrival]
        return cls(records, times, arrival).select(_first_occurrences(records, times))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def first_ts(self) -> float:
        """Time of the record that arrived first."""
        return float(self.ts[0] if self.arrival is None else self.ts[np.argmin(self.arrival)])

    def select(self, mask: np.ndarray | None) -> Batch:
        """The records where `mask` is true (None keeps all)."""
        if mask is None or mask.all():
            return self
        arrival = None if self.arrival is None else self.arrival[mask]
        return Batch(list(compress(self.records, mask)), self.ts[mask], arrival)


def _small(records: Sequence[dict], ts: Sequence[float]) -> Batch | None:
    """`Batch.of` for a few records already in time order (a service's usual poll), checked in
    Python: numpy's per-call cost exceeds the work at this size. None when the general path is needed."""
    try:
        times = [float(t) for t in ts]
    except (TypeError, ValueError):
        return None
    kept: list[dict] = []
    kept_times: list[float] = []
    same_time: list[dict] = []  # the records kept so far at the current time
    previous = -math.inf
    for record, t in zip(records, times, strict=True):
        if not math.isfinite(t) or t < previous:
            return None
        if t != previous:
            same_time = []
        elif record in same_time:
            continue
        same_time.append(record)
        kept.append(record)
        kept_times.append(t)
        previous = t
    return Batch(kept, np.array(kept_times, dtype=np.float64))


def _first_occurrences(records: list[dict], ts: np.ndarray) -> np.ndarray | None:
    """Mask keeping the first of records equal in value and time (None when no two share a time)."""
    repeats = np.flatnonzero(ts[1:] == ts[:-1]) + 1
    if not len(repeats):
        return None
    run_starts = np.flatnonzero(np.concatenate(([True], ts[1:] != ts[:-1])))
    starts = run_starts[np.searchsorted(run_starts, repeats, "right") - 1]
    mask = np.ones(len(records), dtype=bool)
    current, kept = -1, []
    for index, start in zip(repeats.tolist(), starts.tolist(), strict=True):
        if start != current:
            current, kept = start, [records[start]]
        if records[index] in kept:
            mask[index] = False
        else:
            kept.append(records[index])
    return mask
