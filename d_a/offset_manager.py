"""The original d_a's import path of OffsetManager (`d_a.offset_manager`); it lives in `d_a.kafka.offsets`."""

from .kafka.offsets import OffsetManager

__all__ = ["OffsetManager"]
