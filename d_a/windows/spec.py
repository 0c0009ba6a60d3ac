"""WindowSpec: how one topic's per-station window is kept (kind, size, fields, time grid, bounds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config.schema import WINDOW_KINDS, TopicConfig

DEFAULT_MAX_RECORDS_PER_SECOND = 64
DEFAULT_SECOND_GRACE_SECONDS = 0.5


@dataclass(frozen=True)
class WindowSpec:
    """A window's shape; invalid values raise ValueError naming the value and what is allowed.

    `window_size` counts records, except for `per_second` windows, where it counts seconds
    (each holding at most `max_records_per_second` records). `second_grace_seconds` (per_second
    only): how long after its end a second waits for late records before the clock completes it;
    None: only a record of a newer second completes it.
    """

    kind: str
    window_size: int
    fields: tuple[str, ...] = ()
    interval_seconds: float | None = None
    device_key: str | None = None
    max_age_seconds: float | None = None
    max_records_per_second: int = DEFAULT_MAX_RECORDS_PER_SECOND
    second_grace_seconds: float | None = DEFAULT_SECOND_GRACE_SECONDS

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise ValueError(f"window kind {self.kind!r} is not one of {', '.join(WINDOW_KINDS)}")
        _require_count("window_size", self.window_size)
        _require_count("max_records_per_second", self.max_records_per_second)
        object.__setattr__(self, "fields", tuple(self.fields))
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields {self.fields!r} name a field more than once")
        _require_positive("interval_seconds", self.interval_seconds)
        _require_positive("max_age_seconds", self.max_age_seconds)
        _require_non_negative("second_grace_seconds", self.second_grace_seconds)
        if self.kind == "per_device" and not self.device_key:
            raise ValueError("a per_device window needs device_key (the record key naming the device)")


def _require_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _require_positive(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")


def _require_non_negative(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}")


def window_spec(topic: TopicConfig) -> WindowSpec:
    """The window shape a topic's config asks for."""
    fields = list(dict.fromkeys([*topic.fields, *topic.aliases, *topic.aliases.values()]))
    return WindowSpec(
        kind=topic.kind,
        window_size=topic.window_size,
        fields=tuple(fields),
        interval_seconds=topic.interval_seconds,
        device_key=topic.device_key,
        max_records_per_second=topic.max_records_per_second,
        second_grace_seconds=topic.second_grace_seconds,
    )
