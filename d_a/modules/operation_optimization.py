"""operation_optimization: power dispatch over guns, storage and grid limits (the widest module)."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import charging_guns, mean, number, records, station_power_now


@register_module_parser("operation_optimization")
class OperationOptimizationParser(ModuleParser):
    provides = {
        "charging_guns": "gun numbers with a car order in the completed second, sorted",
        "station_power_now": "sum of outputPower over the completed second's orders (kW)",
        "grid_headroom": "gridCapacity minus the newest meterPower, None when either is missing",
        "storage_soc_mean": "mean storageSOC over the storage units (%), None without storage",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        data["charging_guns"] = charging_guns(data)
        data["station_power_now"] = station_power_now(data)
        capacity, meter = number(data, "gridCapacity"), number(data, "meterPower")
        data["grid_headroom"] = capacity - meter if capacity is not None and meter is not None else None
        data["storage_soc_mean"] = mean(u.get("storageSOC") for u in records(data, "storage_devices"))
        return data
