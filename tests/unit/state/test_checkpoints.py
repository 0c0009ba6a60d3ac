"""CheckpointStore and RoundTaker: rounds save what changed, a restore reads the last complete
round, and damage is reported per station, never raised."""

from __future__ import annotations

import logging
import threading
import zlib
from pathlib import Path

import orjson
import pytest
from helpers import wait_for

from d_a import DataDispatcher
from d_a.kafka import TopicPartition
from d_a.simulator import StationSimulator
from d_a.state import CheckpointStore, checkpoints
from d_a.state.rounds import RoundTaker
from d_a.windows import Window

OFFSETS = {TopicPartition("SCHEDULE-DEVICE-GUN", 0): 120, TopicPartition("SCHEDULE-CAR-ORDER", 2): 7}


def _save(store: CheckpointStore, taker: RoundTaker, dispatcher: DataDispatcher, offsets=OFFSETS):
    report = store.write(taker.take(dispatcher.windows, dict(offsets)))
    taker.saved()
    return report


def _records(dispatcher: DataDispatcher) -> dict:
    return {s: {t: w.records() for t, w in ws.items()} for s, ws in dispatcher.data_cache.items()}


def test_a_round_restores_every_station_and_its_offsets(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    report = _save(CheckpointStore(tmp_path), RoundTaker(), dispatcher)
    assert (report.number, report.stations_written, report.stations_kept) == (1, 3, 0)
    restored = CheckpointStore(tmp_path).load()
    assert restored.round == 1
    assert restored.offsets == OFFSETS
    assert restored.problems == []
    assert {s: {t: w.records() for t, w in ws.items()} for s, ws in restored.stations.items()} == _records(dispatcher)


def test_a_round_writes_only_the_stations_that_changed(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    store, taker = CheckpointStore(tmp_path), RoundTaker()
    _save(store, taker, dispatcher)
    station = dispatcher.stations()[1]
    dispatcher.update_topic_data(station, "SCHEDULE-DEVICE-ERROR", {"hostError": 7, "sendTime": "2025-11-01 00:09:00"})
    report = _save(store, taker, dispatcher, {**OFFSETS, TopicPartition("SCHEDULE-DEVICE-ERROR", 0): 1})
    assert (report.number, report.stations_written, report.stations_kept) == (2, 1, 2)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 5 and "manifest" in files  # the changed station's round-1 file is gone
    restored = CheckpointStore(tmp_path).load()
    assert restored.round == 2
    assert restored.offsets[TopicPartition("SCHEDULE-DEVICE-ERROR", 0)] == 1
    assert restored.stations[station]["SCHEDULE-DEVICE-ERROR"].latest()["hostError"] == 7
    assert {s: {t: w.records() for t, w in ws.items()} for s, ws in restored.stations.items()} == _records(dispatcher)


def test_a_station_dropped_since_the_last_round_is_not_restored(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    store, taker = CheckpointStore(tmp_path), RoundTaker()
    _save(store, taker, dispatcher)
    gone = dispatcher.stations()[0]
    dispatcher.remove_station(gone)
    _save(store, taker, dispatcher)
    assert gone not in CheckpointStore(tmp_path).load().stations
    assert not any(p.name.startswith(gone) for p in tmp_path.iterdir())


def test_a_damaged_station_file_leaves_only_that_station_out(
    tmp_path: Path, dispatcher: DataDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    _save(CheckpointStore(tmp_path), RoundTaker(), dispatcher)
    damaged = dispatcher.stations()[2]
    path = next(p for p in tmp_path.iterdir() if p.name.startswith(damaged))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, "d_a.state"):
        restored = CheckpointStore(tmp_path).load()
    assert sorted(restored.stations) == sorted(set(dispatcher.stations()) - {damaged})
    assert restored.problems == [f"station {damaged}: checksum mismatch ({path.name})"]
    assert f"station {damaged}: checksum mismatch" in caplog.text


def test_a_damaged_manifest_restores_nothing_and_says_so(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    _save(CheckpointStore(tmp_path), RoundTaker(), dispatcher)
    (tmp_path / "manifest").write_bytes(b"half a manifest")
    restored = CheckpointStore(tmp_path).load()
    assert restored.stations == {} and restored.offsets == {} and restored.round == 0
    assert restored.problems == ["manifest: 15 bytes, shorter than the header; no window is restored"]


def test_no_checkpoint_restores_nothing_without_a_problem(tmp_path: Path) -> None:
    restored = CheckpointStore(tmp_path / "new").load()
    assert (restored.stations, restored.offsets, restored.problems) == ({}, {}, [])


def test_a_round_that_was_not_written_is_taken_again(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    taker = RoundTaker()
    taker.take(dispatcher.windows, {})  # its write failed: `saved` was never called
    assert len(taker.take(dispatcher.windows, {}).changed) == 3


def test_clear_deletes_every_checkpoint_file(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, RoundTaker(), dispatcher)
    (tmp_path / "notes.txt").write_text("the operator's")
    assert store.clear() == 5  # the manifest, three stations, the global windows
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert not store.exists()


def test_describe_summarises_the_last_round(tmp_path: Path, dispatcher: DataDispatcher) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, RoundTaker(), dispatcher)
    summary = store.describe()["checkpoint"]
    assert summary["round"] == 1 and summary["stations"] == 3 and summary["missing_files"] == []
    assert summary["bytes"] == sum(p.stat().st_size for p in tmp_path.iterdir() if p.name != "manifest")
    assert summary["offsets"] == [["SCHEDULE-CAR-ORDER", 2, 7], ["SCHEDULE-DEVICE-GUN", 0, 120]]


def test_a_load_reports_its_progress_while_it_runs(tmp_path: Path, dispatcher: DataDispatcher, monkeypatch) -> None:
    _save(CheckpointStore(tmp_path, sync=False), RoundTaker(), dispatcher)
    gate = threading.Event()
    load_windows = checkpoints.load_windows

    def held(payload):
        gate.wait(10)
        return load_windows(payload)

    monkeypatch.setattr(checkpoints, "load_windows", held)
    store = CheckpointStore(tmp_path)
    loading = threading.Thread(target=store.load)
    loading.start()
    try:
        wait_for(lambda: store.files_to_load > 0, 5)
        assert store.files_loaded == 0
    finally:
        gate.set()
        loading.join(10)
    assert store.files_loaded == store.files_to_load >= len(dispatcher.stations())


def _feed_rounds(rounds: int, seconds: int = 30, stations: int = 4):
    """A dispatcher fed the simulator's first minutes, then `seconds` more before each round."""
    simulator = StationSimulator(stations=stations, seed=21)
    dispatcher = DataDispatcher()
    for message in simulator.initial_messages() + simulator.advance(120):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    for _ in range(rounds):
        yield dispatcher
        for message in simulator.advance(seconds):
            dispatcher.ingest(message.topic, orjson.loads(message.value))


def _inputs(dispatcher: DataDispatcher, stations: dict[str, dict[str, Window]] | None = None) -> dict:
    """Every station's module inputs, from `stations`' windows when given (restored ones)."""
    if stations is not None:
        restored = DataDispatcher()
        restored.restore_windows(stations, {t: w.detached() for t, w in dispatcher.windows.global_windows.items()})
        dispatcher = restored
    return {(s, m): dispatcher.get_module_input(s, m) for s in dispatcher.stations() for m in dispatcher.config.modules}


def test_rounds_of_changes_restore_the_same_module_inputs_and_chains_stay_short(tmp_path: Path) -> None:
    """Stations saved as their changes between staggered whole saves: after every round a
    restore gives the module inputs of the live windows, and no chain outgrows `whole_every`."""
    store, taker = CheckpointStore(tmp_path, sync=False), RoundTaker(whole_every=4)
    reports = []
    for number, dispatcher in enumerate(_feed_rounds(9), 1):
        reports.append(store.write(taker.take(dispatcher.windows, dict(OFFSETS), number)))
        taker.saved()
        restored = CheckpointStore(tmp_path).load()
        assert restored.problems == [] and restored.round == number
        assert all(0 <= count <= 3 for count in restored.changes.values())
        assert _inputs(dispatcher, restored.stations) == _inputs(dispatcher)
    assert reports[0].stations_written == 4 and reports[0].stations_changed == 0
    later = reports[1:]
    assert sum(r.stations_changed for r in later) > sum(r.stations_written for r in later) > 0
    assert any(r.stations_written and r.stations_changed for r in later)  # whole saves take turns
    named = {name for chain in store._files.values() for name in chain} | {store._global_file, "manifest"}
    assert {p.name for p in tmp_path.iterdir()} == named  # files of replaced chains are gone


def test_a_restored_chain_grows_on_after_the_restore(tmp_path: Path) -> None:
    feed = _feed_rounds(3)
    dispatcher = next(feed)
    store, taker = CheckpointStore(tmp_path, sync=False), RoundTaker(whole_every=8)
    store.write(taker.take(dispatcher.windows, {}, 1))
    taker.saved()
    next(feed)
    store.write(taker.take(dispatcher.windows, {}, 2))
    taker.saved()

    reopened = CheckpointStore(tmp_path, sync=False)
    restored = reopened.load()
    again = DataDispatcher()
    again.restore_windows(restored.stations, {t: w.detached() for t, w in dispatcher.windows.global_windows.items()})
    resumed = RoundTaker(whole_every=8)
    resumed.note_saved(again.windows, restored.changes)
    station = again.stations()[0]
    again.update_topic_data(station, "SCHEDULE-DEVICE-ERROR", {"hostError": 3, "sendTime": "2025-11-01 00:09:00"})
    report = reopened.write(resumed.take(again.windows, {}, 3))
    if (3 + zlib.crc32(station.encode())) % 8:  # not this station's turn to be saved whole
        assert (report.stations_written, report.stations_changed) == (0, 1)
        assert len(reopened._files[station]) == restored.changes[station] + 2
    assert CheckpointStore(tmp_path).load().stations[station]["SCHEDULE-DEVICE-ERROR"].latest()["hostError"] == 3


def test_a_damaged_change_file_leaves_only_its_station_out(tmp_path: Path) -> None:
    store, taker = CheckpointStore(tmp_path, sync=False), RoundTaker(whole_every=100)
    for number, dispatcher in enumerate(_feed_rounds(2), 1):
        store.write(taker.take(dispatcher.windows, {}, number))
        taker.saved()
    station, chain = next((s, c) for s, c in store._files.items() if len(c) == 2)
    path = tmp_path / chain[1]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    restored = CheckpointStore(tmp_path).load()
    assert restored.damaged == {station}
    assert restored.problems == [f"station {station}: checksum mismatch ({chain[1]})"]
    assert set(restored.stations) == set(store._files) - {station}


def test_a_window_dropped_between_rounds_is_not_restored(tmp_path: Path) -> None:
    store, taker = CheckpointStore(tmp_path, sync=False), RoundTaker(whole_every=100)
    dispatcher = next(_feed_rounds(1))
    store.write(taker.take(dispatcher.windows, {}, 1))
    taker.saved()
    station = dispatcher.stations()[0]
    windows = dispatcher.windows.by_station[station]
    dropped = next(iter(windows))
    del windows[dropped]
    windows["SCHEDULE-CAR-ORDER"].clear()  # rows changed other than by appending: saved whole
    report = store.write(taker.take(dispatcher.windows, {}, 2))
    assert report.stations_changed == 1
    restored = CheckpointStore(tmp_path).load().stations[station]
    assert dropped not in restored and set(restored) == set(windows)
    assert restored["SCHEDULE-CAR-ORDER"].records() == []
