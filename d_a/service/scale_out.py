"""ScaleOutLayout: what a scaled-out service reads, and the splitter that feeds it.

Topics the producers key by station (`keyed_by_station`) are read as they are; every other topic
is read from its by-station topic, which the instances' splitters fill (`StationSplitter`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import Config
from ..errors import ConfigError
from ..kafka.by_station import by_station_topic, prepare
from ..kafka.key_sample import sample_keys
from .splitter import StationSplitter

__all__ = ["ScaleOutLayout", "lay_out"]

logger = logging.getLogger("d_a.service")


@dataclass(frozen=True)
class ScaleOutLayout:
    slots: int
    consumed: list[str]  # what the service's consumer reads
    sources: dict[str, str]  # {by-station topic: the configured topic it holds}
    splitter: StationSplitter | None


async def lay_out(config: Config, topics: list[str], group_id: str) -> ScaleOutLayout:
    """The layout of a scaled-out service reading `topics` in group `group_id`: the by-station
    topics made where missing; ConfigError when partition counts do not fit, or the newest
    messages of a topic said to be keyed by station are not."""
    keyed = [t for t in topics if config.topics[t].keyed_by_station]
    sources = {by_station_topic(group_id, t): t for t in topics if t not in keyed}
    slots = await prepare(config.kafka, keyed, sources, config.service.scale_out_slots)
    if keyed:
        samples = await sample_keys(config.kafka, keyed, slots)
        problems = [sample.problem for sample in samples if sample.problem is not None]
        if problems:
            raise ConfigError("scale_out: " + "; ".join(problems))
        logger.info(
            "scale-out: the %d newest messages of %s are keyed by station",
            sum(sample.sampled for sample in samples),
            ", ".join(keyed),
        )
    splitter = (
        StationSplitter(
            config,
            {topic: name for name, topic in sources.items()},
            slots,
            group_id,
            config.service.global_bootstrap_timeout,
        )
        if sources
        else None
    )
    return ScaleOutLayout(slots, [*keyed, *sources], sources, splitter)
