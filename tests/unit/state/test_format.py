"""Checkpoints written by an earlier build of this format load as the windows they held; files of
another format are refused, never misread. A change to what windows hold (a class's attributes)
breaks the first test: then bump STATE_FORMAT and write a sample of the new format
(checkpoint_sample.py)."""

from __future__ import annotations

from checkpoint_sample import DATA, OFFSETS, sample_dir, sample_dispatcher

from d_a.state import STATE_FORMAT, CheckpointStore


def test_the_sample_of_this_format_loads_as_the_windows_it_holds() -> None:
    restored = CheckpointStore(sample_dir()).load()
    assert restored.problems == []
    assert restored.offsets == OFFSETS
    expected = sample_dispatcher()
    held = {
        **{(s, t): w for s, ws in restored.stations.items() for t, w in ws.items()},
        **{(None, t): w for t, w in restored.global_windows.items()},
    }
    wanted = {
        **{(s, t): w for s, ws in expected.data_cache.items() for t, w in ws.items()},
        **{(None, t): w for t, w in expected.windows.global_windows.items()},
    }
    assert held.keys() == wanted.keys()
    for key, window in held.items():
        window.attach(None)
        assert window.spec == wanted[key].spec, key
        assert window.records() == wanted[key].records(), key
        assert len(window.times()) == len(wanted[key].times()), key  # times of records without one: arrival


def test_samples_of_other_formats_are_refused() -> None:
    for directory in DATA.glob("format-*"):
        if directory.name == f"format-{STATE_FORMAT}":
            continue
        restored = CheckpointStore(directory).load()
        assert restored.stations == {}
        assert "this version of d_a reads format" in restored.problems[0]
