"""What one topic's window contributes to a module input.

For each field `f`: `f` (the current value, None when the window is empty) and `f_window` (the
window's values, oldest first, aligned and padded when a strategy is set). Kind-specific extras:
a per_second topic gives the completed second's records, a per_device topic each device's latest
record (both under the topic's `records_key`); a topic with `align_by` gives one key order over the
whole window (e.g. `gunNo`) and its `aligned_fields` as rows aligned to that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config.schema import TopicConfig
from ..topics.routing import STATION_ID_KEYS
from ..windows import Window, align_by_key

__all__ = ["TopicInputCache", "default_records_key", "empty_inputs", "topic_inputs"]

CACHE_SLOT = "module_inputs"


def default_records_key(topic: str) -> str:
    """`SCHEDULE-DEVICE-STORAGE` -> `device_storage_records` (used when `records_key` is unset)."""
    name = topic.removeprefix("SCHEDULE-").lower().replace("-", "_")
    return f"{name}_records"


def _records_key(topic: str, config: TopicConfig) -> str | None:
    if config.kind not in ("per_second", "per_device"):
        return None
    return config.records_key or default_records_key(topic)


def _fields(config: TopicConfig, window: Window | None) -> list[str]:
    """The fields a topic contributes (station ids are routing keys: `stationId` is set once)."""
    if config.fields:
        names = list(config.fields)
    else:
        latest = window.latest() if window is not None else None
        names = [k for k in latest if k != config.time_field] if latest else []
    return [name for name in names if name not in STATION_ID_KEYS]


def empty_inputs(topic: str, config: TopicConfig) -> dict[str, Any]:
    """The keys of a topic with no data: every field None, every window empty."""
    inputs: dict[str, Any] = {}
    for field in _fields(config, None):
        inputs[field] = None
        inputs[f"{field}_window"] = []
    if config.align_by:
        inputs[config.align_by] = []
    key = _records_key(topic, config)
    if key:
        inputs[key] = []
    return inputs


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
    aligned = set(config.aligned_fields)
    if config.align_by:
        aligned.add(config.align_by)
    current = _current_record(config, window, now)
    inputs: dict[str, Any] = {}
    for field in _fields(config, window):
        if field in aligned:
            continue
        inputs[field] = current.get(field) if current else None
        inputs[f"{field}_window"] = window.column(field, padding, fmt)
    if config.align_by:
        inputs.update(_aligned_inputs(config, window, padding, fmt))
    key = _records_key(topic, config)
    if key:
        inputs[key] = window.completed_second() if config.kind == "per_second" else window.devices()
    return inputs


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
    """One key order over the window and each aligned field's rows re-indexed to it.

    Records whose key holds a list (REALTIME-DATA's `gunNo` with per-gun lists) are one row
    each; records keyed by one value (DEVICE-GUN, one record per gun) form a row per time slot.
    """
    key = config.align_by
    assert key is not None
    latest = window.latest()
    inputs: dict[str, Any] = {}
    for field in config.aligned_fields:
        if latest is not None and isinstance(latest.get(key), list):
            rows = [dict(zip(r[key], r[field], strict=False)) for r in window.records() if _listed(r, key, field)]
            order, matrix = align_by_key(rows, padding)
            table: list | np.ndarray = _as_format(matrix, fmt)
        else:
            order, table = window.pivot(key, field, padding, fmt)
        inputs.setdefault(key, order)
        inputs[field] = table[-1] if len(table) else None
        inputs[f"{field}_window"] = table
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


class TopicInputCache:
    """Reuses a topic's inputs while its window is unchanged.

    Most topics change far less often than a station runs (parameters, prices, hourly history,
    5-minute meters), so a station's run rebuilds only what changed. Callers get fresh top-level
    lists and dicts each time and numpy arrays marked read-only: module inputs are to be read,
    not changed in place. The entry lives on the window (`Window.derived`), so it goes with it.
    """

    def get(
        self, topic: str, config: TopicConfig, window: Window | None, *, padding: str | None, fmt: str, now: float
    ) -> dict[str, Any]:
        if window is None or not len(window):
            return empty_inputs(topic, config)
        key = (self, window.version, padding, fmt, _current_position(config, window, now))
        entry = window.derived.get(CACHE_SLOT)
        if entry is None or entry[0] != key:
            values = topic_inputs(topic, config, window, padding=padding, fmt=fmt, now=now)
            for value in values.values():
                if isinstance(value, np.ndarray):
                    value.flags.writeable = False
            entry = window.derived[CACHE_SLOT] = (key, values)
        return {name: _fresh(value) for name, value in entry[1].items()}


def _current_position(config: TopicConfig, window: Window, now: float) -> int | None:
    if config.current == "newest":
        return None
    return int(np.searchsorted(window.times(), now, side="right"))


def _fresh(value: Any) -> Any:
    if type(value) is list:
        return list(value)
    if type(value) is dict:
        return dict(value)
    return value
