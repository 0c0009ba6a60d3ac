"""DueSeconds: when the per_second windows' newest seconds become complete by the clock.

A car-order second is complete when a newer second begins, or by the clock a grace after it ended
(PerSecondWindow.due_at). The owner of the windows lists each window whose newest second waits
for the clock, and asks a few times a second which windows completed one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from .per_second import PerSecondWindow
from .window import Window

__all__ = ["DueSeconds"]


class DueSeconds:
    """Per_second windows by the time their newest second is due: (due, order, station, topic),
    station None for a global window."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str | None, str]] = []
        self._order = 0

    def __len__(self) -> int:
        """Listings kept (a window listed again leaves its older listing until it is due)."""
        return len(self._heap)

    def list(self, station_id: str | None, topic: str, window: PerSecondWindow) -> None:
        """List the window's due time, when it has a second to complete."""
        at = window.due_at()
        if at is not None:
            window.clock_listed = at
            self._order += 1
            heapq.heappush(self._heap, (at, self._order, station_id, topic))

    def close(self, now: float, window_at: Callable[[str | None, str], Window | None]) -> Iterator[str | None]:
        """Complete the seconds due at `now`; yields the station of each window whose completed
        second changed (None: a global window's). `window_at` finds a listed window again."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, station_id, topic = heapq.heappop(heap)
            window = window_at(station_id, topic)
            if not isinstance(window, PerSecondWindow) or window.clock_listed != at:
                continue  # the window is gone or was replaced, or is listed again since
            window.clock_listed = None
            if window.close_due(now):
                yield station_id
            else:
                self.list(station_id, topic, window)  # newer records moved its due time
