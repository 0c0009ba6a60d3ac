"""What a running engine reports: its part of `get_service_status()`, and the per-station status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import error_counts
from .station_handle import StationHandle

if TYPE_CHECKING:
    from .engine import ServiceEngine

__all__ = ["engine_status", "station_status"]


def engine_status(engine: ServiceEngine) -> dict[str, Any]:
    """Liveness, queues and holds, batches, failing stations, counters, delays, offsets and lag."""
    stats = engine.stats.snapshot()
    last = engine.stats.last_message_at
    paused = engine.flow.paused_since
    return {
        "main_loop_alive": engine.loop_alive,
        "restoring": engine.state is not None and not engine.state.restored,
        "ready": engine.loop_alive,
        "main_thread_alive": engine.loop_alive,
        "consumer_alive": engine.intake.consumer.connected,
        "producer_alive": None if engine.producer is None else engine.producer.connected,
        "station_count": len(engine.dispatcher.stations()),
        "queue_depth": engine.scheduler.queue.qsize(),
        "stations_waiting_for_backlog": len(engine.scheduler.deferred),
        "running_callbacks": engine.scheduler.running,
        "held_messages": engine.tracker.held_messages,
        "consumption_paused_seconds": None if paused is None else time.monotonic() - paused,
        "seconds_since_last_message": None if last is None else time.monotonic() - last,
        "open_batches": engine.uploads.aggregator.open_batches,
        "batches_waiting_retry": engine.uploads.waiting_retry,
        "result_handler_registered": engine.callbacks.result_handler is not None,
        "failing_stations": _failing_stations(engine),
        "dead_letters": None if engine.dead_letters is None else engine.dead_letters.status(),
        "batch_upload_handler_registered": engine.uploads.batch_upload_handler is not None,
        "counters": _counters(engine, stats["counters"]),
        "messages_per_topic": {**stats["messages_per_topic"], **engine.globals.messages},
        "global_topics": engine.globals.status(),
        "bad_input": engine.dispatcher.bad_input.by_kind(),
        "errors": error_counts(),
        "latency_ms": stats["latency_ms"],
        "staleness_ms": stats["staleness_ms"],
        "offsets_committed": engine.intake.offsets.commits,
        "lag": _lag(engine),
        "idle_gc_passes": engine.idle.passes,
        "state": None if engine.state is None else engine.state.status(),
        "scale_out": None if engine.ownership is None else engine.ownership.status(),
    }


def station_status(engine: ServiceEngine, stop: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Per station: `running` (served) and `task` / `future` (a StationHandle whose `cancel`
    calls `stop`), plus whether it is ready, queued or in its callback, and counters."""
    scheduler = engine.scheduler
    stations = dict.fromkeys([*engine.dispatcher.stations(), *scheduler.states])
    status = {}
    for station in stations:
        state = scheduler.states.get(station)
        handle = StationHandle(station, engine.serves, stop)
        status[station] = {
            "running": engine.serves(station),
            "task": handle,
            "future": handle,
            "ready": engine.is_ready(station),
            "in_callback": state is not None and state.running,
            "queued": state is not None and state.queued,
            "runs": 0 if state is None else state.runs,
            "errors": 0 if state is None else state.errors,
            "failures_in_row": 0 if state is None else state.failures_in_row,
            "last_error": None if state is None else state.last_error,
        }
    return status


def _failing_stations(engine: ServiceEngine) -> dict[str, dict[str, Any]]:
    """Stations whose callback raised `dead_letter_after_failures` times in a row or more."""
    threshold = engine.settings.service.dead_letter_after_failures
    return {
        station: {"failures_in_row": state.failures_in_row, "last_error": state.last_error}
        for station, state in engine.scheduler.states.items()
        if state.failures_in_row >= threshold
    }


def _counters(engine: ServiceEngine, counters: dict[str, int]) -> dict[str, int]:
    """The engine's counters, with the global reader's messages and the dead letters sent."""
    counters["dead_letters"] = 0 if engine.dead_letters is None else engine.dead_letters.sent
    counters["messages"] += sum(engine.globals.messages.values())
    counters["bad_messages"] += engine.globals.bad_messages
    return counters


def _lag(engine: ServiceEngine) -> dict[str, Any]:
    try:
        return engine.intake.consumer.get_lag_info()
    except Exception:  # noqa: BLE001 - a status read must not fail because a client is closing
        return {}
