"""StationHandle: the `task` / `future` of a station in `get_station_status()`.

The original d_a gave every station a task (async) or a pool future (threads) of its own and reported it;
d_a serves all stations from a few workers, so there is no such object. A handle answers the
same questions a health check asks of one — `done()`, `running()`, `cancelled()` — about the
station's service, and `cancel()` stops serving the station (as `remove_station` does).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["StationHandle"]


class StationHandle:
    """Future-like view of whether a service still serves one station."""

    __slots__ = ("_cancelled", "_is_served", "_stop", "station_id")

    def __init__(self, station_id: str, is_served: Callable[[str], bool], stop: Callable[[str], None]) -> None:
        self.station_id = station_id
        self._is_served = is_served
        self._stop = stop
        self._cancelled = False

    def running(self) -> bool:
        """True while the service serves the station."""
        return self._is_served(self.station_id)

    def done(self) -> bool:
        """True once the station is no longer served (removed, expired or the service stopped)."""
        return not self.running()

    def cancelled(self) -> bool:
        """True when this handle's `cancel()` stopped the station."""
        return self._cancelled

    def cancel(self) -> bool:
        """Stop serving the station and drop its windows; False when it was not served."""
        if self.done():
            return False
        self._stop(self.station_id)
        self._cancelled = True
        return True

    def get_name(self) -> str:
        return f"d_a-station-{self.station_id}"

    def __repr__(self) -> str:
        state = "cancelled" if self._cancelled else "done" if self.done() else "running"
        return f"<StationHandle {self.station_id} {state}>"
