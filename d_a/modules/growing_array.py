"""GrowingArray: a window's numpy values that follow appends without being rebuilt.

A numpy input is handed out as a read-only view of a buffer with room at its end. New values are
written after the last view's end and the oldest are dropped by moving the view's start, so no view
already given out ever changes; when the room runs out, the live values move to a new buffer (the
old one stays with the views that use it). Each append is O(new values), amortized.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GrowingArray"]

SLACK = 0.25  # room kept beyond the live values, as a share of them
MIN_ROOM = 64


class GrowingArray:
    """The live values `buffer[start:end]` of one numpy window input."""

    def __init__(self, values: np.ndarray) -> None:
        self.buffer = np.empty(0, dtype=values.dtype)
        self.start = self.end = 0
        self._move(values, len(values))

    def view(self) -> np.ndarray:
        """The live values, read-only."""
        view = self.buffer[self.start : self.end]
        view.flags.writeable = False
        return view

    def advance(self, dropped: int, appended: np.ndarray) -> bool:
        """Drop the `dropped` oldest values and append `appended`; False (nothing changed) when
        `appended` has another dtype (the input must then be rebuilt)."""
        if appended.dtype != self.buffer.dtype:
            return False
        start = min(self.start + dropped, self.end)
        if self.end + len(appended) > len(self.buffer):
            self.start = start
            self._move(self.buffer[start : self.end], len(self.buffer[start : self.end]) + len(appended))
            start = self.start
        self.buffer[self.end : self.end + len(appended)] = appended
        self.start, self.end = start, self.end + len(appended)
        return True

    def _move(self, live: np.ndarray, needed: int) -> None:
        buffer = np.empty(needed + max(MIN_ROOM, int(needed * SLACK)), dtype=self.buffer.dtype)
        buffer[: len(live)] = live
        self.buffer, self.start, self.end = buffer, 0, len(live)
