"""By-station topics: where a scaled-out group's splitter places the messages of topics the
producers do not key by station (Kafka Streams' repartition topics).

`<consumer group>.<topic>.by-station` has one partition per slot; the splitter writes each
station's records to the partition of its slot, so the instances read them like a topic keyed by
station. `prepare` creates the missing ones (as many replicas as their source topic has) and
checks that every topic the instances read has the slot count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ..config import KafkaSettings
from ..errors import ConfigError, KafkaConnectionError
from .client_config import aiokafka_admin_kwargs
from .slots import copartition_problem

__all__ = ["by_station_topic", "prepare"]

_LEGAL = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def by_station_topic(group: str, topic: str) -> str:
    """The by-station topic of `topic` for consumer group `group`; ConfigError when Kafka would refuse the name."""
    name = f"{group}.{topic}.by-station"
    if not _LEGAL.match(name):
        raise ConfigError(
            f"scale_out: {name!r} is no legal Kafka topic name (letters, digits, '.', '_', '-'; at most 249): "
            "choose a consumer group id of those characters"
        )
    return name


async def prepare(settings: KafkaSettings, keyed: Sequence[str], by_station: Mapping[str, str], slots: int) -> int:
    """The slot count: the keyed topics' partition count, or `slots` without keyed topics. Creates
    the missing by-station topics (`{by-station topic: its source}`) with that many partitions;
    ConfigError when the keyed topics differ in partition count or an existing by-station topic
    has another count."""
    admin = AIOKafkaAdminClient(**aiokafka_admin_kwargs(settings))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [*keyed, *by_station, *by_station.values()]
        described = await admin.describe_topics([t for t in dict.fromkeys(wanted) if t in existing])
        counts = {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
        replicas = {d["topic"]: len(d["partitions"][0]["replicas"]) for d in described if d["partitions"]}
        missing_keyed = [t for t in keyed if t not in counts]
        if missing_keyed:
            raise ConfigError(f"scale_out: keyed_by_station topics {', '.join(missing_keyed)} do not exist")
        if keyed:
            problem = copartition_problem({t: counts[t] for t in keyed})
            if problem is not None:
                raise ConfigError(problem)
            slots = counts[keyed[0]]
        wrong = {t: counts[t] for t in by_station if t in counts and counts[t] != slots}
        if wrong:
            listed = ", ".join(f"{t}={n}" for t, n in sorted(wrong.items()))
            raise ConfigError(
                f"scale_out: by-station topics {listed} partitions, not the {slots} slots: delete them (they are "
                "made again from their sources' retained messages) or give the keyed topics that count"
            )
        new = [
            NewTopic(name, num_partitions=slots, replication_factor=replicas.get(source, 1))
            for name, source in by_station.items()
            if name not in counts
        ]
        if new:
            await _create(admin, new)
        return slots
    except KafkaError as exc:
        raise KafkaConnectionError(f"scale_out: preparing the by-station topics failed: {exc}") from exc
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    response = await admin.create_topics(topics)
    for name, code, message in response.topic_errors:
        if code and code != TopicAlreadyExistsError.errno:  # another instance made it meanwhile
            raise ConfigError(f"scale_out: creating topic {name} failed: {message or code}")
