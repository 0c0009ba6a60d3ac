"""RoundTaker: which windows changed since the last saved round, and copies of them.

A station whose windows changed is saved as what they gained since its last file (its changes
file joins the station's chain) or, every `whole_every` rounds, whole (a new chain). Whole
rewrites are staggered: each station takes its turn in a different round, so a round writes about
one station in `whole_every` whole and the restore applies at most `whole_every - 1` change files.
"""

from __future__ import annotations

import zlib
from collections.abc import Container, Mapping
from dataclasses import dataclass

from ..kafka.message import TopicPartition
from ..windows import Window
from ..windows.stations import StationWindows
from ..windows.window import Mark
from .checkpoints import Round
from .saved import StationChanges

__all__ = ["RoundTaker"]

Versions = dict[str, int]


@dataclass
class _Saved:
    """A station as the store holds it: its windows' versions and marks, and the change files
    after its whole file."""

    versions: Versions
    marks: dict[str, Mark]
    changes: int = 0


def _versions(windows: Mapping[str, Window]) -> Versions:
    return {topic: window.version for topic, window in windows.items()}


def _copies(windows: Mapping[str, Window]) -> dict[str, Window]:
    return {topic: window.detached() for topic, window in windows.items()}


def _marks(windows: Mapping[str, Window]) -> dict[str, Mark]:
    return {topic: window.mark() for topic, window in windows.items()}


class RoundTaker:
    """Takes rounds: windows are copied when their versions differ from the last saved round's (a
    window's version changes with its content, and only then); `whole_every` as above (0 or 1:
    every changed station whole)."""

    def __init__(self, whole_every: int = 0) -> None:
        self.whole_every = whole_every
        self._saved: dict[str, _Saved] = {}
        self._saved_global: Versions = {}
        self._taken: tuple[dict[str, _Saved], Versions] | None = None

    def take(
        self,
        windows: StationWindows,
        offsets: dict[TopicPartition, int],
        number: int = 1,
        *,
        stations: Container[str] | None = None,
    ) -> Round:
        """Round `number` of the windows as they are now, which reflect `offsets`. Call it while
        nothing writes to the windows (their owner's lock). `stations`: only these, and no global
        windows (a slot's round under scale-out)."""
        round_ = Round(offsets, {}, set())
        taken: dict[str, _Saved] = {}
        for station, station_windows in windows.by_station.items():
            if stations is not None and station not in stations:
                continue
            versions = _versions(station_windows)
            saved = self._saved.get(station)
            if saved is not None and saved.versions == versions:
                round_.kept.add(station)
                taken[station] = saved
                continue
            if (
                saved is not None
                and (changes := self._changes(station, station_windows, versions, saved, number)) is not None
            ):
                round_.changes[station] = (changes, list(station_windows))
                taken[station] = _Saved(versions, _marks(station_windows), saved.changes + 1)
            else:
                round_.changed[station] = _copies(station_windows)
                taken[station] = _Saved(versions, _marks(station_windows))
        global_versions = _versions(windows.global_windows) if stations is None else self._saved_global
        if global_versions != self._saved_global:
            round_.global_windows = _copies(windows.global_windows)
        self._taken = taken, global_versions
        return round_

    def _changes(
        self, station: str, windows: Mapping[str, Window], versions: Versions, saved: _Saved, number: int
    ) -> StationChanges | None:
        """What the station's windows (now at `versions`) gained since `saved`, or None when its
        turn to be saved whole has come."""
        every = self.whole_every
        if every <= 1 or saved.changes + 1 >= every or (number + zlib.crc32(station.encode())) % every == 0:
            return None
        changes: StationChanges = {}
        for topic, window in windows.items():
            if saved.versions.get(topic) == versions[topic]:
                continue
            mark = saved.marks.get(topic)
            part = None if mark is None else window.copy_changes_since(mark)
            changes[topic] = window.detached() if part is None else part
        return changes

    def saved(self) -> None:
        """The round taken last was written: its windows count as saved."""
        if self._taken is not None:
            self._saved, self._saved_global = self._taken
            self._taken = None

    def note_saved(self, windows: StationWindows, chains: Mapping[str, int]) -> None:
        """The stations of `chains` hold in `windows` what the store holds (just restored), with
        that many change files after their whole file; the others are saved whole next."""
        self._saved = {
            station: _Saved(_versions(station_windows), _marks(station_windows), chains[station])
            for station, station_windows in windows.by_station.items()
            if station in chains
        }
        self._saved_global = _versions(windows.global_windows)
