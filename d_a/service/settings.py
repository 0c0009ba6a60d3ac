"""EngineSettings: how a service's engine runs, resolved from the config and the constructor."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EngineSettings"]


@dataclass
class EngineSettings:
    """How the engine runs; services fill it from the config and their constructor arguments."""

    module_name: str | None
    topics: list[str]
    output_topic: str | None
    max_concurrency: int
    min_interval: float
    interval: float | None
    required_topics: list[str]
    cleanup_interval: float
    batch_timeout: float
    max_held_messages: int = 200_000
    stop_timeout: float = 30.0
    upload_input: bool = False
    gc_threshold: int | None = None  # Python's generation-0 GC threshold while the engine runs
    idle_gc: bool = False  # collect garbage when no station is queued or running (see garbage.py)
    global_topics: list[str] = field(default_factory=list)  # read by the global reader (see globals.py)
    global_bootstrap_timeout: float = 30.0
    dead_letter_topic: str | None = None  # see dead_letters.py
    dead_letter_after_failures: int = 3
    backlog_runs: str = "newest"  # or "every_batch": see flow.py
    backlog_max_delay: float = 10.0

    @property
    def consumed_topics(self) -> list[str]:
        """The topics of the service's consumer: all but the global ones."""
        return [t for t in self.topics if t not in self.global_topics]
