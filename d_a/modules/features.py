"""Small, None-safe helpers that module parsers use to derive features from a generic input."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["charging_guns", "finite", "maximum", "mean", "records", "station_power_now", "total"]


def records(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A record list of the input (`car_orders`, `storage_devices`, ...), [] when absent."""
    value = data.get(key)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def finite(values: Iterable[Any]) -> list[float]:
    """The finite numbers among `values` (bools, None, text and NaN left out)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def total(values: Iterable[Any]) -> float | None:
    numbers = finite(values)
    return sum(numbers) if numbers else None


def mean(values: Iterable[Any]) -> float | None:
    numbers = finite(values)
    return sum(numbers) / len(numbers) if numbers else None


def maximum(values: Iterable[Any]) -> float | None:
    numbers = finite(values)
    return max(numbers) if numbers else None


def charging_guns(data: dict[str, Any]) -> list[Any]:
    """Gun numbers with a car order in the completed second, sorted."""
    guns = {r.get("gunNo") for r in records(data, "car_orders")} - {None}
    return sorted(guns, key=lambda g: (type(g).__name__, g))


def station_power_now(data: dict[str, Any]) -> float | None:
    """Sum of `outputPower` over the completed second's car orders (kW)."""
    return total(r.get("outputPower") for r in records(data, "car_orders"))
