"""SeedTopicParser: a topic parser written as the original d_a's developer guide shows it.

Such a parser subclasses ParserBase and has `parse(raw_data)`: it receives a whole decoded message
and returns the parsed record, or None to skip the message. d_a also takes a list of records (a
message carrying several stations). Each record names its station (`stationId`, `station_id`, or
a host or meter id the station parameters announced) and is ordered by its `timestamp` (else the
topic's `time_field`, else its arrival). Whatever the parser raises costs that message only: it is
counted as bad input, like every parser failure.
"""

from __future__ import annotations

from typing import Any

from ..config.schema import TopicConfig
from ..parser_base import ParserBase
from .bad_input import BadInput
from .base import ParseResult, TopicParser
from .fields import guard_values, parse_time
from .routing import StationRouter

__all__ = ["SEED_TIME_FIELD", "SeedTopicParser"]

SEED_TIME_FIELD = "timestamp"  # "必须包含 timestamp 字段用于窗口排序" (developer guide)


class SeedTopicParser(TopicParser):
    """Runs a user's ParserBase on whole messages of one topic."""

    name = "seed"

    def __init__(
        self, topic: str, config: TopicConfig, router: StationRouter | None = None, *, parser: ParserBase
    ) -> None:
        super().__init__(topic, config, router)
        self.user_parser = parser

    def split(self, value: Any) -> list[Any]:
        return [value]

    def parse(self, data: Any) -> dict[str, Any]:
        records = self._records(data)
        if len(records) != 1:
            raise BadInput("parser_error", f"{self._name()}.parse gave {len(records)} records for one station's data")
        guard_values(records[0])
        return records[0]

    def station_records(self, value: Any, arrival: float) -> ParseResult:
        result = ParseResult()
        try:
            records = self._records(value)
        except BadInput as problem:
            result.problems.append(problem)
            return result
        for record in records:
            try:
                station = self.station_of(record)
                result.records.append(self.usable(record, station, arrival, result.problems, parsed=True))
            except BadInput as problem:
                result.problems.append(problem)
        return result

    def record_time(self, record: dict[str, Any], arrival: float) -> float:
        for field in (SEED_TIME_FIELD, self.config.time_field):
            ts = parse_time(record.get(field))
            if ts is not None:
                return ts
        return arrival

    def _records(self, value: Any) -> list[dict[str, Any]]:
        try:
            parsed = self.user_parser.parse(value)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - a user parser's bug costs one message
            raise BadInput("parser_error", f"{self._name()}.parse raised {exc!r}") from exc
        if parsed is None:
            raise BadInput("rejected", f"{self._name()}.parse returned None")
        records = parsed if isinstance(parsed, list) else [parsed]
        for record in records:
            if not isinstance(record, dict):
                raise BadInput("parser_error", f"{self._name()}.parse returned {type(record).__name__}, not a dict")
        return records

    def _name(self) -> str:
        return type(self.user_parser).__name__
