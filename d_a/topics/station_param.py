"""SCHEDULE-STATION-PARAM: station parameters; teaches the router each station's host and meter ids."""

from __future__ import annotations

from .base import StationRecord, TopicParser
from .registry import register_parser


@register_parser("station_param")
class StationParamParser(TopicParser):
    """A JSON array of station objects (one object also accepted), one record per station."""

    def accepted(self, records: list[StationRecord]) -> None:
        for item in records:
            if item.station_id is not None:
                self.router.learn(item.station_id, item.record)
