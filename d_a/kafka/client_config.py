"""From d_a's normalised Kafka settings to the keyword arguments each client library accepts.

aiokafka and kafka-python accept different keys (aiokafka has no `retries` and takes SSL files as
an `ssl_context`); keys a library does not accept are reported once, never passed or lost
silently.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

import aiokafka
import kafka
from aiokafka.admin import AIOKafkaAdminClient

from ..config import KafkaSettings, get_config, normalize_kafka_config
from .retry import Backoff

__all__ = [
    "aiokafka_admin_kwargs",
    "resolve_connection",
    "aiokafka_consumer_kwargs",
    "aiokafka_producer_kwargs",
    "global_reader_values",
    "kafka_python_consumer_kwargs",
    "kafka_python_producer_kwargs",
    "resolve_settings",
]

logger = logging.getLogger("d_a.kafka")

SSL_FILE_KEYS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password")
_reported: set[tuple[str, str]] = set()


def resolve_connection(
    config: KafkaSettings | Mapping[str, Any] | None, max_retries: int | None, retry_interval: float | None
) -> tuple[KafkaSettings, Backoff]:
    """(settings, how connecting is retried): a client's arguments over its settings."""
    settings = resolve_settings(config)
    attempts = max_retries or settings.max_retries
    return settings, Backoff(attempts, settings.retry_interval if retry_interval is None else retry_interval)


def resolve_settings(config: KafkaSettings | Mapping[str, Any] | None) -> KafkaSettings:
    """KafkaSettings from a KAFKA_CONFIG mapping (nested or flat), or the configured default."""
    if config is None:
        return get_config().kafka
    if isinstance(config, KafkaSettings):
        return config
    return normalize_kafka_config(config)


@cache
def _accepted(cls: type) -> frozenset[str]:
    parameters = inspect.signature(cls).parameters
    return frozenset(name for name in parameters if name not in ("self", "loop", "topics"))


def _select(
    values: Mapping[str, Any], accepted: frozenset[str], client: str, other: tuple[str, frozenset[str]]
) -> dict[str, Any]:
    """The settings `client` accepts. A setting only the `other` library accepts is meant for it
    (the thread-based service's kafka-python, or the asyncio service's aiokafka): said once at
    INFO. One neither accepts is a WARNING."""
    kwargs = {}
    other_client, other_accepted = other
    for key, value in values.items():
        if key in accepted:
            kwargs[key] = value
        elif (client, key) not in _reported:
            _reported.add((client, key))
            if key in other_accepted:
                logger.info("Kafka setting %s applies to the %s only, not the %s", key, other_client, client)
            else:
                logger.warning("Kafka setting %s is not supported by %s and is ignored", key, client)
    return kwargs


def _kafka_python(cls: type) -> frozenset[str]:
    return frozenset(cls.DEFAULT_CONFIG)  # type: ignore[attr-defined]


def _aiokafka(values: Mapping[str, Any], cls: type, client: str) -> dict[str, Any]:
    values = dict(values)
    ssl_files = {key: values.pop(key) for key in SSL_FILE_KEYS if key in values}
    check_hostname = values.pop("ssl_check_hostname", None)
    if "batch_size" in values and cls is aiokafka.AIOKafkaProducer:
        values.setdefault("max_batch_size", values.pop("batch_size"))
    _client_values(values)
    kafka_python = kafka.KafkaProducer if cls is aiokafka.AIOKafkaProducer else kafka.KafkaConsumer
    other = client.replace("aiokafka", "kafka-python")
    kwargs = _select(values, _accepted(cls), client, (other, _kafka_python(kafka_python)))
    if ssl_files:
        from aiokafka.helpers import create_ssl_context

        kwargs["ssl_context"] = create_ssl_context(
            cafile=ssl_files.get("ssl_cafile"),
            certfile=ssl_files.get("ssl_certfile"),
            keyfile=ssl_files.get("ssl_keyfile"),
            password=ssl_files.get("ssl_password"),
        )
        if check_hostname is False:
            kwargs["ssl_context"].check_hostname = False
    return kwargs


def aiokafka_consumer_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `aiokafka.AIOKafkaConsumer` (without topics and deserialisers)."""
    return _aiokafka(values, aiokafka.AIOKafkaConsumer, "aiokafka consumer")


def aiokafka_admin_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for `aiokafka.admin.AIOKafkaAdminClient`: the consumer's connection settings."""
    kwargs = aiokafka_consumer_kwargs(settings.consumer)
    accepted = _accepted(AIOKafkaAdminClient)
    return {key: value for key, value in kwargs.items() if key in accepted}


def aiokafka_producer_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `aiokafka.AIOKafkaProducer`."""
    return _aiokafka(values, aiokafka.AIOKafkaProducer, "aiokafka producer")


def kafka_python_consumer_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `kafka.KafkaConsumer`."""
    other = ("aiokafka consumer", _accepted(aiokafka.AIOKafkaConsumer))
    return _select(values, _kafka_python(kafka.KafkaConsumer), "kafka-python consumer", other)


def kafka_python_producer_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `kafka.KafkaProducer`."""
    values = dict(values)
    _client_values(values)
    other = ("aiokafka producer", _accepted(aiokafka.AIOKafkaProducer))
    return _select(values, _kafka_python(kafka.KafkaProducer), "kafka-python producer", other)


def _client_values(values: dict[str, Any]) -> None:
    """The original d_a's spellings the client libraries take otherwise: `acks: "1"` is 1, and
    `compression_type: "none"` is no compression (None)."""
    if values.get("acks") in ("1", "0", "-1"):
        values["acks"] = int(values["acks"])
    if values.get("compression_type") == "none":
        values["compression_type"] = None


GROUP_KEYS = (
    "group_id",
    "group_instance_id",
    "enable_auto_commit",
    "auto_commit_interval_ms",
    "partition_assignment_strategy",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "rebalance_timeout_ms",
    "max_poll_interval_ms",
    "max_poll_records",
    "auto_offset_reset",
)


def global_reader_values(consumer: Mapping[str, Any]) -> dict[str, Any]:
    """A global reader's consumer settings: the service's connection settings without a group,
    from the earliest offset, fetches not capped (aiokafka reads None as no cap)."""
    values = {key: value for key, value in consumer.items() if key not in GROUP_KEYS}
    return {**values, "group_id": None, "enable_auto_commit": False, "auto_offset_reset": "earliest"}
