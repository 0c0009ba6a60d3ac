"""What one topic's window contributes to a module input.

For each field `f`: `f` (the current value, None when the window is empty) and `f_window` (the
window's values, oldest first, aligned and padded when a strategy is set). Kind-specific extras:
a per_second topic gives the completed second's records, a per_device topic each device's latest
record (both under the topic's `records_key`); a topic with `align_by` gives one key order over the
whole window (e.g. `gunNo`) and its `aligned_fields` as rows aligned to that order, each table with
its own key order (`status_gunNo`). The names follow `d_a.config.input_names`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config.input_names import default_records_key, input_names, order_name, records_key, window_name
from ..config.schema import TopicConfig
from ..topics.routing import STATION_ID_KEYS
from ..windows import PerDeviceWindow, PerSecondWindow, Window, align_listed

__all__ = ["current_position", "default_records_key", "empty_inputs", "plain_fields", "records_input", "topic_inputs"]


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
    values = {*plain_fields(config, None), *config.aligned_fields}
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
    for field in plain_fields(config, window):
        inputs[field] = current.get(field) if current else None
        inputs[window_name(field)] = window.column(field, padding, fmt)
    if config.align_by:
        inputs.update(_aligned_inputs(config, window, padding, fmt))
    inputs.update(records_input(topic, config, window))
    return inputs


def plain_fields(config: TopicConfig, window: Window | None) -> list[str]:
    """The fields given as `f` and `f_window` (the aligned ones come as tables instead)."""
    aligned = set(config.aligned_fields)
    if config.align_by:
        aligned.add(config.align_by)
    return [field for field in _fields(config, window) if field not in aligned]


def records_input(topic: str, config: TopicConfig, window: Window) -> dict[str, list[dict]]:
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


def current_position(config: TopicConfig, window: Window, now: float) -> tuple[int | None, float, float]:
    """Which record is current at `now` (None: always the newest), and from when until when it is."""
    if config.current == "newest":
        return None, -math.inf, math.inf
    times = window.times()
    position = int(np.searchsorted(times, now, side="right"))
    since = float(times[position - 1]) if position else -math.inf
    until = float(times[position]) if position < len(times) else math.inf
    return position, since, until
