"""Windows saved and loaded: every kind comes back value for value, and a saved copy is not
changed by later writes to the window it was taken from."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import orjson
import pytest

from d_a import DataDispatcher
from d_a.simulator.engine import StationSimulator
from d_a.state.saved import RefusedClass, dump_windows, load_windows
from d_a.windows import Window


def _payload(station: str, windows: dict[str, Window]) -> bytes:
    """The payload as a reader gets it back from a file."""
    return b"".join(dump_windows(station, {topic: window.detached() for topic, window in windows.items()}))


def _framed(meta: bytes) -> bytes:
    """A pickle framed as a payload without columns."""
    return struct.pack("<QI", len(meta), 0) + meta


def _same_content(a: Window, b: Window) -> None:
    assert type(a) is type(b)
    assert a.spec == b.spec
    assert a.records() == b.records()
    assert np.array_equal(a.times(), b.times())
    for field in a.spec.fields:
        assert a.column(field) == b.column(field)


def _same(a: Window, b: Window) -> None:
    _same_content(a, b)
    assert a.last_update == b.last_update


def test_every_window_of_a_station_comes_back_value_for_value(dispatcher: DataDispatcher) -> None:
    for station, windows in dispatcher.data_cache.items():
        loaded_station, loaded = load_windows(_payload(station, windows))
        assert loaded_station == station
        assert loaded.keys() == windows.keys()
        kinds = set()
        for topic, window in windows.items():
            loaded[topic].attach(None)
            _same(window, loaded[topic])
            kinds.add(window.kind)
        assert kinds >= {"latest", "replace", "append", "per_second", "per_device"}


def test_module_inputs_from_loaded_windows_equal_the_originals(dispatcher: DataDispatcher, fed) -> None:
    restored = fed(global_only=True)
    restored.restore_windows(
        {station: load_windows(_payload(station, windows))[1] for station, windows in dispatcher.data_cache.items()}
    )
    for station in dispatcher.stations():
        for module in dispatcher.config.modules:
            assert restored.get_module_input(station, module) == dispatcher.get_module_input(station, module), module


def test_a_saved_copy_keeps_what_the_window_held_when_it_was_taken(fed) -> None:
    dispatcher = fed(stations=2, seconds=60)
    station = dispatcher.stations()[0]
    windows = dispatcher.data_cache[station]
    before = {topic: (window.records(), window.times().tolist()) for topic, window in windows.items()}
    saved = {topic: window.detached() for topic, window in windows.items()}
    later = fed(stations=2, seconds=120)  # the same feed, a minute longer
    for topic, window in later.data_cache[station].items():
        if topic in windows:
            windows[topic].add_many(window.records(), window.times().tolist())
    assert any(windows[t].records() != before[t][0] for t in windows)  # the windows did change
    _, loaded = load_windows(b"".join(dump_windows(station, saved)))
    for topic, window in loaded.items():
        assert (window.records(), window.times().tolist()) == before[topic]


def test_loaded_windows_go_on_taking_data_like_the_originals(fed) -> None:
    dispatcher = fed(stations=2, seconds=60)
    station = dispatcher.stations()[0]
    windows = dispatcher.data_cache[station]
    _, loaded = load_windows(_payload(station, windows))
    for window in loaded.values():  # room made while loading, not by the first write
        assert window._store.capacity > len(window._store) or not len(window._store)
    later = fed(stations=2, seconds=120)
    for topic, window in later.data_cache[station].items():
        if topic in windows:
            loaded[topic].attach(None)
            for target in (windows[topic], loaded[topic]):
                target.add_many(window.records(), window.times().tolist())
            _same_content(windows[topic], loaded[topic])


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_payload_naming_another_class_is_refused() -> None:
    payload = _framed(pickle.dumps({"station": "S", "windows": {"T": _Evil()}}, protocol=5))
    with pytest.raises(RefusedClass, match="builtins.print"):
        load_windows(payload)


def test_a_payload_that_is_not_windows_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError):
        load_windows(_framed(pickle.dumps({"station": "S", "windows": {"T": [1, 2]}})))
    with pytest.raises(pickle.UnpicklingError):
        load_windows(b"\x80\x05")
    with pytest.raises(Exception):  # noqa: B017 - a damaged payload may fail in any way
        load_windows(_framed(b"\x80\x05garbage"))


def test_windows_rebuilt_from_rounds_of_changes_give_the_same_module_inputs(fed) -> None:
    """The simulator's feed in rounds of 30 s: each window saved whole once, then as its changes
    (written and read back as a checkpoint does); module inputs from the rebuilt windows equal
    the originals after every round."""
    simulator = StationSimulator(stations=2, seed=9)
    live = DataDispatcher()
    for message in simulator.initial_messages() + simulator.advance(120):
        live.ingest(message.topic, orjson.loads(message.value))
    saved = {s: load_windows(_payload(s, ws))[1] for s, ws in live.data_cache.items()}
    marks = {(s, t): w.mark() for s, ws in live.data_cache.items() for t, w in ws.items()}
    partial = 0
    for _ in range(4):
        for message in simulator.advance(30):
            live.ingest(message.topic, orjson.loads(message.value))
        for station, windows in live.data_cache.items():
            for topic, window in windows.items():
                changes = window.copy_changes_since(marks[(station, topic)]) if (station, topic) in marks else None
                if changes is None:
                    saved[station][topic] = load_windows(_payload(station, {topic: window}))[1][topic]
                else:
                    partial += 1
                    saved[station][topic] = saved[station][topic].applied(pickle.loads(pickle.dumps(changes)))
                marks[(station, topic)] = window.mark()
        restored = fed(global_only=True)
        restored.restore_windows({s: {t: w.detached() for t, w in ws.items()} for s, ws in saved.items()})
        for station in live.stations():
            for module in live.config.modules:
                assert restored.get_module_input(station, module) == live.get_module_input(station, module), module
    assert partial
