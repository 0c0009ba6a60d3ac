"""PositionGate: consumed messages whose offsets wait for more than the stations' callbacks.

The delivery tracker releases a message once every station it touched has seen it. Some messages
must wait for something else too: a bad message for its dead-letter copy to be acknowledged, a
message that opened a result batch for that batch's upload. Each such wait is a hold on the
message's position; a released position is marked done only when no hold is left, whichever
comes last.
"""

from __future__ import annotations

from collections.abc import Callable

from .delivery import Position

__all__ = ["PositionGate"]


class PositionGate:
    """Holds on message positions, and the tracker-released positions they keep from `mark_done`."""

    def __init__(self, mark_done: Callable[[list[Position]], None]) -> None:
        self._mark_done = mark_done
        self._holds: dict[Position, int] = {}
        self._released: set[Position] = set()  # released by the tracker, still held here

    @property
    def holding(self) -> int:
        """Positions held (their offsets wait)."""
        return len(self._holds)

    def hold(self, position: Position) -> None:
        self._holds[position] = self._holds.get(position, 0) + 1

    def let_go(self, position: Position) -> None:
        """End one hold; the position is done if it was the last and the tracker released it."""
        count = self._holds.get(position)
        if count is None:
            return
        if count > 1:
            self._holds[position] = count - 1
            return
        del self._holds[position]
        if position in self._released:
            self._released.discard(position)
            self._mark_done([position])

    def released(self, positions: list[Position]) -> list[Position]:
        """Of the positions the tracker released, those no hold keeps back (the rest wait here)."""
        holds = self._holds
        if not holds:
            return positions
        free = []
        for position in positions:
            if position in holds:
                self._released.add(position)
            else:
                free.append(position)
        return free
