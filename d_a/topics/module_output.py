"""MODULE-OUTPUT-*: a module's results, read back by the modules that depend on it.

Four forms arrive: the batch form `{batch_id, module, timestamp, stations: [{station_id, ...}]}`
(as the original d_a's batch document specifies it, and as d_a writes it), the form its implementation
wrote, with
`results` in place of `stations`, the single form `{station_id, module, output, timestamp}`, and a
plain result object carrying its `station_id`. Each yields, per station, the result as the module
returned it.
"""

from __future__ import annotations

from typing import Any

from .bad_input import BadInput
from .base import TopicParser
from .fields import guard_values
from .registry import register_parser

_ID_KEYS = ("station_id", "stationId")
_ENVELOPE_KEYS = frozenset({"station_id", "stationId", "module", "output", "timestamp", "input"})
_BATCH_KEYS = ("stations", "results")  # the batch document's key, and the key the original implementation wrote


@register_parser("module_output")
class ModuleOutputParser(TopicParser):
    """Splits batch uploads into per-station results; unwraps the single form's `output`."""

    def split(self, value: Any) -> list[Any]:
        key = _batch_key(value)
        if key is not None:
            stations = value[key]
            if not isinstance(stations, list):
                raise BadInput("wrong_shape", f"`{key}` of a batch upload must be a list")
            stamp = value.get("timestamp")
            return [{**s, "timestamp": s.get("timestamp", stamp)} if isinstance(s, dict) else s for s in stations]
        return super().split(value)

    def parse(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadInput("wrong_shape", f"a module result must be an object, got {type(data).__name__}")
        if "output" in data and set(data) <= _ENVELOPE_KEYS:
            output = data["output"]
            result = dict(output) if isinstance(output, dict) else {"output": output}
            result.setdefault("timestamp", data.get("timestamp"))
        else:
            result = {k: v for k, v in data.items() if k not in _ID_KEYS}
        guard_values(result)
        return result

    def record_time(self, record: dict[str, Any], arrival: float) -> float:
        stamp = record.get("timestamp")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return stamp / 1000.0 if stamp > 1e11 else float(stamp)
        return arrival


def _batch_key(value: Any) -> str | None:
    """`stations` or `results` when `value` is a batch upload, else None. A batch names no station
    of its own; a station's result that has a `stations` or `results` field does."""
    if not isinstance(value, dict) or any(key in value for key in _ID_KEYS):
        return None
    for key in _BATCH_KEYS:
        if key in value:
            return key
    return None
