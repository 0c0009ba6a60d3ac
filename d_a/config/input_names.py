"""The names a topic's fields take in a module input, and which topic owns a name several share.

A topic gives, for each field `f`, `f` (its current value) and `f_window`; a topic with `align_by`
(key `k`, e.g. `gunNo`) gives `k` (the key order) and, for each aligned field `f`, `f` (the newest
row), `f_window` (the table) and `f_k` (that table's key order: the key of each column, e.g.
`status_gunNo`); a per_second or per_device topic gives its records key. Station ids are routing
keys, given once as `stationId`.

Topics of one module may give the same name (`gunNo`, `hostCode`, `meterId`). The flat name holds
the value of the first topic in the module's topic order that gives it, even when that topic has
no data; a table's key order `f_k` goes with its table: only the topic that owns `f_window` puts
it under the flat name. Every topic's own names, shadowed or not, are under
`input["_topics"][topic]`. The module input and `d-a check-config` both follow these rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .schema import TopicConfig

__all__ = [
    "ROUTING_FIELDS",
    "TOPICS_KEY",
    "SharedName",
    "default_records_key",
    "flat_owners",
    "input_names",
    "order_name",
    "records_key",
    "shared_names",
    "table_orders",
    "window_name",
]

TOPICS_KEY = "_topics"  # the module-input key of the per-topic views
ROUTING_FIELDS = ("stationId", "station_id")  # ids every topic may carry: routing keys, not shared names


def window_name(field: str) -> str:
    """`soc` -> `soc_window`."""
    return f"{field}_window"


def order_name(field: str, key: str) -> str:
    """`status`, `gunNo` -> `status_gunNo`: the key of each column of `field`'s table."""
    return f"{field}_{key}"


def default_records_key(topic: str) -> str:
    """`SCHEDULE-DEVICE-STORAGE` -> `device_storage_records` (used when `records_key` is unset)."""
    name = topic.removeprefix("SCHEDULE-").lower().replace("-", "_")
    return f"{name}_records"


def records_key(topic: str, config: TopicConfig) -> str | None:
    """The key of a per_second topic's completed second or a per_device topic's devices."""
    if config.kind not in ("per_second", "per_device"):
        return None
    return config.records_key or default_records_key(topic)


def input_names(topic: str, config: TopicConfig, fields: Sequence[str]) -> list[str]:
    """The names `topic` gives a module input, in their order, when its fields are `fields`."""
    key = config.align_by
    aligned = set(config.aligned_fields) | ({key} if key else set())
    names: list[str] = []
    for field in fields:
        if field not in aligned and field not in ROUTING_FIELDS:
            names += [field, window_name(field)]
    if key:
        names.append(key)
        for field in config.aligned_fields:
            names += [field, window_name(field), order_name(field, key)]
    records = records_key(topic, config)
    if records:
        names.append(records)
    return names


def table_orders(config: TopicConfig) -> dict[str, str]:
    """Each aligned table's key-order name -> its table's name (`status_gunNo` -> `status_window`)."""
    key = config.align_by
    if not key:
        return {}
    return {order_name(field, key): window_name(field) for field in config.aligned_fields}


def flat_owners(topics: Iterable[tuple[str, Sequence[str], Mapping[str, str]]]) -> dict[str, str]:
    """Which topic each flat name belongs to, from (topic, its names, its `table_orders`) in the
    module's topic order: the first topic giving a name, a key order only with its table."""
    owner: dict[str, str] = {}
    for topic, names, orders in topics:
        for name in names:
            if name in owner:
                continue
            table = orders.get(name)
            if table is not None and owner.get(table) != topic:
                continue
            owner[name] = topic
    return owner


@dataclass(frozen=True)
class SharedName:
    """Names that several topics of `module` give: the flat names hold `owner`'s values (None: no
    topic's, for a key order whose table another topic owns); each topic's own values, `owner`'s and
    `others`', are under `input["_topics"][topic][name]`."""

    module: str
    names: tuple[str, ...]
    owner: str | None
    others: tuple[str, ...]

    def note(self) -> str:
        """One line for logs and `d-a check-config`."""
        return (
            f"module {self.module}: shared {', '.join(self.names)}: flat from {self.owner or 'no topic'}; "
            f"also {', '.join(self.others)} (under {TOPICS_KEY}[topic])"
        )


def shared_names(
    topics: Mapping[str, TopicConfig], module_to_topics: Mapping[str, list[str]], outputs: set[str]
) -> tuple[SharedName, ...]:
    """Per module, the input names its topics share (from configured fields; a topic without
    `fields` gives the names its records carry, known only at run time). Names with the same owner
    and the same other topics are grouped (`hostCode`, `hostCode_window`)."""
    found: list[SharedName] = []
    for module, names in module_to_topics.items():
        given = [
            (t, input_names(t, topics[t], topics[t].fields), table_orders(topics[t])) for t in names if t not in outputs
        ]
        owner = flat_owners(given)
        givers: dict[str, list[str]] = {}
        for topic, topic_names, _ in given:
            for name in topic_names:
                givers.setdefault(name, []).append(topic)
        groups: dict[tuple[str | None, tuple[str, ...]], list[str]] = {}
        for name, by in givers.items():
            if len(by) > 1:
                first = owner.get(name)
                groups.setdefault((first, tuple(t for t in by if t != first)), []).append(name)
        found += [SharedName(module, tuple(group), first, others) for (first, others), group in groups.items()]
    return tuple(found)
