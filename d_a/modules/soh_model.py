"""SOH_model: equipment state of health from errors and DC/DC module status."""

from __future__ import annotations

from typing import Any

from .base import ModuleParser, register_module_parser
from .features import records

ERROR_FIELDS = ("hostError", "acError", "dcError", "terminalError", "storageError")
DC_FAULT = 2
NO_ERROR = (None, 0, "", "0")


def _is_error(code: Any) -> bool:
    return code not in NO_ERROR


@register_module_parser("SOH_model")
class SOHModelParser(ModuleParser):
    provides = {
        "error_events": "DEVICE-ERROR records in the window with at least one non-zero error code",
        "dcdc_fault_modules": "DC/DC modules reporting status 2 (fault) over all hosts",
    }

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        windows = [list(w) for field in ERROR_FIELDS if (w := data.get(f"{field}_window")) is not None and len(w)]
        data["error_events"] = sum(1 for codes in zip(*windows, strict=False) if any(map(_is_error, codes)))
        data["dcdc_fault_modules"] = sum(
            1
            for host in records(data, "dcdc_devices")
            for status in (host.get("dcWorkStatus") or [])
            if status == DC_FAULT
        )
        return data
