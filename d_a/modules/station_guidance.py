"""station_guidance: guiding drivers to stations from orders, load forecast and evaluation."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import charging_guns


@register_module_parser("station_guidance")
class StationGuidanceParser(ModuleParser):
    provides = {
        "charging_guns": "gun numbers with a car order in the completed second, sorted",
        "active_sessions": "number of guns charging in the completed second",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        guns = charging_guns(data)
        data["charging_guns"] = guns
        data["active_sessions"] = len(guns)
        return data
