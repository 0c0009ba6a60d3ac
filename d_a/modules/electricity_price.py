"""electricity_price: tariff optimisation from prices, load, PV, evaluation and SOH outputs."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import finite


@register_module_parser("electricity_price")
class ElectricityPriceParser(ModuleParser):
    provides = {
        "grid_price_min": "lowest gridPrice of the station's fee periods, None without prices",
        "grid_price_max": "highest gridPrice of the station's fee periods, None without prices",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        prices = finite(data.get("gridPrice_window") or [])
        data["grid_price_min"] = min(prices) if prices else None
        data["grid_price_max"] = max(prices) if prices else None
        return data
