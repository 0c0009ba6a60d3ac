"""Time-grid alignment and the padding strategies that fill its gaps.

A padded series is described by `sources`: for each output slot (oldest first) the index of
the record shown there, or -1 for a gap. `grid_sources` builds it from record times and
`fill` turns it into values, so windows and `align_by_key` share one set of fill rules:
zero -> 0 (None for non-numeric values), forward -> last earlier value (the first value for
leading gaps), linear -> interpolation between the neighbouring real values (nearest real
value at the edges; forward for non-numeric values), missing -> None.
"""

from __future__ import annotations

import numpy as np

from ..config.schema import PADDING_STRATEGIES


def check_strategy(strategy: str) -> None:
    """ValueError naming an unknown strategy and the valid ones."""
    if strategy not in PADDING_STRATEGIES:
        raise ValueError(f"unknown padding strategy {strategy!r}; use one of {', '.join(PADDING_STRATEGIES)}")


def grid_sources(ts: np.ndarray, window_size: int, interval: float | None) -> np.ndarray:
    """Which record fills each slot of the padded window (oldest first), -1 for gaps.

    With `interval`, slot k (counted back from the newest record) is round((newest - ts) / interval)
    and only slots 0..window_size-1 exist; in a slot with several records the newest wins.
    Without it, the records keep their order and gaps only pad the front up to `window_size`.
    """
    count = len(ts)
    if interval is None or not count:
        length = max(count, window_size)
        sources = np.full(length, -1, dtype=np.int64)
        sources[length - count :] = np.arange(count)
        return sources
    back = np.rint((ts[-1] - ts) / interval).astype(np.int64)  # non-increasing: ts is sorted
    first = int(np.searchsorted(-back, -window_size, "right"))  # the records from here on are inside
    slots, rows = window_size - 1 - back[first:], np.arange(first, count)
    newest_in_slot = np.concatenate((slots[1:] != slots[:-1], [True]))
    if not newest_in_slot.all():
        slots, rows = slots[newest_in_slot], rows[newest_in_slot]
    sources = np.full(window_size, -1, dtype=np.int64)
    sources[slots] = rows
    return sources


def fill(sources: np.ndarray, strategy: str, values: np.ndarray, numbers: np.ndarray | None) -> np.ndarray:
    """The padded series: `values[source]` at real slots, gaps filled per `strategy`.

    `values` is what real slots show (exact objects, or float64 for numpy output); `numbers`
    is the same data as float64 with NaN for None, or None when the values are not numeric.
    """
    check_strategy(strategy)
    real = sources >= 0
    if real.all():
        return values[sources]
    gaps = ~real
    if not real.any():
        blank = 0 if strategy == "zero" and numbers is not None else None
        return _filled(np.empty(len(sources), dtype=values.dtype), gaps, blank)
    if strategy in ("forward", "linear"):
        last = np.maximum.accumulate(np.where(real, np.arange(len(sources)), -1))
        out = values[np.where(last >= 0, sources[np.maximum(last, 0)], sources[np.argmax(real)])]
        if strategy == "linear" and numbers is not None:
            _interpolate_inner_gaps(out, sources, numbers)
        return out
    out = values[np.where(real, sources, sources[np.argmax(real)])]
    return _filled(out, gaps, 0 if strategy == "zero" and numbers is not None else None)


def _interpolate_inner_gaps(out: np.ndarray, sources: np.ndarray, numbers: np.ndarray) -> None:
    """Replace gaps lying between two real numbers by linear interpolation in slot position (time)."""
    real = sources >= 0
    anchors = np.flatnonzero(real & ~np.isnan(numbers[np.where(real, sources, 0)]))
    if len(anchors) < 2:
        return
    inner = ~real
    inner[: anchors[0]] = False
    inner[anchors[-1] :] = False
    slots = np.flatnonzero(inner)
    out[slots] = np.interp(slots, anchors, numbers[sources[anchors]])


def _filled(out: np.ndarray, gaps: np.ndarray, value: object) -> np.ndarray:
    """`out` with `value` at the gaps (NaN for None in a float array)."""
    if out.dtype.kind == "f" and value is None:
        value = np.nan
    out[gaps] = value
    return out
