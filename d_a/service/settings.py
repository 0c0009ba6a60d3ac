"""EngineSettings: what an engine runs with, built once from the validated configuration."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.schema import ServiceConfig

__all__ = ["EngineSettings"]


@dataclass(frozen=True)
class EngineSettings:
    """The service settings (`service`, validated and frozen) and what the service was set up to
    read and write. A change (a config reload, a new consumer) makes a new one (`replace`)."""

    service: ServiceConfig
    module_name: str | None
    topics: tuple[str, ...]
    output_topic: str | None
    required_topics: tuple[str, ...] = ()
    global_topics: tuple[str, ...] = ()  # read by the global reader (see globals.py)

    @property
    def consumed_topics(self) -> list[str]:
        """The topics of the service's consumer: all but the global ones."""
        return [t for t in self.topics if t not in self.global_topics]
