"""StationWindows: every station's window of each topic, and the global windows all share.

A global topic (the calendar) is kept once and read by every station, so a station that appears
after it sees it in its very first input. A per_second topic's second (car orders) is also
complete by the clock: each such window is listed by its due time (DueSeconds), so completing
what is due costs O(log n) per second that becomes due. Not thread-safe: the owner (the
dispatcher) serialises access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .due_seconds import DueSeconds
from .kinds import make_window, refit
from .pending import PendingEncoder
from .per_second import PerSecondWindow
from .spec import WindowSpec
from .window import Window

__all__ = ["StationWindows"]


class StationWindows:
    """`by_station[station][topic]` and `global_windows[topic]`, made from `specs` on first use."""

    def __init__(
        self,
        specs: Mapping[str, WindowSpec],
        encoder: PendingEncoder | None = None,
        on_new_station: Callable[[str, str], None] | None = None,
    ) -> None:
        self.by_station: dict[str, dict[str, Window]] = {}
        self.global_windows: dict[str, Window] = {}
        self.encoder = encoder  # encodes pending rows when the owner is idle (see pending)
        self.due = DueSeconds()
        self._on_new_station = on_new_station  # told of a station's first window, with its topic
        self.set_specs(specs)

    def set_specs(self, specs: Mapping[str, WindowSpec]) -> None:
        """Make windows of these specs from now on (`refit` fits the existing ones)."""
        self.specs = dict(specs)
        # per_second topics whose seconds the clock completes too
        self.clocked = [
            name for name, spec in specs.items() if spec.kind == "per_second" and spec.second_grace_seconds is not None
        ]

    def get(self, station_id: str | None, topic: str) -> Window | None:
        """The window a station reads for `topic` (the global one for a global topic); station None:
        the global window."""
        if topic in self.global_windows:
            return self.global_windows[topic]
        return None if station_id is None else self.by_station.get(station_id, {}).get(topic)

    def reader(self, station_id: str) -> Callable[[str], Window | None]:
        """`get` for one station (a module input asks for a dozen topics per run)."""
        global_windows, windows = self.global_windows, self.by_station.get(station_id, {})
        return lambda topic: global_windows[topic] if topic in global_windows else windows.get(topic)

    def ensure(self, station_id: str | None, topic: str) -> Window:
        """The station's window of `topic` (station None: the global one), made when missing."""
        if station_id is None:
            window = self.global_windows.get(topic)
            if window is None:
                window = self.global_windows[topic] = make_window(self.specs[topic], self.encoder)
            return window
        windows = self.by_station.get(station_id)
        if windows is None:
            windows = self.by_station[station_id] = {}
            if self._on_new_station is not None:
                self._on_new_station(station_id, topic)
        window = windows.get(topic)
        if window is None:
            window = windows[topic] = make_window(self.specs[topic], self.encoder)
        return window

    def wrote(self, station_id: str | None, topic: str, window: Window) -> None:
        """After a write: list a clocked per_second window whose newest second waits for the clock."""
        if topic in self.clocked and isinstance(window, PerSecondWindow) and window.clock_listed is None:
            self.due.list(station_id, topic, window)

    def close_due(self, now: float) -> Iterable[str | None]:
        """Complete the seconds due at `now`: the station of each window whose second changed
        (None: a global window's)."""
        return self.due.close(now, self.get)

    def close_due_of(self, station_id: str, now: float) -> None:
        """Complete the station's own per_second seconds due at `now` (a global window's are left
        to `close_due`, which runs every station with them)."""
        windows = self.by_station.get(station_id)
        if windows is None:
            return
        for topic in self.clocked:
            window = windows.get(topic)
            if isinstance(window, PerSecondWindow):
                window.close_due(now)

    def expire(self, now: float, expiry: Callable[[str], float]) -> list[str]:
        """Empty windows idle for longer than `expiry(topic)` seconds; the stations left with
        nothing (not removed: see `remove`)."""
        for topic, window in self.global_windows.items():
            window.expire(now, expiry(topic))
        empty = []
        for station_id, windows in self.by_station.items():
            for topic, window in windows.items():
                window.expire(now, expiry(topic))
            if not any(len(w) for w in windows.values()):
                empty.append(station_id)
        return empty

    def remove(self, station_id: str) -> list[Window]:
        """Drop a station's windows; the windows it had."""
        return list(self.by_station.pop(station_id, {}).values())

    def restore(self, station_id: str, windows: Mapping[str, Window]) -> tuple[list[str], list[str]]:
        """Take a station's windows back from a checkpoint, fitted to the current specs (a window
        saved under another spec is resized or rebuilt as on a reload): the saved topics that are
        not configured any more, whose windows are dropped, and those whose windows were refitted."""
        mine = self.by_station.setdefault(station_id, {})
        dropped, refitted = [], []
        for topic, window in windows.items():
            spec = window.spec
            fitted = self._fitted(topic, window)
            if fitted is None:
                dropped.append(topic)
                continue
            if fitted.spec != spec:
                refitted.append(topic)
            mine[topic] = fitted
            self.wrote(station_id, topic, fitted)
        return dropped, refitted

    def restore_global(self, topic: str, window: Window) -> None:
        """Take a global window back from a checkpoint, fitted as `restore` fits a station's
        (nothing when the topic is not configured any more)."""
        fitted = self._fitted(topic, window)
        if fitted is not None:
            self.global_windows[topic] = fitted
            self.wrote(None, topic, fitted)

    def _fitted(self, topic: str, window: Window) -> Window | None:
        """A restored window joined to the encoder and fitted to the topic's current spec (None: the
        topic is not configured any more)."""
        spec = self.specs.get(topic)
        if spec is None:
            return None
        window.attach(self.encoder)
        return window if window.spec == spec else refit(window, window.spec, spec, self.encoder)

    def refit(self, old_specs: Mapping[str, WindowSpec]) -> None:
        """Fit every window to the current specs: drop removed topics, resize, or rebuild."""
        for station_id, windows in [*self.by_station.items(), (None, self.global_windows)]:
            for topic in list(windows):
                spec = self.specs.get(topic)
                if spec is None:
                    del windows[topic]
                    continue
                old = old_specs.get(topic)
                if old != spec:
                    windows[topic] = refit(windows[topic], old, spec, self.encoder)
                    self.wrote(station_id, topic, windows[topic])
