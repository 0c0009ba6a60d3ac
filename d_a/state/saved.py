"""Windows as checkpoint payloads: pickled copies, and an unpickler that makes nothing else.

A checkpoint saves a station's windows as they are in memory: the objects as a pickle, their
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

from ..windows import Window

__all__ = ["dump_windows", "load_windows", "payload_size"]

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
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps({"station": station, "windows": windows}, protocol=5, buffer_callback=buffers.append)
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
    ):
        raise pickle.UnpicklingError("not a station's windows")
    windows = data["windows"]
    if not all(isinstance(topic, str) and isinstance(window, Window) for topic, window in windows.items()):
        raise pickle.UnpicklingError("not a station's windows")
    for window in windows.values():
        window.make_room()
    return data["station"], windows
