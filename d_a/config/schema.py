"""Typed schema of d_a's own configuration sections (everything but the Kafka client keys).

Unknown keys are errors here (a typo must not be silently ignored); numbers and flags are strict,
so `window_size: "10"` or `window_size: 10.5` is reported instead of being coerced.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "FIELD_TYPES",
    "PADDING_STRATEGIES",
    "WINDOW_KINDS",
    "OffsetCommitConfig",
    "ServiceConfig",
    "TopicConfig",
]

WINDOW_KINDS = ("latest", "append", "replace", "per_second", "per_device")
PADDING_STRATEGIES = ("zero", "linear", "forward", "missing")

FIELD_TYPES = ("number", "integer", "string", "id", "ids", "bool", "numbers", "list", "object", "any")

WindowKind = Literal["latest", "append", "replace", "per_second", "per_device"]
FieldType = Literal["number", "integer", "string", "id", "ids", "bool", "numbers", "list", "object", "any"]
PaddingStrategy = Literal["zero", "linear", "forward", "missing"]
PositiveFloat = Annotated[float, Field(strict=True, gt=0)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicConfig(_Section):
    """One topic: how its messages split into station records and how its window is kept.

    `types` checks field values (a record with a wrong type is bad input, skipped and counted);
    `aliases` maps a field to another name it may arrive under (`lat: stationLat`); `current`
    chooses the newest value (`newest`) or the newest one whose time has come (`in_effect`, e.g. a
    calendar holding the coming days) as the field's scalar value. `align_by` names the key
    (e.g. `gunNo`) that `aligned_fields` are keyed by: the module input then carries one key order
    over the whole window and rows aligned to it. `records_key` names the module-input key holding
    a per_second topic's completed second or a per_device topic's devices (latest record each).
    A per_second topic's second is complete when a newer second begins, or by the clock
    `second_grace_seconds` after it ended (null: only a newer second completes it).
    A message of a topic with `defines_batch` opens a result batch (`<topic>_<newest epoch s>`)
    expecting the stations it carries.
    """

    kind: WindowKind = "append"
    fields: list[StrictStr] = Field(default_factory=list)
    frequency: StrictStr = ""
    interval_seconds: PositiveFloat | None = None
    modules: list[StrictStr] = Field(default_factory=list)
    window_size: PositiveInt = 1
    scope: Literal["station", "global"] = "station"
    envelope: StrictStr | None = None
    device_key: StrictStr | None = None
    time_field: StrictStr = "sendTime"
    padding: PaddingStrategy | None = None
    parser: StrictStr | None = None
    expire_seconds: PositiveFloat | None = None
    types: dict[StrictStr, FieldType] = Field(default_factory=dict)
    aliases: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    current: Literal["newest", "in_effect"] = "newest"
    records_key: StrictStr | None = None
    align_by: StrictStr | None = None
    aligned_fields: list[StrictStr] = Field(default_factory=list)
    max_records_per_second: PositiveInt = 64
    second_grace_seconds: NonNegativeFloat | None = 0.5
    defines_batch: StrictBool = False

    def legacy(self) -> dict[str, object]:
        """The original d_a's TOPIC_DETAIL entry form (plus our extra keys)."""
        return self.model_dump(exclude_none=True)


class OffsetCommitConfig(_Section):
    """OFFSET_COMMIT_CONFIG: when and how OffsetManager commits."""

    commit_interval_seconds: PositiveFloat = 5.0
    commit_batch_size: PositiveInt = 100
    max_commit_retries: Annotated[StrictInt, Field(ge=0)] = 3
    commit_retry_delay: NonNegativeFloat = 1.0


class ServiceConfig(_Section):
    """Service behaviour: expiry, concurrency, scheduling, batching, padding, dead letters.

    `dead_letter_topic` (off when null) receives every message counted as bad input, unchanged,
    with headers saying where it came from and what was wrong, before its offset is committed; and
    a station's input summary when its callback raised `dead_letter_after_failures` times in a row.
    `backlog_runs` says how stations run while the consumer is behind: `newest` (once, on their
    newest data, when it has caught up or after `backlog_max_delay`) or `every_batch`.
    """

    data_expire_seconds: PositiveFloat = 600
    max_workers: PositiveInt = 32
    max_concurrency: PositiveInt = 64
    min_interval: NonNegativeFloat = 0.0
    interval: PositiveFloat | None = None
    batch_timeout: PositiveFloat = 5.0
    cleanup_interval: PositiveFloat = 60.0
    padding_strategy: PaddingStrategy | None = None
    window_format: Literal["list", "numpy"] = "list"
    upload_input: StrictBool = False
    max_held_messages: PositiveInt = 200_000
    stop_timeout: PositiveFloat = 30.0
    global_bootstrap_timeout: PositiveFloat = 30.0
    gc_threshold: PositiveInt | None = 10_000
    idle_gc: StrictBool = True
    configure_logging: StrictBool = True
    dead_letter_topic: StrictStr | None = None
    dead_letter_after_failures: PositiveInt = 3
    backlog_runs: Literal["newest", "every_batch"] = "newest"
    backlog_max_delay: PositiveFloat = 10.0
