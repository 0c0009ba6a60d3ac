"""Window state that survives restarts: checkpoints of the windows in a directory (docs/STATE.md)."""

from .checkpoints import CheckpointStore, Restored, Round, RoundReport
from .container import STATE_FORMAT, CorruptState

__all__ = ["STATE_FORMAT", "CheckpointStore", "CorruptState", "Restored", "Round", "RoundReport"]
