"""Windows as checkpoint payloads: pickled copies, and an unpickler that makes nothing else.

A checkpoint saves a station's windows as they are in memory (`dump_windows`), or what they
gained since the station's last file (`dump_changes`: per changed window its `WindowChanges`, or
the whole window when its rows changed otherwise, and the station's topics, so a window dropped
meanwhile is dropped at the restore too). The objects go in a pickle, their
numpy columns out of band as raw buffers after it (each 64-byte aligned). Writing copies no
column; loading makes the columns views of the bytes read, then moves them once to buffers with
room for new rows (which the first write would do otherwise, on the event loop). Loading builds
only the window classes of `d_a.windows`, numpy arrays and Python's own containers: a file that
asks for any other class is refused as corrupt, so a state directory cannot be used to run code.

Payload: u64 pickle length, u32 buffer count, u64 length of each buffer, the pickle, then the
buffers, each starting at a multiple of 64 bytes.
"""

from __future__ import annotations

import io
import pickle
import struct
from typing import Any

from ..windows import Window, WindowChanges

__all__ = ["StationChanges", "dump_changes", "dump_windows", "load_changes", "load_windows", "payload_size"]

StationChanges = dict[str, Window | WindowChanges]  # per topic whose window changed

Buffer = bytes | memoryview
ALIGN = 64
_COUNTS = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")

_NUMPY_NAMES = frozenset({"_reconstruct", "_frombuffer", "dtype", "scalar", "ndarray"})
_NUMPY_MODULES = frozenset(
    {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric"}
)


class RefusedClass(pickle.UnpicklingError):
    """A payload naming a class that windows do not hold."""


class _WindowUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("d_a.windows.") or (module in _NUMPY_MODULES and name in _NUMPY_NAMES):
            return super().find_class(module, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        if (module, name) == ("operator", "itemgetter"):
            return super().find_class(module, name)
        raise RefusedClass(f"a checkpoint may not hold {module}.{name}")


def _padding(size: int) -> int:
    return -size % ALIGN


def dump_windows(station: str, windows: dict[str, Window]) -> list[Buffer]:
    """The payload of one station's windows (copies from `Window.detached`), as parts to write one
    after the other; the columns are parts of their own, not copied."""
    return _dump({"station": station, "windows": windows})


def dump_changes(station: str, changes: StationChanges, topics: list[str]) -> list[Buffer]:
    """The payload of what a station's windows gained since its last file: `changes` per changed
    topic, `topics` every topic the station has now."""
    return _dump({"station": station, "windows": changes, "topics": topics})


def _dump(data: dict) -> list[Buffer]:
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(data, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    head = _COUNTS.pack(len(meta), len(raws)) + b"".join(_LENGTH.pack(raw.nbytes) for raw in raws)
    parts: list[Buffer] = [head, meta]
    size = len(head) + len(meta)
    for raw in raws:
        parts.append(bytes(_padding(size)))
        parts.append(raw)
        size += _padding(size) + raw.nbytes
    return parts


def payload_size(parts: list[Buffer]) -> int:
    return sum(memoryview(part).nbytes for part in parts)


def load_windows(payload: bytes | memoryview) -> tuple[str, dict[str, Window]]:
    """(station, {topic: window}) from a payload; pickle.UnpicklingError (or another error of a
    damaged payload) when it is not one. The columns are views of `payload` (copied first when it
    is read-only, since windows append in place) until they are moved to buffers with room for
    new rows, which happens here, in the loader's thread."""
    data = _load(payload)
    windows = data["windows"]
    if "topics" in data or not all(isinstance(window, Window) for window in windows.values()):
        raise pickle.UnpicklingError("not a station's windows")
    for window in windows.values():
        window.make_room()
    return data["station"], windows


def load_changes(payload: bytes | memoryview) -> tuple[str, StationChanges, list[str]]:
    """(station, changes per topic, the station's topics) from a payload of `dump_changes`;
    pickle.UnpicklingError when it is not one."""
    data = _load(payload)
    topics = data.get("topics")
    if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
        raise pickle.UnpicklingError("not a station's changes")
    for part in data["windows"].values():
        if isinstance(part, WindowChanges):
            if not isinstance(part.window, Window) or not isinstance(part.kept, int) or part.kept < 0:
                raise pickle.UnpicklingError("not a window's changes")
        elif not isinstance(part, Window):
            raise pickle.UnpicklingError("not a station's changes")
    return data["station"], data["windows"], topics


def _load(payload: bytes | memoryview) -> dict:
    view = memoryview(payload)
    if view.readonly:
        view = memoryview(bytearray(view))
    try:
        meta_length, count = _COUNTS.unpack_from(view)
        lengths = [_LENGTH.unpack_from(view, _COUNTS.size + i * _LENGTH.size)[0] for i in range(count)]
    except struct.error as exc:
        raise pickle.UnpicklingError(f"not a payload of windows ({exc})") from exc
    start = _COUNTS.size + count * _LENGTH.size
    meta = view[start : start + meta_length]
    position = start + meta_length
    buffers = []
    for length in lengths:
        position += _padding(position)
        if position + length > view.nbytes:
            raise pickle.UnpicklingError("a column runs past the end of the payload")
        buffers.append(view[position : position + length])
        position += length
    data = _WindowUnpickler(io.BytesIO(meta), buffers=buffers).load()
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("station"), str)
        or not isinstance(data.get("windows"), dict)
        or not all(isinstance(topic, str) for topic in data["windows"])
    ):
        raise pickle.UnpicklingError("not a station's windows")
    return data
