"""load_prediction: station load forecasting from hourly history, orders and calendar."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import charging_guns, station_power_now


@register_module_parser("load_prediction")
class LoadPredictionParser(ModuleParser):
    provides = {
        "active_sessions": "number of guns charging in the completed second",
        "station_power_now": "sum of outputPower over the completed second's orders (kW), None without orders",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        data["active_sessions"] = len(charging_guns(data))
        data["station_power_now"] = station_power_now(data)
        return data
