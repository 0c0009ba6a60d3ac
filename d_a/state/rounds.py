"""RoundTaker: which windows changed since the last saved round, and copies of them."""

from __future__ import annotations

from collections.abc import Mapping

from ..kafka.message import TopicPartition
from ..windows import Window
from ..windows.stations import StationWindows
from .checkpoints import Round

__all__ = ["RoundTaker"]

Versions = tuple[tuple[str, int], ...]


def _versions(windows: Mapping[str, Window]) -> Versions:
    return tuple((topic, window.version) for topic, window in windows.items())


def _copies(windows: Mapping[str, Window]) -> dict[str, Window]:
    return {topic: window.detached() for topic, window in windows.items()}


class RoundTaker:
    """Takes rounds: windows are copied when their versions differ from the last saved round's (a
    window's version changes with its content, and only then)."""

    def __init__(self) -> None:
        self._saved: dict[str, Versions] = {}
        self._saved_global: Versions = ()
        self._taken: tuple[dict[str, Versions], Versions] | None = None

    def take(self, windows: StationWindows, offsets: dict[TopicPartition, int]) -> Round:
        """A round of the windows as they are now, which reflect `offsets`. Call it while nothing
        writes to the windows (their owner's lock)."""
        changed: dict[str, dict[str, Window]] = {}
        kept: set[str] = set()
        taken = {}
        for station, station_windows in windows.by_station.items():
            versions = taken[station] = _versions(station_windows)
            if self._saved.get(station) == versions:
                kept.add(station)
            else:
                changed[station] = _copies(station_windows)
        global_versions = _versions(windows.global_windows)
        global_windows = None if global_versions == self._saved_global else _copies(windows.global_windows)
        self._taken = taken, global_versions
        return Round(offsets, changed, kept, global_windows)

    def saved(self) -> None:
        """The round taken last was written: its windows count as saved."""
        if self._taken is not None:
            self._saved, self._saved_global = self._taken
            self._taken = None

    def note_saved(self, windows: StationWindows) -> None:
        """These windows are what the store holds (just restored)."""
        self._saved = {station: _versions(station_windows) for station, station_windows in windows.by_station.items()}
        self._saved_global = _versions(windows.global_windows)
