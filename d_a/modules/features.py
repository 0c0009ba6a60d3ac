"""Small, None-safe helpers that module parsers use to derive features from a generic input."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["charging_guns", "finite", "maximum", "mean", "number", "records", "station_power_now", "total"]


def records(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A record list of the input (`car_orders`, `storage_devices`, ...), [] when absent.

    Read without the copy a ModuleInput makes for its callback: the helpers only read.
    """
    value = dict.get(data, key)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def finite(values: Iterable[Any]) -> list[float]:
    """The finite numbers among `values` (bools, None, text and NaN left out)."""
    return [
        float(v)
        for v in values
        if (type(v) is float and v - v == 0.0) or type(v) is int or (v is not None and _finite_number(v))
    ]


def number(data: dict[str, Any], key: str) -> float | None:
    """The input's value of `key` when it is a finite number, else None (read without a copy)."""
    numbers = finite([dict.get(data, key)])
    return numbers[0] if numbers else None


def _finite_number(value: Any) -> bool:
    """`finite`'s test for the types its fast path leaves out (numpy scalars, bools, text)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
