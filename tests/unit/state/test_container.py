"""The checkpoint file: whole or refused, with the reason."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from d_a.state import STATE_FORMAT, CorruptState
from d_a.state.container import HEADER, read_checked, write_atomic


def test_a_file_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    written = write_atomic(path, b"windows" * 1000)
    assert written == path.stat().st_size
    assert bytes(read_checked(path)) == b"windows" * 1000


def test_a_payload_in_parts_reads_back_whole_and_writable(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    written = write_atomic(path, [b"win", memoryview(b"dows" * 1000), b""])
    assert written == path.stat().st_size
    payload = read_checked(path)
    assert bytes(payload) == b"win" + b"dows" * 1000
    assert not payload.readonly


def test_writing_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    write_atomic(path, b"old")
    write_atomic(path, b"new", sync=False)
    assert bytes(read_checked(path)) == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.state"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[:-5], "payload of"),
        (lambda data: data[:10], "shorter than the header"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "checksum mismatch"),
        (lambda data: b"something" + data[9:], "not a d_a checkpoint file"),
        (lambda data: data[:10] + struct.pack("<H", STATE_FORMAT + 1) + data[12:], f"format {STATE_FORMAT + 1}"),
    ],
    ids=["cut short", "header only", "changed byte", "other file", "newer format"],
)
def test_a_damaged_file_is_refused_with_its_reason(tmp_path: Path, damage, reason: str) -> None:
    path = tmp_path / "s.state"
    write_atomic(path, b"x" * 100)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptState, match=reason) as raised:
        read_checked(path)
    assert raised.value.path == path


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorruptState, match="cannot be read"):
        read_checked(tmp_path / "gone.state")


def test_the_header_is_fixed_size() -> None:
    assert HEADER.size == 24
