"""The generic module input: topic fields and windows, dependency outputs, `_data_quality`.

A station runs whenever one of its topics changes (a new second of car orders, a gun report), but
a module reads up to a dozen topics and most of them did not change since its last run. An
InputAssembly keeps a station's input between runs: it remembers which window version each
topic's keys came from, asks the input cache again only for the topics whose window, version,
padding or current record moved, and writes just their keys into the flat input it keeps. Every
run gets a ModuleInput over a copy of that input; the windows in it are shared with the assembly
and the cache, and copied when a callback reads them.

Topics sharing a field name (`gunNo`, `hostCode`) leave one of them the flat name
(`d_a.config.input_names`); every topic's own keys are under `_topics[topic]`, over the same lists:
the assembly keeps each topic's keys as one dict, replaced when the topic changes, and `_topics`
as one shared value of the flat input (TopicDicts, replaced when a topic changes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..config.input_names import TOPICS_KEY, flat_owners, table_orders
from ..errors import DispatcherError, handle_error
from ..windows import Window
from .module_input import ModuleInput, TopicDicts
from .topic_cache import TopicInputCache, lend
from .topic_inputs import current_position, empty_inputs, topic_inputs

__all__ = ["InputAssembly", "build_module_input", "data_quality", "dependency_inputs"]


def build_module_input(
    config: Config,
    module: str,
    station_id: str,
    window_of: Callable[[str], Window | None],
    padding_of: Callable[[str], str | None],
    fmt: str,
    now: float,
    cache: TopicInputCache | None = None,
) -> ModuleInput:
    """`module`'s input for one station (before its ModuleParser adds derived keys), built once;
    a service keeps an InputAssembly per station instead, to build only what changed.

    Two topics sharing a field name: the first in the module's topic order owns the flat name;
    each topic's own keys are under `_topics[topic]`. A topic whose inputs fail to build leaves
    its fields None (DispatcherError via handle_error).
    """
    return InputAssembly(config, module, fmt).build(station_id, window_of, padding_of, now, cache)


_NEVER = object()  # the stamp of a part that must be built again on the next run
_NO_WINDOW = (None,)  # the stamp of a topic the station has no window of


@dataclasses.dataclass(eq=False)
class _Part:
    """What one topic contributes, and the state of its window it was built from."""

    stamp: tuple
    values: dict[str, Any]  # never changed once made (the topic's view in every input built from it)
    keys: tuple[str, ...]
    available: bool
    lender: Any = None  # the cache entry whose lists are extended in place (callers borrow them)


class InputAssembly:
    """`module`'s input for one station as of its last build (see the module docstring).

    The flat names follow `build_module_input`: `stationId`, then each topic's keys in the
    module's topic order (the first topic with a name owns it, an aligned table's key order goes
    with its table), then the dependency outputs (they override topic keys), then `_topics`
    (every topic's own keys, in the module's topic order) and `_data_quality`.
    """

    def __init__(self, config: Config, module: str, fmt: str) -> None:
        self.config = config
        self.module = module
        self.fmt = fmt
        dependencies = config.module_dependencies.get(module, [])
        self.outputs = {config.module_output_topics[d]: d for d in dependencies}
        self.topics = list(config.module_to_topics[module])
        # per topic: its config, None for a dependency's output
        self._plan = [(t, None if t in self.outputs else config.topics[t]) for t in self.topics]
        self._orders = {t: table_orders(c) for t, c in self._plan if c is not None}  # key order -> its table
        self._parts: dict[str, _Part] = {}
        self._values: dict[str, Any] = {}
        self._views = TopicDicts()  # `_topics`: each topic's part values (replaced, never changed)
        self._layout: dict[str, tuple[str, ...]] = {}  # each part's keys when the input was assembled
        self._owned: dict[str, tuple[str, ...] | None] = {}  # the names a topic owns (None: all of its keys)
        self._shared: frozenset[str] = frozenset()
        self._available: list[str] = []
        self._lenders: list[Any] = []

    def build(
        self,
        station_id: str,
        window_of: Callable[[str], Window | None],
        padding_of: Callable[[str], str | None],
        now: float,
        cache: TopicInputCache | None,
    ) -> ModuleInput:
        """The station's input now; only the topics that changed since the last build are built.

        A topic's stamp is what its part was built from, besides the configuration: the window
        (which one, and its content version), the padding, and which record is current."""
        changed = []
        parts = self._parts
        for topic, topic_config in self._plan:
            window = window_of(topic)
            padding = None
            if window is None:
                stamp: tuple = _NO_WINDOW
            elif topic_config is None:
                stamp = (window, window.version)
            else:
                padding = padding_of(topic)
                if topic_config.current == "newest":
                    position = None
                elif cache is not None:
                    position = cache.position(topic_config, window, now)
                else:
                    position = current_position(topic_config, window, now)[0]
                stamp = (window, window.version, padding, position)
            part = parts.get(topic)
            if part is None or part.stamp != stamp:
                parts[topic] = self._part(station_id, topic, window, padding, now, cache, stamp)
                changed.append(topic)
        if changed:
            self._update(station_id, changed)
        data = ModuleInput(self._values, self._shared)
        data["_data_quality"] = data_quality(self.topics, self._available)
        if self._lenders:
            lend(self._lenders, data)
        return data

    def _part(
        self,
        station_id: str,
        topic: str,
        window: Window | None,
        padding: str | None,
        now: float,
        cache: TopicInputCache | None,
        stamp: tuple,
    ) -> _Part:
        available = window is not None and len(window) > 0
        if topic in self.outputs:
            values = dependency_inputs(self.outputs[topic], window.latest() if window is not None else None)
            return _Part(stamp, values, tuple(values), available)
        topic_config = self.config.topics[topic]
        lender = None
        try:
            if cache is not None:
                entry = cache.entry(topic, topic_config, window, padding=padding, fmt=self.fmt, now=now)
                values, lender = dict(entry.values), entry if entry.lends else None  # the entry's changes later
            else:
                values = topic_inputs(topic, topic_config, window, padding=padding, fmt=self.fmt, now=now)
        except Exception as exc:  # noqa: BLE001 - one topic's failure must not cost the others
            handle_error(
                DispatcherError(f"building inputs of {topic} failed: {exc!r}"),
                context=f"station={station_id} module={self.module} topic={topic}",
            )
            values, stamp = empty_inputs(topic, topic_config), (_NEVER,)
        return _Part(stamp, values, tuple(values), available, lender)

    def _update(self, station_id: str, changed: list[str]) -> None:
        """Write the changed parts into the flat input (all of it when names moved between parts)."""
        views = TopicDicts(self._views)  # inputs built before hold the old one
        for topic in changed:
            views[topic] = self._parts[topic].values
        self._views = views
        if any(topic in self.outputs or self._parts[topic].keys != self._layout.get(topic) for topic in changed):
            self._assemble(station_id)
        else:
            for topic in changed:
                part, owned = self._parts[topic], self._owned[topic]
                if owned is None:
                    dict.update(self._values, part.values)
                else:
                    self._values.update({name: part.values[name] for name in owned})
            self._values[TOPICS_KEY] = views
        parts = [self._parts[topic] for topic in self.topics]
        self._available = [topic for topic, part in zip(self.topics, parts, strict=True) if part.available]
        self._lenders = [part.lender for part in parts if part.lender is not None]

    def _assemble(self, station_id: str) -> None:
        parts = self._parts
        owner = flat_owners((t, parts[t].keys, self._orders[t]) for t in self.topics if t not in self.outputs)
        for topic in self.outputs:
            owner.update(dict.fromkeys(parts[topic].keys, topic))
        values: dict[str, Any] = {"stationId": station_id}
        for name, topic in owner.items():
            values[name] = parts[topic].values[name]
        values[TOPICS_KEY] = self._views
        self._owned, self._layout = {}, {}
        for topic in self.topics:
            part = self._parts[topic]
            owned = tuple(name for name in part.keys if owner.get(name) == topic)
            self._owned[topic] = None if len(owned) == len(part.keys) else owned
            self._layout[topic] = part.keys
        self._values = values
        # made from a dict, the set is sized so that every run's `set(shared)` copies its table as is
        self._shared = frozenset({**owner, TOPICS_KEY: ""})


def dependency_inputs(dependency: str, output: Any) -> dict[str, Any]:
    """`D_output_window` (the latest output) and `D_<key>` for each key of a dict output."""
    inputs = {f"{dependency}_output_window": output}
    if isinstance(output, dict):
        for key, value in output.items():
            inputs[f"{dependency}_{key}"] = value
    return inputs


def data_quality(topics: list[str], available: list[str]) -> dict[str, Any]:
    """The original d_a's `_data_quality` block: which of the module's topics hold data."""
    have = set(available)
    total = len(topics)
    return {
        "available_topics": [t for t in topics if t in have],
        "missing_topics": [t for t in topics if t not in have],
        "total_topics": total,
        "availability_ratio": len(have) / total if total else 1.0,
    }
