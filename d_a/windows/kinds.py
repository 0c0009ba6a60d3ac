"""The window kinds and `make_window`, which builds the right one for a spec."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from .pending import PendingEncoder
from .per_device import PerDeviceWindow
from .per_second import PerSecondWindow
from .spec import WindowSpec
from .window import Window


class LatestWindow(Window):
    """The newest record (the newest `window_size` records when that is more than 1)."""

    kind: ClassVar[str] = "latest"


class AppendWindow(Window):
    """The newest `window_size` records; late records are placed by time, duplicates stored once."""

    kind: ClassVar[str] = "append"


class ReplaceWindow(Window):
    """A window that each message replaces whole (`replace`); `add`/`add_many` append."""

    kind: ClassVar[str] = "replace"


WINDOW_CLASSES: dict[str, type[Window]] = {
    cls.kind: cls for cls in (LatestWindow, AppendWindow, ReplaceWindow, PerSecondWindow, PerDeviceWindow)
}


def make_window(spec: WindowSpec, encoder: PendingEncoder | None = None) -> Window:
    """A new, empty window of the kind `spec.kind` (`encoder`: see store.PendingEncoder)."""
    return WINDOW_CLASSES[spec.kind](spec, encoder)


def refit(window: Window, old: WindowSpec | None, spec: WindowSpec, encoder: PendingEncoder | None = None) -> Window:
    """`window` fitted to a new spec (a config reload): resized when only the size changed, else a
    new window of the new kind holding the records it had (a completed second stays complete)."""
    if old is not None and dataclasses.replace(old, window_size=spec.window_size) == spec:
        window.resize(spec.window_size)
        return window
    rebuilt = make_window(spec, encoder)
    rebuilt.add_many(window.records(), list(window.times()), window.last_update)
    if isinstance(window, PerSecondWindow) and window.newest_second_complete:
        assert isinstance(rebuilt, PerSecondWindow)
        rebuilt.close_due(math.inf)  # readers keep the second they had
    return rebuilt
