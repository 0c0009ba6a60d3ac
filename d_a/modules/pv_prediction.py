"""pv_prediction: photovoltaic output forecasting from PV units and weather."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import records, total


@register_module_parser("pv_prediction")
class PvPredictionParser(ModuleParser):
    provides = {
        "pv_power_total": "sum of pvPreDcPower over the station's PV units (kW), None without PV data",
        "pv_units": "number of PV units reporting",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        units = records(data, "pv_devices")
        data["pv_power_total"] = total(u.get("pvPreDcPower") for u in units)
        data["pv_units"] = len(units)
        return data
