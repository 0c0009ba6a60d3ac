"""The standard output messages a service uploads to `MODULE-OUTPUT-<MODULE>`."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["batch_output", "single_output"]


def single_output(station_id: str, module: str, result: Any, module_input: Any = None) -> dict[str, Any]:
    """`{station_id, module, output, timestamp[, input]}` for one station's result."""
    message = {"station_id": station_id, "module": module, "output": result, "timestamp": time.time()}
    if module_input is not None:
        message["input"] = module_input
    return message


def batch_output(
    batch_id: str, module: str, results: list[dict[str, Any]], batch_stations: int | None = None
) -> dict[str, Any]:
    """`{batch_id, module, timestamp, stations, station_count}` for one batch of station results;
    with scale-out, this instance's part of the batch, and `batch_station_count`: the stations
    of the whole batch (the parts of all instances)."""
    message = {
        "batch_id": batch_id,
        "module": module,
        "timestamp": time.time(),
        "stations": results,
        "station_count": len(results),
    }
    if batch_stations is not None:
        message["batch_station_count"] = batch_stations
    return message
