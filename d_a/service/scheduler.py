"""StationScheduler: when each station's callback runs.

A station runs when its data triggers, at most once per `min_interval` (a burst of triggers
coalesces into one run), never twice at once (a trigger during a run makes it run once more
afterwards), and only when it is ready (its required topics hold data). Ready stations wait in
one queue that a bounded number of workers drain, so thousands of stations need no thousands of
threads or tasks. While the owner `defer`s (it is reading a backlog), triggered stations are set
aside, each once, and `release` queues them: each then runs once, on its newest data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["StationScheduler", "StationState"]


@dataclass
class StationState:
    """One station's scheduling state and counters (reported by `get_station_status`)."""

    running: bool = False
    queued: bool = False
    delayed: bool = False
    rerun: bool = False
    waited: bool = False  # its queued run has waited for global data (GlobalTopics) already
    runs: int = 0
    errors: int = 0
    failures_in_row: int = 0  # callbacks that raised since the last one that did not
    last_start: float = field(default=-1e18)
    last_end: float | None = None
    last_error: str | None = None


class StationScheduler:
    """Coalescing, rate-limited station triggers feeding one asyncio queue of ready stations."""

    def __init__(
        self,
        min_interval: float,
        is_ready: Callable[[str], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.is_ready = is_ready
        self.clock = clock
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.states: dict[str, StationState] = {}
        self.running = 0  # stations whose run has started and not finished
        self.deferring = False
        self.deferred: dict[str, None] = {}  # stations set aside while deferring, in trigger order
        self.parked: dict[str, None] = {}  # taken from the queue, waiting for something before they run

    def state(self, station: str) -> StationState:
        state = self.states.get(station)
        if state is None:
            state = self.states[station] = StationState()
        return state

    @property
    def idle(self) -> bool:
        """No station queued, running, deferred or parked (a delayed one may still come)."""
        return not self.running and not self.queue.qsize() and not self.deferred and not self.parked

    def trigger(self, station: str, *, force: bool = False) -> bool:
        """Ask for a run of `station`; False when it is not ready (unless `force`)."""
        if not force and not self.is_ready(station):
            return False
        state = self.state(station)
        if state.running:
            state.rerun = True
        elif self.deferring and not state.queued:
            self.deferred[station] = None
        elif not (state.queued or state.delayed):
            wait = state.last_start + self.min_interval - self.clock()
            if wait <= 0:
                self._enqueue(station, state)
            else:
                state.delayed = True
                asyncio.get_running_loop().call_later(wait, self._delayed, station)
        return True

    def trigger_all(self, stations: Iterable[str]) -> None:
        for station in stations:
            self.trigger(station)

    def defer(self) -> None:
        """Set triggered stations aside until `release`."""
        self.deferring = True

    def release(self) -> None:
        """Stop deferring and queue the stations set aside."""
        self.deferring = False
        stations, self.deferred = self.deferred, {}
        for station in stations:
            if station in self.states:
                self.trigger(station, force=True)

    def park(self, station: str) -> None:
        """Hold a station taken from the queue (its run waits for something) without a worker."""
        self.parked[station] = None

    def unpark(self, stations: Iterable[str]) -> None:
        """Queue parked stations again, each marked `waited`."""
        for station in stations:
            self.parked.pop(station, None)
            state = self.states.get(station)
            if state is not None:
                state.waited = True
                self.queue.put_nowait(station)

    def started(self, station: str) -> StationState:
        state = self.state(station)
        if not state.running:
            self.running += 1
        state.queued, state.running = False, True
        state.last_start = self.clock()
        state.runs += 1
        return state

    def finished(self, station: str, error: str | None = None) -> None:
        state = self.state(station)
        if state.running:
            self.running -= 1
        state.running = False
        state.last_end = self.clock()
        if error is not None:
            state.errors += 1
            state.failures_in_row += 1
            state.last_error = error
        else:
            state.failures_in_row = 0
        if state.rerun:
            state.rerun = False
            self.trigger(station, force=True)

    def remove(self, station: str) -> None:
        """Forget a station (a queued run of it is skipped)."""
        self.deferred.pop(station, None)
        self.parked.pop(station, None)
        state = self.states.pop(station, None)
        if state is not None and state.running:
            self.running -= 1

    def is_queued(self, station: str) -> bool:
        state = self.states.get(station)
        return state is not None and state.queued

    def _enqueue(self, station: str, state: StationState) -> None:
        state.queued = True
        self.queue.put_nowait(station)

    def _delayed(self, station: str) -> None:
        state = self.states.get(station)
        if state is None:
            return
        state.delayed = False
        if not (state.running or state.queued):
            self._enqueue(station, state)
