"""SCHEDULE-STATION-REALTIME-DATA: hourly rows with per-gun power lists nested in `gunPower`."""

from __future__ import annotations

from typing import Any

from .bad_input import BadInput
from .base import TopicParser
from .registry import register_parser

GUN_POWER = "gunPower"
GUN_LISTS = ("gunNo", "outputPowerPerGunAvg", "outputPowerPerGunMax")


@register_parser("realtime_data")
class RealtimeDataParser(TopicParser):
    """Lifts `gunPower.{gunNo, outputPowerPerGunAvg, outputPowerPerGunMax}` into the record.

    The three lists describe the same guns, so they must have one length (length_mismatch else).
    """

    def parse(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get(GUN_POWER), dict):
            data = {**data, **{k: v for k, v in data[GUN_POWER].items() if k in GUN_LISTS}}
        elif isinstance(data, dict) and data.get(GUN_POWER) is not None:
            raise BadInput("wrong_shape", f"{GUN_POWER} must be an object of per-gun lists")
        record = super().parse(data)
        lengths = {name: len(record[name]) for name in GUN_LISTS if isinstance(record.get(name), list)}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
            raise BadInput("length_mismatch", f"per-gun lists differ in length ({detail})")
        return record
