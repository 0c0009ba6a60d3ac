"""`d-a state inspect|clear`: what an operator sees of a checkpoint, and deleting one."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import yaml

from d_a import DataDispatcher
from d_a.cli import main
from d_a.kafka import TopicPartition
from d_a.kafka.slots import slot_of
from d_a.service.checkpointing import SlotScope
from d_a.simulator import StationSimulator
from d_a.state import CheckpointStore
from d_a.state.rounds import RoundTaker

GROUP = "data_analysis_group.operation_optimization"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    dispatcher = DataDispatcher()
    simulator = StationSimulator(stations=4, seed=1)
    for message in simulator.initial_messages() + simulator.advance(30):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    offsets = {TopicPartition("SCHEDULE-DEVICE-GUN", 0): 41}
    store, taker = CheckpointStore(tmp_path / "state" / GROUP), RoundTaker(whole_every=8)
    store.write(taker.take(dispatcher.windows, offsets, 1))
    taker.saved()
    for message in simulator.advance(30):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    store.write(taker.take(dispatcher.windows, offsets, 2))  # most stations as their changes
    return tmp_path / "state"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["state", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_lists_each_group_with_its_round_and_stations(state_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "inspect", "--state-dir", str(state_dir))
    assert code == 0
    assert GROUP in out and "│ 2 " in out and "│ 4 " in out


def test_inspect_reads_the_state_dir_of_the_configuration(state_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"service": {"state_dir": str(state_dir)}}), encoding="utf-8")
    code, out, _ = run(capsys, "inspect", "--config", str(config), "--json")
    summary = json.loads(out)[GROUP]["checkpoint"]
    assert code == 0
    assert summary["stations"] == 4 and summary["offsets"] == [["SCHEDULE-DEVICE-GUN", 0, 41]]
    assert summary["change_files"] == sum(CheckpointStore(state_dir / GROUP).load().changes.values()) > 0


def test_inspect_exits_1_and_names_a_damaged_file(state_dir: Path, capsys) -> None:
    station_file = next((state_dir / GROUP).glob("ST0002-*.state"))
    station_file.unlink()
    code, out, _ = run(capsys, "inspect", "--state-dir", str(state_dir))
    assert code == 1
    assert "files missing for ST0002" in out


def test_clear_deletes_the_named_group_only(state_dir: Path, capsys) -> None:
    other = state_dir / "other.group"
    other.mkdir()
    (other / "manifest").write_bytes(b"x")
    files = len(list((state_dir / GROUP).iterdir()))  # the manifest, the stations' chains, the global windows
    code, out, _ = run(capsys, "clear", "--state-dir", str(state_dir), "--group", GROUP)
    assert code == 0 and f"{files} files deleted" in out and files > 6
    assert list((state_dir / GROUP).iterdir()) == []
    assert (other / "manifest").exists()


def test_clear_needs_a_group_or_all(state_dir: Path, capsys) -> None:
    code, _, err = run(capsys, "clear", "--state-dir", str(state_dir))
    assert code == 2 and "--group GROUP, or --all" in err
    assert (state_dir / GROUP / "manifest").exists()


def test_without_a_state_dir_it_says_where_to_set_one(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATA_ANALYSIS_CONFIG_PATH", raising=False)
    code, _, err = run(capsys, "inspect")
    assert code == 2 and "set service.state_dir" in err


def test_a_scaled_out_group_shows_and_clears_each_slot(tmp_path: Path, capsys) -> None:
    dispatcher = DataDispatcher()
    simulator = StationSimulator(stations=6, seed=2)
    for message in simulator.initial_messages() + simulator.advance(10):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    root = tmp_path / "state"
    for slot in (0, 1, 10):  # what SlotStates writes: one directory per slot
        scope = SlotScope(slot, 12)
        store = CheckpointStore(root / GROUP / f"slot-{slot}")
        store.write(RoundTaker().take(dispatcher.windows, {TopicPartition("T", slot): 5}, 1, stations=scope))
    code, out, _ = run(capsys, "inspect", "--state-dir", str(root), "--json")
    found = json.loads(out)
    assert code == 0 and list(found) == [f"{GROUP}/slot-0", f"{GROUP}/slot-1", f"{GROUP}/slot-10"]
    assert sum(summary["checkpoint"]["stations"] for summary in found.values()) == sum(
        1 for s in dispatcher.stations() if slot_of(s, 12) in (0, 1, 10)
    )
    code, out, _ = run(capsys, "clear", "--state-dir", str(root), "--group", GROUP)
    assert code == 0 and out.count("files deleted") == 3
    assert not list((root / GROUP).glob("slot-*/manifest"))
