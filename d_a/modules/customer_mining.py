"""customer_mining: charging behaviour of vehicles and customers from car orders."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import records

SESSION_KEYS = ("transactionSerialNo", "gunNo", "carProducerCode", "batteryNominalTotalCapacity", "beginSOC", "soc")


@register_module_parser("customer_mining")
class CustomerMiningParser(ModuleParser):
    provides = {
        "sessions": "one entry per charging session in the completed second: " + ", ".join(SESSION_KEYS),
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        data["sessions"] = [{k: order.get(k) for k in SESSION_KEYS} for order in records(data, "car_orders")]
        return data
