"""evaluation_model: station performance evaluation from load, orders, prices and storage."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import charging_guns, mean, records, station_power_now


@register_module_parser("evaluation_model")
class EvaluationModelParser(ModuleParser):
    provides = {
        "active_sessions": "number of guns charging in the completed second",
        "station_power_now": "sum of outputPower over the completed second's orders (kW)",
        "storage_soc_mean": "mean storageSOC over the storage units (%), None without storage",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        data["active_sessions"] = len(charging_guns(data))
        data["station_power_now"] = station_power_now(data)
        data["storage_soc_mean"] = mean(u.get("storageSOC") for u in records(data, "storage_devices"))
        return data
