"""SCHEDULE-STATION-REALTIME-DATA: hourly rows with per-gun power lists nested in `gunPower`."""

from __future__ import annotations

from typing import Any

from .bad_input import BadFields, BadInput
from .base import TopicParser
from .registry import register_parser

GUN_POWER = "gunPower"
GUN_LISTS = ("gunNo", "outputPowerPerGunAvg", "outputPowerPerGunMax")


@register_parser("realtime_data")
class RealtimeDataParser(TopicParser):
    """Lifts `gunPower.{gunNo, outputPowerPerGunAvg, outputPowerPerGunMax}` into the record.

    The three lists describe the same guns, so they must have one length: when they do not (or
    `gunPower` is no object), the per-gun lists are left out and the station's own values kept.
    """

    def parse(self, data: Any) -> dict[str, Any]:
        problems: list[BadInput] = []
        if isinstance(data, dict) and isinstance(data.get(GUN_POWER), dict):
            data = {**data, **{k: v for k, v in data[GUN_POWER].items() if k in GUN_LISTS}}
        elif isinstance(data, dict) and data.get(GUN_POWER) is not None:
            problems.append(_gun_problem("wrong_shape", f"{GUN_POWER} must be an object of per-gun lists"))
            data = {k: v for k, v in data.items() if k != GUN_POWER}
        try:
            record = super().parse(data)
        except BadFields as partial:
            record, problems = partial.record, [*problems, *partial.problems]
        lengths = {name: len(record[name]) for name in GUN_LISTS if isinstance(record.get(name), list)}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
            problems.append(_gun_problem("length_mismatch", f"per-gun lists differ in length ({detail})"))
            for name in GUN_LISTS:
                record.pop(name, None)
        if problems:
            raise BadFields(record, problems)
        return record


def _gun_problem(kind: str, detail: str) -> BadInput:
    problem = BadInput(kind, detail)
    problem.field = GUN_POWER
    return problem
