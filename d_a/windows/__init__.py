"""Per-station, per-topic windows of recent records, stored as compact numpy columns.

Build one with `make_window(WindowSpec(...))`; read model inputs with `Window.column`, padded
on the topic's time grid by one of PADDING_STRATEGIES; `align_by_key` aligns keyed rows (guns).
"""

from .align import align_by_key, align_listed
from .kinds import AppendWindow, LatestWindow, ReplaceWindow, make_window
from .padding import PADDING_STRATEGIES
from .per_device import PerDeviceWindow
from .per_second import PerSecondWindow
from .spec import WINDOW_KINDS, WindowSpec
from .window import Window, WindowChanges

__all__ = [
    "PADDING_STRATEGIES",
    "WINDOW_KINDS",
    "AppendWindow",
    "LatestWindow",
    "PerDeviceWindow",
    "PerSecondWindow",
    "ReplaceWindow",
    "Window",
    "WindowChanges",
    "WindowSpec",
    "align_by_key",
    "align_listed",
    "make_window",
]
