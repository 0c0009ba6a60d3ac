"""thermal_management: cooling control from storage temperatures and converter load."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import maximum, records, total


@register_module_parser("thermal_management")
class ThermalManagementParser(ModuleParser):
    provides = {
        "storage_temp_max": "highest storageTempMax over the storage units (°C), None without storage",
        "dcdc_power_total": "sum of dcdcPower over all hosts' DC/DC modules (kW), None without data",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        data["storage_temp_max"] = maximum(u.get("storageTempMax") for u in records(data, "storage_devices"))
        data["dcdc_power_total"] = total(
            power for host in records(data, "dcdc_devices") for power in (host.get("dcdcPower") or [])
        )
        return data
