"""ConsumerPlan: which underlying consumers a client opens, shared by the async and sync clients.

Multi-consumer mode (on by default for more than one topic) gives every topic a consumer of its
own in group `{group_id}-{topic}`, with its own `max_poll_records` quota and the topic's
`topic_overrides` (e.g. a daily topic's consumer fetching less often); otherwise one consumer in
`group_id` reads every topic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import KafkaSettings
from .client_config import resolve_connection
from .retry import Backoff

__all__ = ["ConsumerPlan", "plan_consumers", "use_multi_consumer"]

logger = logging.getLogger("d_a.kafka")

DEFAULT_GROUP = "data_analysis_group"


def use_multi_consumer(settings: KafkaSettings, topics: Sequence[str]) -> bool:
    """Multi-consumer mode: on by default for more than one topic, off when configured so."""
    return len(topics) > 1 and settings.multi_consumer_mode is not False


@dataclass(frozen=True)
class ConsumerPlan:
    topics: list[str]
    settings: KafkaSettings
    group_id: str
    multi_consumer_mode: bool
    backoff: Backoff
    members: list[tuple[list[str], dict[str, Any]]]  # (topics, consumer settings with its group_id)


def plan_consumers(
    client: str,
    topics: Sequence[str],
    config: KafkaSettings | Mapping[str, Any] | None,
    *,
    group_id: str | None,
    multi_consumer_mode: bool | None,
    max_retries: int | None,
    retry_interval: float | None,
) -> ConsumerPlan:
    """Resolve a consumer client's arguments; ValueError naming the client without topics."""
    if not topics:
        raise ValueError(f"{client} needs at least one topic")
    unique = list(dict.fromkeys(topics))
    settings, backoff = resolve_connection(config, max_retries, retry_interval)
    values = dict(settings.consumer)
    group = group_id or values.get("group_id") or DEFAULT_GROUP
    multi = use_multi_consumer(settings, unique) if multi_consumer_mode is None else multi_consumer_mode
    multi = bool(multi and len(unique) > 1)
    overrides = settings.topic_overrides
    if multi:
        members = [
            ([topic], {**values, **overrides.get(topic, {}), "group_id": f"{group}-{topic}"}) for topic in unique
        ]
    else:
        members = [(unique, {**values, "group_id": group})]
        unused = [topic for topic in unique if topic in overrides]
        if unused:
            logger.warning(
                "%s: topic_overrides for %s ignored: they apply in multi-consumer mode only", client, ", ".join(unused)
            )
    return ConsumerPlan(
        topics=unique,
        settings=settings,
        group_id=group,
        multi_consumer_mode=multi,
        backoff=backoff,
        members=members,
    )
