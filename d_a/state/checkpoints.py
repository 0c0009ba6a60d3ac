"""CheckpointStore: a service's windows in a directory, one file per station and a manifest.

A checkpoint is taken in rounds. Each round saves the stations whose windows changed since the
round before (a station left unchanged keeps its file, which still holds its windows), then
replaces the manifest: the round number, the consumer offsets the round's windows reflect (every
message below them was applied, none above), and each station's file. Files are written whole and
renamed into place (container), the manifest last, so a crash during a round leaves the previous
round complete. Files no manifest names any more are deleted after the new one is in place.
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
from ..windows import Window
from .container import STATE_FORMAT, CorruptState, read_checked, sync_directory, write_atomic
from .saved import dump_windows, load_windows

__all__ = ["CheckpointStore", "Restored", "Round", "RoundReport"]

logger = logging.getLogger("d_a.state")

MANIFEST = "manifest"
STATION_SUFFIX = ".state"
READERS = min(4, os.cpu_count() or 1)  # files read at once at a restore (reads and checksums release the GIL)
GLOBAL = "@global"  # the global windows' file stem: no quoted station id looks like it ("@" is quoted)


@dataclass
class Round:
    """What one round saves: the offsets its windows reflect, and copies of the changed stations'
    windows (`Window.detached`); `kept` are the stations whose previous file still holds. The
    global windows (every station's calendar) are saved too, None when unchanged."""

    offsets: dict[TopicPartition, int]
    changed: dict[str, dict[str, Window]]
    kept: set[str]
    global_windows: dict[str, Window] | None = None


@dataclass
class RoundReport:
    """What a round wrote."""

    number: int
    stations_written: int
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
    damaged: set[str] = field(default_factory=set)  # stations whose file could not be read
    usable: bool = False


class CheckpointStore:
    """Checkpoints of one consumer group's windows under `directory` (created when missing)."""

    def __init__(self, directory: str | Path, *, sync: bool = True) -> None:
        self.directory = Path(directory)
        self.sync = sync  # fsync each file (off only where durability does not matter: tests, benchmarks)
        self.round = 0
        self._files: dict[str, str] = {}  # station -> its file in the last manifest
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
        files = list(manifest["stations"].items())
        self.files_to_load, self.files_loaded = len(files) + (manifest.get("global") is not None), 0
        with ThreadPoolExecutor(READERS, thread_name_prefix="d_a-restore") as pool:
            loaded = list(pool.map(self._load, files))
        for (station, name), windows in zip(files, loaded, strict=True):
            if isinstance(windows, str):
                self._problem(restored, f"station {station}: {windows}")
                restored.damaged.add(station)
            else:
                restored.stations[station] = windows
                self._files[station] = name
        name = manifest.get("global")
        if name is not None:
            windows = self._load((GLOBAL, name))
            if isinstance(windows, str):
                self._problem(restored, f"global windows: {windows}")
            else:
                restored.global_windows = windows
                self._global_file = name
        return restored

    def _load(self, file: tuple[str, str]) -> dict[str, Window] | str:
        """`_read` of (owner, name), counted in the load's progress."""
        try:
            return self._read(*file)
        finally:
            with self._progress:
                self.files_loaded += 1

    def _read(self, owner: str, name: str) -> dict[str, Window] | str:
        """The windows of `owner` in the file `name`, or what is wrong with it."""
        try:
            saved_owner, windows = load_windows(read_checked(self.directory / name))
        except CorruptState as exc:
            return f"{exc.reason} ({name})"
        except Exception as exc:  # noqa: BLE001 - a damaged payload can fail in many ways
            return f"unreadable windows ({name}: {exc})"
        if saved_owner != owner:
            return f"its file {name} holds {saved_owner}"
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
            files[station] = name
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
        return RoundReport(
            number, len(round_.changed), len(files) - len(round_.changed), written, time.perf_counter() - started
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
        names = [*manifest["stations"].values(), *([manifest["global"]] if manifest.get("global") else [])]
        sizes = {station: _size(self.directory / name) for station, name in manifest["stations"].items()}
        return {
            "directory": str(self.directory),
            "checkpoint": {
                "round": manifest["round"],
                "written_at": manifest["written_at"],
                "stations": len(sizes),
                "bytes": sum(size for name in names if (size := _size(self.directory / name)) is not None),
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
        named = {*self._files.values(), self._global_file}
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
    for entry in manifest["offsets"]:
        topic, partition, offset = entry
        if not isinstance(topic, str) or not isinstance(partition, int) or not isinstance(offset, int):
            raise ValueError(f"bad offset entry {entry!r}")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
