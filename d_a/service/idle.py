"""IdleWork: what the engine does while no station is queued or running.

A garbage collector pass (`idle_gc`, see garbage.py), and encoding the windows' newest rows
(`DataDispatcher.encode_pending`), a window per turn of the event loop, so that data arriving meanwhile
waits for one window's encoding at most. The young-generation threshold the engine runs with is
set at `start` and restored at `stop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..dispatcher import DataDispatcher
from .garbage import IdleCollector, young_gc_threshold
from .scheduler import StationScheduler

__all__ = ["IdleWork"]


class IdleWork:
    """Runs the idle-time work of one engine."""

    def __init__(self, dispatcher: DataDispatcher, scheduler: StationScheduler, stopping: Callable[[], bool]) -> None:
        self.collector: IdleCollector | None = None  # set at start when `idle_gc`
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._stopping = stopping
        self._encoding = False  # an encoding step is scheduled
        self._previous_threshold: int | None = None

    def start(self, gc_threshold: int | None, idle_gc: bool) -> None:
        self._previous_threshold = young_gc_threshold(gc_threshold)
        self.collector = IdleCollector() if idle_gc else None

    def stop(self) -> None:
        young_gc_threshold(self._previous_threshold)

    @property
    def passes(self) -> list[int] | None:
        """The idle collector's passes per generation, None without `idle_gc`."""
        return None if self.collector is None else list(self.collector.passes)

    def idle(self) -> None:
        """The engine has nothing queued or running: do what is due."""
        if self.collector is not None:
            self.collector.idle()
        if not self._encoding and self._dispatcher.encoding_due():
            self._encoding = True
            asyncio.get_running_loop().call_soon(self._encode_step)

    def _encode_step(self) -> None:
        if self._scheduler.idle and not self._stopping() and self._dispatcher.encode_pending():
            asyncio.get_running_loop().call_soon(self._encode_step)
        else:
            self._encoding = False  # the next idle moment starts again
