"""TopicParser: how one topic's messages become station records (the original d_a's ParserBase).

The generic parser is driven by the topic's config entry alone: its `envelope` (the key holding
the records), `fields` (what a record keeps), `aliases`, `types` (value checks), `time_field` and
`scope`. Topics with a structure of their own subclass it and override `parse` or `split`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

from ..config.schema import TopicConfig
from ..parser_base import ParserBase
from .bad_input import BadFields, BadInput
from .fields import check_record, fast_types, parse_time
from .routing import StationRouter

__all__ = ["MAX_ITEMS_PER_MESSAGE", "ParseResult", "StationRecord", "TopicParser"]

MAX_ITEMS_PER_MESSAGE = 2_000_000


@dataclass(slots=True)
class StationRecord:
    """One parsed record, its station (None for global data) and its own time (epoch seconds)."""

    station_id: str | None
    record: dict[str, Any]
    ts: float


@dataclass(slots=True)
class ParseResult:
    """What a message yielded: good records, and the bad input found in it."""

    records: list[StationRecord] = field(default_factory=list)
    problems: list[BadInput] = field(default_factory=list)


@mypyc_attr(allow_interpreted_subclasses=True)
class TopicParser(ParserBase):
    """Generic parser for a topic; subclasses are registered by name (see `register_parser`).

    A subclass may override `parse` (one raw record -> record, None to skip it) or `split`
    (a message -> raw records); bad records raise BadInput, anything else it raises is counted
    as `parser_error`.
    """

    name: ClassVar[str] = "generic"

    def __init__(self, topic: str, config: TopicConfig, router: StationRouter | None = None) -> None:
        self.topic = topic
        self.config = config
        self.router = router if router is not None else StationRouter()
        self.is_global = config.scope == "global"
        keep = [*config.fields, config.time_field, *config.aliases, *config.aliases.values()]
        if config.device_key:
            keep.append(config.device_key)
        self._keep: tuple[str, ...] | None = tuple(dict.fromkeys(keep)) if config.fields else None
        self._kept = frozenset(self._keep or ())
        self._aliases = [(a, b) for a, b in config.aliases.items()] + [(b, a) for a, b in config.aliases.items()]
        self._checks: dict[str, tuple[str, frozenset[type]]] = {
            name: (kind, fast_types(kind)) for name, kind in config.types.items()
        }

    def split(self, value: Any) -> list[Any]:
        """The raw records of a decoded message value (envelope, list or single object)."""
        envelope = self.config.envelope
        if envelope is not None:
            if not isinstance(value, dict) or envelope not in value:
                raise BadInput("wrong_shape", f"expected an object with key {envelope!r}")
            value = value[envelope]
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            if len(value) > MAX_ITEMS_PER_MESSAGE:
                raise BadInput("too_large", f"{len(value)} records in one message (limit {MAX_ITEMS_PER_MESSAGE})")
            return value
        raise BadInput("wrong_shape", f"expected an object or a list, got {type(value).__name__}")

    def parse(self, data: Any) -> dict[str, Any]:
        """One raw record -> the record kept in the window (configured fields, checked types)."""
        if not isinstance(data, dict):
            raise BadInput("wrong_shape", f"a record must be an object, got {type(data).__name__}")
        keep = self._keep
        # the usual message holds only configured keys
        record = dict(data) if keep is None or data.keys() <= self._kept else {k: data[k] for k in keep if k in data}
        bad: BadFields | None = None
        try:
            check_record(record, self._checks)
        except BadFields as partial:
            bad = partial
        for name, other in self._aliases:  # after the checks: a bad value is counted once, not once per name
            if record.get(name) is None and record.get(other) is not None:
                record[name] = record[other]
        if bad is not None:
            raise bad
        return record

    def checked_parse(self, data: Any) -> dict[str, Any]:
        """`parse`, with None (skip) and unexpected exceptions of custom parsers as BadInput."""
        parse: Callable[[Any], Any] = self.parse  # a custom parser may return anything: checked below
        try:
            record = parse(data)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - a custom parser's bug costs one record
            raise BadInput("parser_error", f"{type(self).__name__}.parse raised {exc!r}") from exc
        if record is None:
            raise BadInput("rejected", f"{type(self).__name__}.parse returned None")
        if not isinstance(record, dict):
            raise BadInput("parser_error", f"{type(self).__name__}.parse returned {type(record).__name__}, not a dict")
        return record

    def station_of(self, data: dict[str, Any]) -> str | None:
        """The record's station, None for a global topic."""
        return None if self.is_global else self.router.station_of(data)

    def record_time(self, record: dict[str, Any], arrival: float) -> float:
        """The record's own time; the arrival time when it carries none."""
        ts = parse_time(record.get(self.config.time_field))
        return arrival if ts is None else ts

    def accepted(self, records: list[StationRecord]) -> None:
        """Called with the records about to be stored (e.g. to learn station devices); no-op here."""

    def station_records(self, value: Any, arrival: float) -> ParseResult:
        """Split, route and parse a whole message; bad records are collected, never raised."""
        result = ParseResult()
        try:
            items = self.split(value)
        except BadInput as problem:
            result.problems.append(problem)
            return result
        for item in items:
            station = None
            try:
                if not isinstance(item, dict):
                    raise BadInput("wrong_shape", f"a record must be an object, got {type(item).__name__}")
                station = self.station_of(item)
                result.records.append(self.usable(item, station, arrival, result.problems))
            except BadInput as problem:
                problem.station = problem.station or station
                result.problems.append(problem)
        return result

    def records_for(
        self, station_id: str, raw_data: Any, arrival: float, timestamp: float | None = None
    ) -> tuple[bool, ParseResult]:
        """One station's data as the original d_a's `update_topic_data` takes it: a record, a
        list of records, or a whole message (`whole`, True then: it replaces a `replace` window).
        `timestamp` overrides the records' own time; bad records are collected, never raised."""
        result = ParseResult()
        whole = not isinstance(raw_data, dict) or (self.config.envelope or "") in raw_data
        try:
            items = self.split(raw_data) if whole else [raw_data]
        except BadInput as problem:
            problem.station = station_id
            result.problems.append(problem)
            return whole, result
        station = None if self.is_global else station_id
        for item in items:
            try:
                record = self.usable(item, station, arrival, result.problems)
            except BadInput as unusable:
                unusable.station = station_id
                result.problems.append(unusable)
                continue
            if timestamp is not None:
                record.ts = timestamp
            result.records.append(record)
        return whole, result

    def usable(
        self, item: Any, station: str | None, arrival: float, problems: list[BadInput], *, parsed: bool = False
    ) -> StationRecord:
        """One raw record parsed (`parsed`: a record already parsed, only checked), with its bad
        fields left out (each added to `problems`): a field's problem is that field's, not the
        record's. An unreadable time leaves the record at its arrival. BadInput when the record
        itself is unusable."""
        try:
            record = _guarded(item) if parsed else self.checked_parse(item)
        except BadFields as partial:
            record = partial.record
            for problem in partial.problems:
                problem.station = station
                problems.append(problem)
        try:
            ts = self.record_time(record, arrival)
        except BadInput as problem:
            record.pop(self.config.time_field, None)
            problem.station, problem.field, problem.field_only = station, self.config.time_field, True
            problems.append(problem)
            ts = arrival
        return StationRecord(station, record, ts)


def _guarded(record: dict[str, Any]) -> dict[str, Any]:
    check_record(record, {})
    return record
