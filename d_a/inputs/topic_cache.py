"""TopicInputCache: a topic's module-input values, reused while its window is unchanged and
extended while the window only gains records at its end and loses its oldest."""

from __future__ import annotations

import dataclasses
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..config.input_names import window_name
from ..config.schema import TopicConfig
from ..windows import Window
from ..windows.codecs import Unfit
from ..windows.sliding import SlidingArray
from .aligned_table import AlignedTable
from .growing_table import GrowingTable
from .module_input import ModuleInput
from .topic_inputs import current_position, empty_inputs, plain_fields, records_input, topic_inputs

__all__ = ["CacheEntry", "TopicInputCache", "lend"]

MAX_BORROWERS = 16  # dead references are pruned when an entry has lent to this many inputs


@dataclasses.dataclass(eq=False)
class CacheEntry:
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
    marked read-only. The cache keeps one entry per window, until its owner tells it to `forget`
    the window (its station is gone).
    """

    def __init__(self) -> None:
        self.builds: Counter[str] = Counter()  # per topic: inputs built from scratch (not reused or extended)
        self._entries: dict[Window, CacheEntry] = {}
        self._positions: dict[Window, tuple[int, int | None, float, float]] = {}  # version, position, from, until

    def __len__(self) -> int:
        """Windows with an entry."""
        return len(self._entries)

    def forget(self, windows: Iterable[Window]) -> None:
        """Drop what the cache keeps for these windows (a station removed, a window replaced)."""
        for window in windows:
            self._entries.pop(window, None)
            self._positions.pop(window, None)

    def position(self, config: TopicConfig, window: Window, now: float) -> int | None:
        """Which record of the window is current at `now` (None: always the newest); part of the
        cache key, kept until the window changes or the next record's time comes."""
        if config.current == "newest":
            return None
        version = window.version
        known = self._positions.get(window)
        if known is not None and known[0] == version and known[2] <= now < known[3]:
            return known[1]
        position, since, until = current_position(config, window, now)
        self._positions[window] = (version, position, since, until)
        return position

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
    ) -> CacheEntry:
        """The cache entry `get` takes its values from (an uncached one for an empty window); its
        lists are extended in place only when `extendable`, and then only after `lend` borrowers
        got their copies."""
        if window is None or not len(window):
            return CacheEntry((), 0, (0, 0, 0), 0, empty_inputs(topic, config), extendable=False)
        key = (padding, fmt, self.position(config, window, now))
        entry = self._entries.get(window)
        if entry is not None and entry.key != key:
            entry = None
        if entry is None or (entry.version != window.version and not self._extend(entry, topic, config, window)):
            entry = self._build(key, topic, config, window, padding, fmt, now)
        return entry

    def _build(
        self, key: tuple, topic: str, config: TopicConfig, window: Window, padding: str | None, fmt: str, now: float
    ) -> CacheEntry:
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
        fields = plain_fields(config, window) if extendable else []
        arrays = grids = None
        if extendable and numpy:
            arrays = {name: _follower(window, name, values) for name in fields}
            if table is not None:
                grids = {name: GrowingTable(values[window_name(name)]) for name in config.aligned_fields}
                _show_grids(grids, values)
        entry = CacheEntry(
            key, window.version, window.mark(), len(window), values, extendable, table, fields, arrays, grids
        )
        self._entries[window] = entry
        return entry

    @staticmethod
    def _extend(entry: CacheEntry, topic: str, config: TopicConfig, window: Window) -> bool:
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
        entry.values.update(records_input(topic, config, window))
        entry.version, entry.mark, entry.size = window.version, window.mark(), size
        return True


def _extend_lists(entry: CacheEntry, config: TopicConfig, window: Window, dropped: int, appended: int) -> bool:
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


def _extend_arrays(entry: CacheEntry, config: TopicConfig, window: Window, dropped: int, appended: int) -> bool:
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


def lend(entries: list[CacheEntry], borrower: ModuleInput) -> None:
    """Note that `borrower` holds the entries' values: it gets its own copies before they change."""
    ref = weakref.ref(borrower)
    for entry in entries:
        if len(entry.borrowers) >= MAX_BORROWERS:
            entry.borrowers = [alive for alive in entry.borrowers if alive() is not None]
        entry.borrowers.append(ref)


def _settle_borrowers(entry: CacheEntry, changing: list[list]) -> None:
    """Give the inputs still alive their own copies of the lists about to be changed in place."""
    for ref in entry.borrowers:
        borrower = ref()
        if borrower is not None:
            borrower.own_values(changing)
    entry.borrowers.clear()
