"""FlowControl: when the engine stops fetching, and when triggered stations wait for a backlog.

- Backpressure: once `max_held_messages` messages wait (for callbacks not yet run, a dead-letter
  copy or a batch upload), fetching pauses until runs catch up, instead of memory growing.
- Backlog runs (`service.backlog_runs: newest`): while the consumer reads a backlog, the stations
  the data triggers wait, and each runs once on its newest data when the consumer has caught up,
  so a backlog is not served poll batch by poll batch. They run sooner when they have waited
  `backlog_max_delay`, or when the messages held for them reach half of `max_held_messages`
  (fetching would pause). Their messages stay uncommitted until they ran. Behind is what the
  partitions' lag says (backlog.py), not what a fetch returned: a fetch that came back empty is a
  response still on its way, not the end of the backlog; and the few messages a live feed always
  has unread are not a backlog.
- Replay after a restore (either `backlog_runs`): while messages the callbacks saw before the
  restart are read again into the windows, triggered stations wait the same way, so no run sees
  windows that lack what the run before the restart had.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .delivery import DeliveryTracker
from .position_gate import PositionGate
from .scheduler import StationScheduler
from .stats import EngineStats

if TYPE_CHECKING:
    from .settings import EngineSettings

__all__ = ["FlowControl"]

logger = logging.getLogger("d_a.service")

PAUSE_WARNING_INTERVAL = 60.0  # at most one warning a minute that consumption paused


class FlowControl:
    """Asked before each fetch whether to pause, and after it whether triggered runs wait."""

    def __init__(
        self,
        settings: EngineSettings,
        scheduler: StationScheduler,
        tracker: DeliveryTracker,
        gate: PositionGate,
        stats: EngineStats,
        behind: Callable[[], bool],
        replaying: Callable[[], bool] = lambda: False,
    ) -> None:
        self.service = settings.service
        self.module_name = settings.module_name
        self.paused_since: float | None = None  # fetching paused because callbacks are behind
        self._scheduler = scheduler
        self._tracker = tracker
        self._gate = gate
        self._stats = stats
        self._behind = behind
        self._replaying = replaying
        self._pause_warned_at = -math.inf
        self._deferring_since = 0.0  # when the stations' runs began to wait for the backlog

    def held(self) -> int:
        """Messages whose offsets wait: for callbacks, a dead-letter copy or a batch upload."""
        return self._tracker.held_messages + self._gate.holding

    def must_pause(self) -> bool:
        """Whether to pause fetching now (counted when a pause begins, warned at most once a minute)."""
        if self.held() < self.service.max_held_messages:
            self.paused_since = None
            return False
        if self.paused_since is None:
            now = self.paused_since = time.monotonic()
            self._stats.counters["consumption_pauses"] += 1
            if now - self._pause_warned_at >= PAUSE_WARNING_INTERVAL:
                self._pause_warned_at = now
                logger.warning(
                    "consumption paused: module=%s, %d messages held for callbacks not yet run "
                    "(max_held_messages %d); callbacks are behind the data (pause %d of this run)",
                    self.module_name,
                    self._tracker.held_messages,
                    self.service.max_held_messages,
                    self._stats.counters["consumption_pauses"],
                )
        return True

    def after_fetch(self) -> None:
        """Let triggered runs wait while a backlog is read (`backlog_runs: newest`) or a replay
        lasts, or go."""
        replaying = self._replaying()
        if self.service.backlog_runs != "newest" and not replaying:
            return
        scheduler = self._scheduler
        backlog = self._behind()  # asked after every fetch: the gauge times what it noticed
        behind = self.held() < self.service.max_held_messages // 2 and (replaying or backlog)
        if not behind:
            if scheduler.deferring:
                scheduler.release()
            return
        now = time.monotonic()
        if not scheduler.deferring:
            scheduler.defer()
            self._deferring_since = now
        elif now - self._deferring_since >= self.service.backlog_max_delay:
            scheduler.release()
            scheduler.defer()
            self._deferring_since = now
