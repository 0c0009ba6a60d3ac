"""Typed schema of d_a's own configuration sections (everything but the Kafka client keys).

Unknown keys are errors here (a typo must not be silently ignored); numbers and flags are strict,
so `window_size: "10"` or `window_size: 10.5` is reported instead of being coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

__all__ = [
    "FIELD_TYPES",
    "FORMER_NAMES",
    "PADDING_STRATEGIES",
    "WINDOW_KINDS",
    "OffsetCommitConfig",
    "ServiceConfig",
    "TopicConfig",
    "renamed_settings",
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
    """One topic: how its messages split into station records and how its window is kept."""

    kind: WindowKind = Field(
        default="append",
        description="How the window keeps records: latest (the newest only), append (the newest window_size, "
        "ordered by time), replace (each message is the whole window), per_second (one entry per second of "
        "records), per_device (the newest record per device, plus a history window).",
    )
    fields: list[StrictStr] = Field(
        default_factory=list,
        description="Fields kept from each record; the module input carries `f` (newest value) and `f_window`.",
    )
    frequency: StrictStr = Field(default="", description="Free text for readers: how often the topic is published.")
    interval_seconds: PositiveFloat | None = Field(
        default=None,
        description="Seconds between records on the topic's time grid; with padding, the window is aligned "
        "on it and padded to window_size. null: no grid.",
    )
    modules: list[StrictStr] = Field(default_factory=list, description="Modules that read this topic.")
    window_size: PositiveInt = Field(default=1, description="Entries the window keeps: records, rows or seconds.")
    scope: Literal["station", "global"] = Field(
        default="station",
        description="station: each record goes to its station. global: one copy shared by every station, "
        "read without a consumer group (kinds latest and replace).",
    )
    envelope: StrictStr | None = Field(
        default=None, description="Key of the message holding its list of station records (e.g. realTimeData)."
    )
    device_key: StrictStr | None = Field(
        default=None, description="Key naming the device in a per_device topic (e.g. storageId); required there."
    )
    time_field: StrictStr = Field(default="sendTime", description="Field holding each record's time.")
    padding: PaddingStrategy | None = Field(
        default=None,
        description="This topic's padding (zero, linear, forward, missing); null: service.padding_strategy.",
    )
    parser: StrictStr | None = Field(
        default=None,
        description="A registered parser (station_param, realtime_data, module_output or your own); "
        "null: the generic parser driven by this entry.",
    )
    expire_seconds: PositiveFloat | None = Field(
        default=None,
        description="Seconds without a message after which this topic's window is emptied; "
        "null: service.data_expire_seconds.",
    )
    types: dict[StrictStr, FieldType] = Field(
        default_factory=dict,
        description="Type checks per field; a record with a wrong type is bad input, counted and skipped.",
    )
    aliases: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="Other names a field may arrive under: `field: name in the message`."
    )
    current: Literal["newest", "in_effect"] = Field(
        default="newest",
        description="The scalar `f`: the newest value, or (in_effect) the newest one whose time has come, "
        "for data published ahead of time such as a calendar.",
    )
    records_key: StrictStr | None = Field(
        default=None,
        description="Module-input key holding a per_second topic's completed second or a per_device topic's "
        "devices (the newest record each).",
    )
    align_by: StrictStr | None = Field(
        default=None,
        description="Key (e.g. gunNo) that aligned_fields are keyed by: the input then carries one key order "
        "over the whole window and rows aligned to it.",
    )
    aligned_fields: list[StrictStr] = Field(
        default_factory=list, description="Fields aligned by align_by; each must be one of `fields`."
    )
    max_records_per_second: PositiveInt = Field(
        default=64, description="per_second: the most records kept for one second; more are dropped and counted."
    )
    second_grace_seconds: NonNegativeFloat | None = Field(
        default=0.5,
        description="per_second: a second is complete when a newer one begins, or by the clock this long "
        "after it ended. null: only a newer second completes it.",
    )
    defines_batch: StrictBool = Field(
        default=False,
        description="Each message opens a result batch `<topic>_<newest epoch s>` expecting the stations it "
        "carries; their results are uploaded together.",
    )
    keyed_by_station: StrictBool = Field(
        default=False,
        description="With service.scale_out: the producers key every message of this topic by its station id "
        "(Kafka's default partitioner), so each instance reads only the partitions of its slots. false: the "
        "instances' splitter places the messages by station in the topic `<consumer group>.<topic>.by-station` "
        "first (docs/SCALING.md).",
    )

    def legacy(self) -> dict[str, object]:
        """The original d_a's TOPIC_DETAIL entry form (plus our extra keys)."""
        return self.model_dump(exclude_none=True)


class OffsetCommitConfig(_Section):
    """When and how consumed offsets are committed (the original d_a's OFFSET_COMMIT_CONFIG)."""

    commit_interval_seconds: PositiveFloat = Field(default=5.0, description="Commit at least this often, in seconds.")
    commit_batch_size: PositiveInt = Field(default=100, description="Commit after this many finished messages.")
    max_commit_retries: Annotated[StrictInt, Field(ge=0)] = Field(
        default=3, description="Retries of a failed commit; offsets that still fail are kept for the next commit."
    )
    commit_retry_delay: NonNegativeFloat = Field(default=1.0, description="Seconds between commit retries.")


class ServiceConfig(_Section):
    """Service behaviour: expiry, concurrency, scheduling, batching, padding, dead letters."""

    data_expire_seconds: PositiveFloat = Field(
        default=600,
        description="A station's window of a topic is emptied after this many seconds without a message of "
        "the topic (a topic's expire_seconds overrides it); a station with no data left is dropped.",
    )
    max_workers: PositiveInt = Field(
        default=32,
        description="Station callbacks that run at once: worker tasks of the async service, threads of the "
        "thread-based one; synchronous callbacks run in a thread pool of this size. "
        "`max_concurrency` is accepted as its former name.",
    )
    min_interval: NonNegativeFloat = Field(
        default=0.0, description="Shortest time in seconds between two runs of one station; triggers between coalesce."
    )
    interval: PositiveFloat | None = Field(
        default=None, description="Also run every station this often, in seconds, without new data. null: data only."
    )
    batch_timeout: PositiveFloat = Field(
        default=5.0,
        description="Seconds a result batch waits for all its stations before it is uploaded with what it has.",
    )
    cleanup_interval: PositiveFloat = Field(
        default=60.0, description="Seconds between housekeeping passes (window expiry, expired batches)."
    )
    padding_strategy: PaddingStrategy | None = Field(
        default=None,
        description="Padding of windows of topics with interval_seconds: zero, linear, forward, missing; "
        "null returns what a window holds.",
    )
    window_format: Literal["list", "numpy"] = Field(
        default="list", description="Window values in module inputs: Python lists, or numpy arrays."
    )
    upload_input: StrictBool = Field(
        default=False, description="Include the module input in each single-station upload (for debugging)."
    )
    max_held_messages: PositiveInt = Field(
        default=200_000,
        description="Back-pressure: fetching pauses while this many consumed messages wait for callbacks.",
    )
    stop_timeout: PositiveFloat = Field(
        default=30.0, description="On stop, the longest wait in seconds for running callbacks to finish."
    )
    global_bootstrap_timeout: PositiveFloat = Field(
        default=30.0,
        description="The longest wait, in seconds, for global topics to be read to their end before stations "
        "run; then a WARNING names them and the stations run.",
    )
    gc_threshold: PositiveInt | None = Field(
        default=10_000,
        description="Python's generation-0 GC threshold while a service runs (restored at stop); null leaves Python's.",
    )
    idle_gc: StrictBool = Field(
        default=True,
        description="Collect garbage when no station is queued or running, so a pass never stalls a burst.",
    )
    configure_logging: StrictBool = Field(
        default=True,
        description="A service sets up console and file logging (DATA_ANALYSIS_LOG) unless the application "
        "configured logging; false leaves logging alone.",
    )
    dead_letter_topic: StrictStr | None = Field(
        default=None,
        description="Topic receiving every message counted as bad input, unchanged, with headers saying where "
        "it came from and what was wrong, before its offset is committed. null: off.",
    )
    dead_letter_after_failures: PositiveInt = Field(
        default=3,
        description="A station's input summary goes to the dead-letter topic when its callback raised this "
        "many times in a row.",
    )
    backlog_runs: Literal["newest", "every_batch"] = Field(
        default="newest",
        description="While the consumer is behind: newest runs each station once on its newest data when it "
        "has caught up (or after backlog_max_delay); every_batch runs it after each batch.",
    )
    backlog_max_delay: PositiveFloat = Field(
        default=10.0, description="newest backlog runs: the longest a triggered station waits, in seconds."
    )
    state_dir: StrictStr | None = Field(
        default=None,
        description="Directory for checkpoints of the windows (a subdirectory per consumer group), so a restart "
        "restores them instead of starting empty; keep it on a persistent volume. null: off (docs/STATE.md).",
    )
    checkpoint_interval_seconds: PositiveFloat = Field(
        default=60.0,
        description="Seconds between checkpoints of the windows (with state_dir). A restart reads the messages "
        "since the last checkpoint again (without running callbacks on those they already saw). From about "
        "1,000 stations on, 600 keeps checkpoints under 5% of the service's CPU (docs/STATE.md).",
    )
    checkpoint_whole_every: Annotated[StrictInt, Field(ge=0)] = Field(
        default=8,
        description="With state_dir: a round saves what a station's windows gained since its previous round, "
        "and its whole windows every this many rounds (staggered over the stations). Higher: cheaper rounds, "
        "slower restores (each change file is applied in turn). 0 or 1: every round saves whole windows.",
    )
    restore_horizon_seconds: PositiveFloat | None = Field(
        default=None,
        description="With state_dir: a station whose checkpoint is damaged, or every station when there is no "
        "usable checkpoint, has its windows rebuilt at start from Kafka's messages of this many seconds back "
        "(as far as retention keeps them; by message timestamp), without callbacks running on them. Set it "
        "to the longest window the modules need. null: such stations start empty. With scale_out, the windows of "
        "stations moving to an instance are rebuilt the same way.",
    )

    scale_out_slots: PositiveInt = Field(
        default=12,
        description="With scale_out, when no topic is keyed_by_station: the partitions of the by-station topics "
        "the splitter writes, which is the most instances that can share the stations. With keyed topics their "
        "partition count is the slot count.",
    )
    scale_out: StrictBool = Field(
        default=False,
        description="Share the stations with every instance started with the same consumer group: each owns the "
        "slots (partition numbers) the group gives it, for all its topics, and windows of stations that move to "
        "it are rebuilt from restore_horizon_seconds of Kafka's messages before they run. Producers must key "
        "messages by station id and the topics must have equal partition counts (docs/SCALING.md).",
    )

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, values: Any) -> Any:
        """Accept a setting under its former name (`max_concurrency` for `max_workers`)."""
        return renamed_settings(values) if isinstance(values, Mapping) else values

    @model_validator(mode="after")
    def _scale_out_needs(self) -> ServiceConfig:
        if not self.scale_out:
            return self
        if self.restore_horizon_seconds is None:
            raise ValueError(
                "scale_out needs restore_horizon_seconds: the seconds of Kafka's messages that rebuild the windows "
                "of stations moving to an instance (set it to the longest window the modules need)"
            )
        return self


FORMER_NAMES = {"max_concurrency": "max_workers"}  # service settings under their former names


def renamed_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with former names of service settings replaced by the current ones; ValueError
    when one is given under both names with different values."""
    renamed = dict(values)
    for former, current in FORMER_NAMES.items():
        if former not in renamed:
            continue
        value = renamed.pop(former)
        if current in renamed and renamed[current] != value:
            raise ValueError(f"{former} is the former name of {current}; give one of them, not both")
        renamed[current] = value
    return renamed
