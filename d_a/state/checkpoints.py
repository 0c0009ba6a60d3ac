"""CheckpointStore: a service's windows in a directory, a chain of files per station and a manifest.

A checkpoint is taken in rounds. Each round saves the stations whose windows changed since the
round before (a station left unchanged keeps its files, which still hold its windows): a station
saved whole starts a new chain, one saved as its changes adds a file to its chain. Then the round
replaces the manifest: the round number, the consumer offsets the round's windows reflect (every
message below them was applied, none above), and each station's chain. Files are written whole
and renamed into place (container), the manifest last, so a crash during a round leaves the
previous round complete. Files no manifest names any more are deleted after the new one is in
place. A restore loads each station's whole file and applies its change files in order.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import orjson

from ..kafka.message import TopicPartition
from ..windows import Window, WindowChanges
from .container import STATE_FORMAT, CorruptState, read_checked, sync_directory, write_atomic
from .saved import StationChanges, dump_changes, dump_windows, load_changes, load_windows

__all__ = ["CheckpointStore", "Restored", "Round", "RoundReport"]

logger = logging.getLogger("d_a.state")

MANIFEST = "manifest"
STATION_SUFFIX = ".state"
READERS = min(4, os.cpu_count() or 1)  # files read at once at a restore (reads and checksums release the GIL)
GLOBAL = "@global"  # the global windows' file stem: no quoted station id looks like it ("@" is quoted)


@dataclass
class Round:
    """What one round saves: the offsets its windows reflect, copies of the stations' windows
    saved whole (`changed`, `Window.detached`) and of what others gained since their last file
    (`changes`: per station its changes and its topics); `kept` are the stations whose files
    still hold. The global windows (every station's calendar) are saved whole, None when unchanged."""

    offsets: dict[TopicPartition, int]
    changed: dict[str, dict[str, Window]]
    kept: set[str]
    global_windows: dict[str, Window] | None = None
    changes: dict[str, tuple[StationChanges, list[str]]] = field(default_factory=dict)


@dataclass
class RoundReport:
    """What a round wrote: stations saved whole, saved as their changes, and left as they were."""

    number: int
    stations_written: int
    stations_changed: int
    stations_kept: int
    bytes_written: int
    seconds: float


@dataclass
class Restored:
    """What a store held: each station's windows, the offsets they reflect, and what could not be
    read (file or station, and why). Without a readable manifest nothing is `usable`."""

    stations: dict[str, dict[str, Window]] = field(default_factory=dict)
    global_windows: dict[str, Window] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    round: int = 0
    written_at: float | None = None
    problems: list[str] = field(default_factory=list)
    damaged: set[str] = field(default_factory=set)  # stations whose files could not be read
    usable: bool = False
    changes: dict[str, int] = field(default_factory=dict)  # per station: change files after its whole file


class CheckpointStore:
    """Checkpoints of one consumer group's windows under `directory` (created when missing)."""

    def __init__(self, directory: str | Path, *, sync: bool = True) -> None:
        self.directory = Path(directory)
        self.sync = sync  # fsync each file (off only where durability does not matter: tests, benchmarks)
        self.round = 0
        self._files: dict[str, list[str]] = {}  # station -> its chain in the last manifest (whole file first)
        self._global_file: str | None = None
        self.files_to_load = 0  # progress of a load (`load`), read while it runs
        self.files_loaded = 0
        self._progress = threading.Lock()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def exists(self) -> bool:
        """Whether a manifest is there (a checkpoint was completed)."""
        return self.manifest_path.exists()

    def load(self) -> Restored:
        """Everything the last complete round saved. A damaged manifest gives nothing; a damaged
        station file leaves that station out. Each problem is logged and listed, never raised."""
        restored = Restored()
        manifest = self._read_manifest(restored)
        if manifest is None:
            return restored
        restored.usable = True
        restored.round = self.round = int(manifest["round"])
        restored.written_at = manifest.get("written_at")
        restored.offsets = {(topic, int(partition)): int(offset) for topic, partition, offset in manifest["offsets"]}
        chains = list(manifest["stations"].items())
        self.files_to_load = sum(len(chain) for _, chain in chains) + (manifest.get("global") is not None)
        self.files_loaded = 0
        with ThreadPoolExecutor(READERS, thread_name_prefix="d_a-restore") as pool:
            loaded = list(pool.map(self._read_chain, chains))
        for (station, chain), windows in zip(chains, loaded, strict=True):
            if isinstance(windows, str):
                self._problem(restored, f"station {station}: {windows}")
                restored.damaged.add(station)
            else:
                restored.stations[station] = windows
                restored.changes[station] = len(chain) - 1
                self._files[station] = chain
        name = manifest.get("global")
        if name is not None:
            windows = self._read_chain((GLOBAL, [name]))
            if isinstance(windows, str):
                self._problem(restored, f"global windows: {windows}")
            else:
                restored.global_windows = windows
                self._global_file = name
        return restored

    def _read_chain(self, chain: tuple[str, list[str]]) -> dict[str, Window] | str:
        """The windows of (owner, its files): the whole file with each change file applied in
        turn, or what is wrong with one of them. Every file counts in the load's progress."""
        owner, names = chain
        try:
            return self._applied_chain(owner, names)
        finally:
            with self._progress:
                self.files_loaded += len(names)

    def _applied_chain(self, owner: str, names: list[str]) -> dict[str, Window] | str:
        windows: dict[str, Window] = {}
        for index, name in enumerate(names):
            try:
                payload = read_checked(self.directory / name)
                if index == 0:
                    saved_owner, windows = load_windows(payload)
                else:
                    saved_owner, changes, topics = load_changes(payload)
                    windows = _applied(windows, changes, topics)
            except CorruptState as exc:
                return f"{exc.reason} ({name})"
            except Exception as exc:  # noqa: BLE001 - a damaged payload can fail in many ways
                return f"unreadable windows ({name}: {exc})"
            if saved_owner != owner:
                return f"its file {name} holds {saved_owner}"
        if len(names) > 1:
            for window in windows.values():
                window.make_room()
        return windows

    def write(self, round_: Round) -> RoundReport:
        """Save a round: the changed stations' files, then the manifest; then delete the files it
        no longer names. Blocking (run it in a thread); OSError when the directory cannot be written."""
        started = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        number = self.round + 1
        files = {station: self._files[station] for station in round_.kept if station in self._files}
        written = 0
        for station, windows in round_.changed.items():
            name = f"{quote(station, safe='')}-{number}{STATION_SUFFIX}"
            written += write_atomic(self.directory / name, dump_windows(station, windows), sync=self.sync)
            files[station] = [name]
        for station, (changes, topics) in round_.changes.items():
            if station not in self._files:
                raise ValueError(f"changes of station {station}, which has no file to add them to")
            name = f"{quote(station, safe='')}-{number}{STATION_SUFFIX}"
            written += write_atomic(self.directory / name, dump_changes(station, changes, topics), sync=self.sync)
            files[station] = [*self._files[station], name]
        global_file = self._global_file
        if round_.global_windows is not None:
            global_file = f"{GLOBAL}-{number}{STATION_SUFFIX}"
            payload = dump_windows(GLOBAL, round_.global_windows)
            written += write_atomic(self.directory / global_file, payload, sync=self.sync)
        manifest = {
            "format": STATE_FORMAT,
            "round": number,
            "written_at": time.time(),
            "offsets": sorted([topic, partition, offset] for (topic, partition), offset in round_.offsets.items()),
            "stations": files,
            "global": global_file,
        }
        written += write_atomic(self.manifest_path, orjson.dumps(manifest), sync=self.sync)
        if self.sync:
            sync_directory(self.directory)
        self.round, self._files, self._global_file = number, files, global_file
        self._delete_unnamed()
        written_stations = len(round_.changed) + len(round_.changes)
        return RoundReport(
            number,
            len(round_.changed),
            len(round_.changes),
            len(files) - written_stations,
            written,
            time.perf_counter() - started,
        )

    def clear(self) -> int:
        """Delete every checkpoint file; how many were deleted."""
        deleted = 0
        for path in self._own_files():
            path.unlink(missing_ok=True)
            deleted += 1
        self.round, self._files, self._global_file = 0, {}, None
        return deleted

    def describe(self) -> dict:
        """The manifest's summary and each station file's size (for `d-a state inspect`)."""
        restored = Restored()
        manifest = self._read_manifest(restored)
        if manifest is None:
            return {"directory": str(self.directory), "checkpoint": None, "problems": restored.problems}
        chains = manifest["stations"]
        names = [
            *(name for chain in chains.values() for name in chain),
            *([manifest["global"]] if manifest.get("global") else []),
        ]
        sizes = {station: _chain_size(self.directory, chain) for station, chain in chains.items()}
        return {
            "directory": str(self.directory),
            "checkpoint": {
                "round": manifest["round"],
                "written_at": manifest["written_at"],
                "stations": len(sizes),
                "bytes": sum(size for name in names if (size := _size(self.directory / name)) is not None),
                "change_files": sum(len(chain) - 1 for chain in chains.values()),
                "offsets": manifest["offsets"],
                "missing_files": sorted(station for station, size in sizes.items() if size is None),
            },
            "problems": restored.problems,
        }

    def _read_manifest(self, restored: Restored) -> dict | None:
        if not self.manifest_path.exists():
            return None
        try:
            manifest = orjson.loads(read_checked(self.manifest_path))
            _check_manifest(manifest)
        except (CorruptState, orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
            reason = exc.reason if isinstance(exc, CorruptState) else f"not a manifest ({exc})"
            self._problem(restored, f"manifest: {reason}; no window is restored")
            return None
        return manifest

    def _own_files(self) -> Iterator[Path]:
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name == MANIFEST or path.name.endswith(STATION_SUFFIX) or path.name.endswith(".tmp"):
                yield path

    def _delete_unnamed(self) -> None:
        named = {*(name for chain in self._files.values() for name in chain), self._global_file}
        for path in self._own_files():
            if path.name != MANIFEST and path.name not in named:
                path.unlink(missing_ok=True)

    def _problem(self, restored: Restored, problem: str) -> None:
        logger.warning("checkpoint in %s: %s", self.directory, problem)
        restored.problems.append(problem)


def _check_manifest(manifest: Mapping) -> None:
    if manifest.get("format") != STATE_FORMAT:
        raise ValueError(f"format {manifest.get('format')!r}, this version of d_a reads format {STATE_FORMAT}")
    if not isinstance(manifest["round"], int) or not isinstance(manifest["stations"], dict):
        raise ValueError("round or stations missing")
    for station, chain in manifest["stations"].items():
        if not isinstance(chain, list) or not chain or not all(isinstance(name, str) for name in chain):
            raise ValueError(f"station {station}: bad chain of files {chain!r}")
    for entry in manifest["offsets"]:
        topic, partition, offset = entry
        if not isinstance(topic, str) or not isinstance(partition, int) or not isinstance(offset, int):
            raise ValueError(f"bad offset entry {entry!r}")


def _applied(windows: dict[str, Window], changes: StationChanges, topics: list[str]) -> dict[str, Window]:
    """A station's windows with a change file applied: changed windows rebuilt or replaced, and
    only `topics` kept."""
    for topic, part in changes.items():
        if isinstance(part, WindowChanges):
            if topic not in windows:
                raise ValueError(f"changes of {topic}, whose window the earlier files lack")
            windows[topic] = windows[topic].applied(part)
        else:
            windows[topic] = part
    missing = [topic for topic in topics if topic not in windows]
    if missing:
        raise ValueError(f"no window of {', '.join(missing)}")
    return {topic: windows[topic] for topic in topics}


def _chain_size(directory: Path, chain: list[str]) -> int | None:
    """Bytes of a station's files; None when one is missing."""
    sizes = [_size(directory / name) for name in chain]
    return None if None in sizes else sum(size for size in sizes if size is not None)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
