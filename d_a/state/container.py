"""The checkpoint file: a header (magic, format version, length, CRC-32C) and a payload.

Files are written whole to a temporary name, flushed to disk and renamed over the old one, so a
reader sees the old file or the new one, never a mix; a file cut short or changed on disk fails
its length or checksum and is reported, never read as state.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

import crc32c
import numpy as np

__all__ = ["STATE_FORMAT", "CorruptState", "read_checked", "sync_directory", "write_atomic"]

STATE_FORMAT = 2  # bump when what a checkpoint holds changes (a window class's attributes, the manifest)
MAGIC = b"d_a-state\n"
HEADER = struct.Struct("<10sHQI")  # magic, format, payload length, CRC-32C of the payload


class CorruptState(Exception):
    """A checkpoint file that cannot be used: damaged, cut short, or of another format."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def write_atomic(path: Path, payload: bytes | memoryview | Sequence[bytes | memoryview], *, sync: bool = True) -> int:
    """Write `payload` (or its parts, one after the other) to `path` with a header, replacing any
    file there at once; the bytes written."""
    parts = [payload] if isinstance(payload, bytes | memoryview) else payload
    length, crc = 0, 0
    for part in parts:
        length += memoryview(part).nbytes
        crc = crc32c.crc32c(part, crc)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(HEADER.pack(MAGIC, STATE_FORMAT, length, crc))
        for part in parts:
            file.write(part)
        file.flush()
        if sync:
            os.fsync(file.fileno())
    os.replace(temporary, path)
    return HEADER.size + length


def read_checked(path: Path) -> memoryview:
    """The payload of the file at `path`, writable; CorruptState when it is not a whole, unchanged
    file of this format."""
    try:
        with open(path, "rb", buffering=0) as file:
            room = np.empty(os.fstat(file.fileno()).st_size, np.uint8).data  # not zeroed, unlike a bytearray
            data = room[: file.readinto(room)]
    except OSError as exc:
        raise CorruptState(path, f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) < HEADER.size:
        raise CorruptState(path, f"{len(data)} bytes, shorter than the header")
    magic, version, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptState(path, "not a d_a checkpoint file")
    if version != STATE_FORMAT:
        raise CorruptState(path, f"format {version}, this version of d_a reads format {STATE_FORMAT}")
    payload = data[HEADER.size :]
    if len(payload) != length:
        raise CorruptState(path, f"payload of {len(payload)} bytes, the header says {length}")
    if crc32c.crc32c(payload) != crc:
        raise CorruptState(path, "checksum mismatch")
    return payload


def sync_directory(directory: Path) -> None:
    """Make the renames in `directory` durable (where the platform allows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
