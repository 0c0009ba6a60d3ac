"""ConnectionState: whether a client reaches the broker, logging each outage once."""

from __future__ import annotations

import logging
import time

__all__ = ["ConnectionState"]

logger = logging.getLogger("d_a.kafka")


class ConnectionState:
    """Logs a lost connection once and its recovery once; `connected` and `down_since` for health."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.connected = False
        self.down_since: float | None = None

    def up(self) -> None:
        if self.down_since is not None:
            logger.info("%s: connection restored after %.1f s", self.what, time.monotonic() - self.down_since)
        self.down_since, self.connected = None, True

    def down(self, exc: BaseException) -> None:
        if self.down_since is None:
            logger.warning("%s: connection lost (%s); retrying until the broker is back", self.what, exc)
            self.down_since = time.monotonic()
        self.connected = False
