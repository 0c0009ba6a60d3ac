"""The generic module input: topic fields and windows, dependency outputs, `_data_quality`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..errors import DispatcherError, handle_error
from ..windows import Window
from .module_input import ModuleInput
from .topic_inputs import TopicInputCache, empty_inputs, topic_inputs

__all__ = ["build_module_input", "data_quality", "dependency_inputs"]

logger = logging.getLogger("d_a.modules")


def build_module_input(
    config: Config,
    module: str,
    station_id: str,
    window_of: Callable[[str], Window | None],
    padding_of: Callable[[str], str | None],
    fmt: str,
    now: float,
    cache: TopicInputCache | None = None,
) -> dict[str, Any]:
    """`module`'s input for one station (before its ModuleParser adds derived keys); windows from
    `cache` are shared with it and copied when read (see ModuleInput).

    Two topics sharing a field name: the first in the module's topic order owns the flat name.
    A topic whose inputs fail to build leaves its fields None (DispatcherError via handle_error).
    """
    outputs = {config.module_output_topics[d]: d for d in config.module_dependencies.get(module, [])}
    data = ModuleInput({"stationId": station_id})
    shared: list[str] = []
    topics = config.module_to_topics[module]
    available: list[str] = []
    for topic in topics:
        window = window_of(topic)
        if window is not None and len(window):
            available.append(topic)
        if topic in outputs:
            continue
        topic_config = config.topics[topic]
        try:
            padding = padding_of(topic)
            if cache is not None:
                values = cache.get(topic, topic_config, window, padding=padding, fmt=fmt, now=now, borrower=data)
            else:
                values = topic_inputs(topic, topic_config, window, padding=padding, fmt=fmt, now=now)
            cached = cache is not None
        except Exception as exc:  # noqa: BLE001 - one topic's failure must not cost the others
            handle_error(
                DispatcherError(f"building inputs of {topic} failed: {exc!r}"),
                context=f"station={station_id} module={module} topic={topic}",
            )
            values, cached = empty_inputs(topic, topic_config), False
        if not values.keys().isdisjoint(data.keys()):
            values = {key: value for key, value in values.items() if key not in data}
        dict.update(data, values)
        if cached:
            shared.extend(values)
    for topic, dependency in outputs.items():
        window = window_of(topic)
        data.update(dependency_inputs(dependency, window.latest() if window is not None else None))
    data["_data_quality"] = data_quality(topics, available)
    data.share(shared)
    return data


def dependency_inputs(dependency: str, output: Any) -> dict[str, Any]:
    """`D_output_window` (the latest output) and `D_<key>` for each key of a dict output."""
    inputs = {f"{dependency}_output_window": output}
    if isinstance(output, dict):
        for key, value in output.items():
            inputs[f"{dependency}_{key}"] = value
    return inputs


def data_quality(topics: list[str], available: list[str]) -> dict[str, Any]:
    """The seeds' `_data_quality` block: which of the module's topics hold data."""
    have = set(available)
    total = len(topics)
    return {
        "available_topics": [t for t in topics if t in have],
        "missing_topics": [t for t in topics if t not in have],
        "total_topics": total,
        "availability_ratio": len(have) / total if total else 1.0,
    }
