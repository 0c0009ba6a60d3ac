"""What one topic's window contributes to a module input.

For each field `f`: `f` (the current value, None when the window is empty) and `f_window` (the
window's values, oldest first, aligned and padded when a strategy is set). Kind-specific extras:
a per_second topic gives the completed second's records, a per_device topic each device's latest
record (both under the topic's `records_key`); a topic with `align_by` gives one key order over the
whole window (e.g. `gunNo`) and its `aligned_fields` as rows aligned to that order, each table with
its own key order (`status_gunNo`). The names follow `d_a.config.input_names`.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections import Counter
from typing import Any

import numpy as np

from ..config.input_names import default_records_key, input_names, order_name, records_key, window_name
from ..config.schema import TopicConfig
from ..topics.routing import STATION_ID_KEYS
from ..windows import PerDeviceWindow, PerSecondWindow, Window, align_listed
from ..windows.codecs import Unfit
from ..windows.sliding import SlidingArray
from .aligned_table import AlignedTable
from .growing_table import GrowingTable
from .module_input import ModuleInput

__all__ = ["TopicInputCache", "current_position", "default_records_key", "empty_inputs", "lend", "topic_inputs"]

CACHE_SLOT = "module_inputs"
POSITION_SLOT = "current_position"
MAX_BORROWERS = 16  # dead references are pruned when an entry has lent to this many inputs


def _fields(config: TopicConfig, window: Window | None) -> list[str]:
    """The fields a topic contributes (station ids are routing keys: `stationId` is set once)."""
    if config.fields:
        names = list(config.fields)
    else:
        latest = window.latest() if window is not None else None
        names = [k for k in latest if k != config.time_field] if latest else []
    return [name for name in names if name not in STATION_ID_KEYS]


def empty_inputs(topic: str, config: TopicConfig) -> dict[str, Any]:
    """The keys of a topic with no data (the same keys as with data, when its fields are
    configured): every field None, every window, key order and record list empty."""
    fields = _fields(config, None)
    values = {*_plain_fields(config, None), *config.aligned_fields}
    return {name: None if name in values else [] for name in input_names(topic, config, fields)}


def topic_inputs(
    topic: str,
    config: TopicConfig,
    window: Window | None,
    *,
    padding: str | None,
    fmt: str,
    now: float,
) -> dict[str, Any]:
    """The module-input keys of one topic's window (see module docstring)."""
    if window is None or not len(window):
        return empty_inputs(topic, config)
    current = _current_record(config, window, now)
    inputs: dict[str, Any] = {}
    for field in _plain_fields(config, window):
        inputs[field] = current.get(field) if current else None
        inputs[window_name(field)] = window.column(field, padding, fmt)
    if config.align_by:
        inputs.update(_aligned_inputs(config, window, padding, fmt))
    inputs.update(_records_input(topic, config, window))
    return inputs


def _plain_fields(config: TopicConfig, window: Window | None) -> list[str]:
    """The fields given as `f` and `f_window` (the aligned ones come as tables instead)."""
    aligned = set(config.aligned_fields)
    if config.align_by:
        aligned.add(config.align_by)
    return [field for field in _fields(config, window) if field not in aligned]


def _records_input(topic: str, config: TopicConfig, window: Window) -> dict[str, list[dict]]:
    """The kind's records (per_second: the completed second; per_device: each device's latest)."""
    key = records_key(topic, config)
    if not key:
        return {}
    if isinstance(window, PerSecondWindow):
        return {key: window.completed_second()}
    assert isinstance(window, PerDeviceWindow)  # the only other kind with records (`records_key`)
    return {key: window.devices()}


def _current_record(config: TopicConfig, window: Window, now: float) -> dict | None:
    """The newest record, or with `current: in_effect` the newest one whose time has come."""
    if config.current == "newest":
        return window.latest()
    times = window.times()
    position = int(np.searchsorted(times, now, side="right")) - 1
    if position < 0:
        return None
    return window.records()[position]


def _aligned_inputs(config: TopicConfig, window: Window, padding: str | None, fmt: str) -> dict[str, Any]:
    """One key order over the window and each aligned field's rows re-indexed to it, with the
    table's own key order (`status_gunNo`: the first field's order is the topic's `gunNo` too).

    Records whose key holds a list (REALTIME-DATA's `gunNo` with per-gun lists) are one row
    each; records keyed by one value (DEVICE-GUN, one record per gun) form a row per time slot.
    """
    key = config.align_by
    assert key is not None
    latest = window.latest()
    listed = latest is not None and isinstance(latest.get(key), list)
    records = window.records() if listed else []
    inputs: dict[str, Any] = {}
    for field in config.aligned_fields:
        if listed:
            order, matrix = align_listed([r for r in records if _listed(r, key, field)], key, field, padding)
            table: list | np.ndarray = _as_format(matrix, fmt)
        else:
            order, table = window.pivot(key, field, padding, fmt)
        inputs.setdefault(key, order)
        inputs[field] = table[-1] if len(table) else None
        inputs[window_name(field)] = table
        inputs[order_name(field, key)] = order
    inputs.setdefault(key, [])
    return inputs


def _listed(record: dict, key: str, field: str) -> bool:
    return isinstance(record.get(key), list) and isinstance(record.get(field), list)


def _as_format(matrix: list[list[Any]], fmt: str) -> list[list[Any]] | np.ndarray:
    if fmt != "numpy":
        return matrix
    try:
        return np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(matrix, dtype=object)


@dataclasses.dataclass(eq=False)
class _Entry:
    """A topic's inputs as of one window version (and the rows they were built from)."""

    key: tuple
    version: int
    mark: tuple[int, int, int]
    size: int
    values: dict[str, Any]
    extendable: bool
    table: AlignedTable | None = None  # what extending an `align_by` topic's tables needs
    fields: list[str] = dataclasses.field(default_factory=list)  # the plain fields, whose lists are extended
    window_keys: list[str] = dataclasses.field(init=False)  # their `f_window` keys
    arrays: dict[str, SlidingArray | None] | None = None  # numpy format: each plain field's growing array
    # (None: the window's own buffer, viewed)
    grids: dict[str, GrowingTable] | None = None  # numpy format: each aligned field's growing table
    borrowers: list[weakref.ref] = dataclasses.field(default_factory=list)  # inputs that may still read `values`

    def __post_init__(self) -> None:
        self.window_keys = [window_name(name) for name in self.fields]

    @property
    def lends(self) -> bool:
        """Whether its values change in place (lists), so inputs holding them need copies first."""
        return self.extendable and self.arrays is None


class TopicInputCache:
    """Reuses a topic's inputs while its window is unchanged, and extends them while it only grows.

    Most topics change far less often than a station runs (parameters, prices, hourly history,
    5-minute meters), so a station's run rebuilds only what changed; a window that only gained
    records at its end and lost its oldest ones (car orders, meters, unpadded lists) has its lists
    extended by the new records instead of rebuilt. `get` returns the cached values themselves:
    callers must not change them, and pass the ModuleInput that hands them out (it copies a list or
    dict when it is read); before lists are extended in place, the inputs still alive that have not
    read them get their copies, so an input keeps what it held when it was built. numpy arrays are
    marked read-only. The entry lives on the window (`Window.derived`), so it goes with it.
    """

    def __init__(self) -> None:
        self.builds: Counter[str] = Counter()  # per topic: inputs built from scratch (not reused or extended)

    def get(
        self,
        topic: str,
        config: TopicConfig,
        window: Window | None,
        *,
        padding: str | None,
        fmt: str,
        now: float,
        borrower: ModuleInput | None = None,
    ) -> dict[str, Any]:
        entry = self.entry(topic, config, window, padding=padding, fmt=fmt, now=now)
        if borrower is not None and entry.lends:
            lend([entry], borrower)
        return entry.values

    def entry(
        self, topic: str, config: TopicConfig, window: Window | None, *, padding: str | None, fmt: str, now: float
    ) -> _Entry:
        """The cache entry `get` takes its values from (an uncached one for an empty window); its
        lists are extended in place only when `extendable`, and then only after `lend` borrowers
        got their copies."""
        if window is None or not len(window):
            return _Entry((), 0, (0, 0, 0), 0, empty_inputs(topic, config), extendable=False)
        key = (self, padding, fmt, current_position(config, window, now))
        cached = window.derived.get(CACHE_SLOT)
        entry = cached if isinstance(cached, _Entry) and cached.key == key else None
        if entry is None or (entry.version != window.version and not self._extend(entry, topic, config, window)):
            entry = self._build(key, topic, config, window, padding, fmt, now)
        return entry

    def _build(
        self, key: tuple, topic: str, config: TopicConfig, window: Window, padding: str | None, fmt: str, now: float
    ) -> _Entry:
        self.builds[topic] += 1
        values = topic_inputs(topic, config, window, padding=padding, fmt=fmt, now=now)
        for value in values.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        numpy = fmt == "numpy"
        extendable = padding is None and _extendable(config)
        table = None
        if extendable and config.align_by:
            key_name, aligned = config.align_by, list(config.aligned_fields)
            table = AlignedTable.of(window, key_name, aligned, window.spec.interval_seconds, values[key_name])
            extendable = table is not None
        fields = _plain_fields(config, window) if extendable else []
        arrays = grids = None
        if extendable and numpy:
            arrays = {name: _follower(window, name, values) for name in fields}
            if table is not None:
                grids = {name: GrowingTable(values[window_name(name)]) for name in config.aligned_fields}
                _show_grids(grids, values)
        entry = _Entry(
            key, window.version, window.mark(), len(window), values, extendable, table, fields, arrays, grids
        )
        window.derived[CACHE_SLOT] = entry
        return entry

    @staticmethod
    def _extend(entry: _Entry, topic: str, config: TopicConfig, window: Window) -> bool:
        """Bring unpadded inputs (field lists or arrays, keyed tables) up to date with the records
        appended and evicted since; False when the window changed otherwise or a table's keys did."""
        changes = window.changes_since(entry.mark) if entry.extendable else None
        if changes is None:
            return False
        size = len(window)
        kept = max(0, entry.size - changes[0])
        dropped, appended = entry.size - kept, size - kept
        extend = _extend_lists if entry.arrays is None else _extend_arrays
        if not extend(entry, config, window, dropped, appended):
            return False
        entry.values.update(_records_input(topic, config, window))
        entry.version, entry.mark, entry.size = window.version, window.mark(), size
        return True


def _extend_lists(entry: _Entry, config: TopicConfig, window: Window, dropped: int, appended: int) -> bool:
    """List inputs: extended in place, after the inputs still holding them got their copies."""
    values = entry.values
    series = [values[key] for key in entry.window_keys]
    tables = [values[window_name(name)] for name in config.aligned_fields] if entry.table is not None else []
    if entry.borrowers:
        _settle_borrowers(entry, series + tables)
    if entry.table is not None:
        if not entry.table.extend(window, dropped, appended, tables):
            return False
        for name, rows in zip(config.aligned_fields, tables, strict=True):
            values[name] = rows[-1] if rows else None
    tails = window.tail_columns(entry.fields, appended)
    for name, values_of_field in zip(entry.fields, series, strict=True):
        if dropped:
            del values_of_field[:dropped]
        values_of_field.extend(tails[name])
        values[name] = values_of_field[-1] if values_of_field else None
    return True


def _extend_arrays(entry: _Entry, config: TopicConfig, window: Window, dropped: int, appended: int) -> bool:
    """numpy inputs: views of growing arrays and tables (a view given out never changes)."""
    assert entry.arrays is not None
    grown = {name: array for name, array in entry.arrays.items() if array is not None}
    tails = window.tail_arrays(list(grown), appended)
    if any(tails[name].dtype != array.dtype for name, array in grown.items()):
        return False  # a field's values changed kind (e.g. text among numbers): rebuild
    views = {name: window.number_view(name) for name, array in entry.arrays.items() if array is None}
    if any(view is None for view in views.values()):
        return False  # a viewed field met a value that is not a float (or none): rebuild
    if entry.grids is not None and entry.table is not None:
        try:
            if not entry.table.extend(window, dropped, appended, list(entry.grids.values())):
                return False
        except Unfit:
            return False
        _show_grids(entry.grids, entry.values)
    latest = window.latest()
    values = entry.values
    for name, array in grown.items():
        array.advance(dropped, tails[name])
        views[name] = array.view()
    for name, view in views.items():
        values[window_name(name)] = view
        values[name] = latest.get(name) if latest else None
    return True


def _follower(window: Window, name: str, values: dict[str, Any]) -> SlidingArray | None:
    """What keeps a numpy field's window input up to date: None when the window's buffer is viewed
    directly (float values), else a growing copy; hands out the first view into `values`."""
    view = window.number_view(name)
    if view is not None:
        values[window_name(name)] = view
        return None
    array = SlidingArray(values[window_name(name)])
    values[window_name(name)] = array.view()
    return array


def _show_grids(grids: dict[str, GrowingTable], values: dict[str, Any]) -> None:
    """Hand out the aligned fields' tables as views, and their newest rows as the current values."""
    for name, grid in grids.items():
        view = grid.view()
        values[window_name(name)] = view
        values[name] = view[-1] if len(view) else None


def _extendable(config: TopicConfig) -> bool:
    """Whether a topic's inputs can follow appends: configured fields, the newest record current."""
    return bool(config.fields) and config.current == "newest"


def lend(entries: list[_Entry], borrower: ModuleInput) -> None:
    """Note that `borrower` holds the entries' values: it gets its own copies before they change."""
    ref = weakref.ref(borrower)
    for entry in entries:
        if len(entry.borrowers) >= MAX_BORROWERS:
            entry.borrowers = [alive for alive in entry.borrowers if alive() is not None]
        entry.borrowers.append(ref)


def _settle_borrowers(entry: _Entry, changing: list[list]) -> None:
    """Give the inputs still alive their own copies of the lists about to be changed in place."""
    for ref in entry.borrowers:
        borrower = ref()
        if borrower is not None:
            borrower.own_values(changing)
    entry.borrowers.clear()


def current_position(config: TopicConfig, window: Window, now: float) -> int | None:
    """Which record is current at `now` (None: always the newest); part of the cache key."""
    if config.current == "newest":
        return None
    known = window.derived.get(POSITION_SLOT)
    if isinstance(known, tuple) and known[0] == window.version and known[1] <= now < known[2]:
        return known[3]
    times = window.times()
    position = int(np.searchsorted(times, now, side="right"))
    since = float(times[position - 1]) if position else -math.inf
    until = float(times[position]) if position < len(times) else math.inf
    window.derived[POSITION_SLOT] = (window.version, since, until, position)  # holds until the next record's time
    return position
