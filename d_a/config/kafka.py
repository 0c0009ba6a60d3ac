"""Normalisation of KAFKA_CONFIG: the nested and the flat form give the same settings.

Nested: `{"consumer": {...}, "producer": {...}}`, optionally with shared keys (such as
`bootstrap_servers` or SASL settings) at top level. Flat: every key at top level; each goes to the
consumer, the producer or both by what it means. Known keys are type-checked; unknown ones are
reported once as ignored, never passed on silently nor dropped without a word.

d_a's own consumer keys may sit at top level or in the consumer section (where the original d_a
put `multi_consumer_mode`): `multi_consumer_mode`, and `topic_overrides`, consumer settings of single
topics' consumers in multi-consumer mode (e.g. a longer `fetch_max_wait_ms` for a daily topic).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..errors import ConfigError
from ..logs import MASK, register_secret
from .problems import problems_from_validation

__all__ = ["KafkaSettings", "normalize_kafka_config"]

logger = logging.getLogger("d_a.config")

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class _ClientKeys(BaseModel):
    """Keys shared by consumers and producers (connection, security, timeouts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: list[StrictStr] | None = Field(
        default=None, description="Broker addresses, a list or one comma-separated string."
    )
    client_id: StrictStr | None = Field(default=None, description="Client id brokers show in their logs and quotas.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None, description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["PLAIN", "GSSAPI", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = Field(
        default=None, description="PLAIN, GSSAPI, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."
    )
    sasl_plain_username: StrictStr | None = Field(default=None, description="User name for PLAIN and SCRAM.")
    sasl_plain_password: StrictStr | None = Field(
        default=None, description="Password for PLAIN and SCRAM (masked in logs)."
    )
    sasl_kerberos_service_name: StrictStr | None = Field(
        default=None, description="GSSAPI: the brokers' Kerberos service name."
    )
    sasl_kerberos_domain_name: StrictStr | None = Field(
        default=None, description="GSSAPI: the brokers' Kerberos domain."
    )
    ssl_cafile: StrictStr | None = Field(default=None, description="CA bundle that signed the brokers' certificates.")
    ssl_certfile: StrictStr | None = Field(default=None, description="Client certificate, for mutual TLS.")
    ssl_keyfile: StrictStr | None = Field(default=None, description="Client private key, for mutual TLS.")
    ssl_password: StrictStr | None = Field(default=None, description="Passphrase of ssl_keyfile (masked in logs).")
    ssl_check_hostname: StrictBool | None = Field(default=None, description="Check the broker certificate's host name.")
    request_timeout_ms: NonNegativeInt | None = Field(default=None, description="Longest wait for any broker response.")
    metadata_max_age_ms: NonNegativeInt | None = Field(
        default=None, description="Refresh cluster metadata at least this often."
    )
    connections_max_idle_ms: NonNegativeInt | None = Field(
        default=None, description="Close connections idle this long."
    )
    retry_backoff_ms: NonNegativeInt | None = Field(default=None, description="Wait before retrying a failed request.")
    reconnect_backoff_ms: NonNegativeInt | None = Field(
        default=None, description="Wait before reconnecting to a broker (kafka-python)."
    )
    reconnect_backoff_max_ms: NonNegativeInt | None = Field(
        default=None, description="Longest reconnect wait (kafka-python)."
    )
    bootstrap_timeout_ms: NonNegativeInt | None = Field(
        default=None, description="One connection attempt's bootstrap wait (kafka-python)."
    )


class ConsumerKeys(_ClientKeys):
    """Consumer settings of kafka-python and aiokafka that d_a passes on."""

    group_id: StrictStr | None = Field(
        default=None, description="Base name of the consumer groups (`<group_id>.<module>`)."
    )
    auto_offset_reset: Literal["earliest", "latest", "none"] | None = Field(
        default=None, description="Where a group without committed offsets starts: earliest, latest or none."
    )
    enable_auto_commit: StrictBool | None = Field(
        default=None, description="Keep false: d_a commits offsets after callbacks saw the data."
    )
    auto_commit_interval_ms: NonNegativeInt | None = Field(
        default=None, description="Auto-commit interval (only with enable_auto_commit)."
    )
    max_poll_records: PositiveInt | None = Field(
        default=None, description="Most records one fetch returns, per consumer."
    )
    session_timeout_ms: NonNegativeInt | None = Field(
        default=None, description="A consumer without heartbeats this long leaves its group."
    )
    heartbeat_interval_ms: NonNegativeInt | None = Field(
        default=None, description="How often heartbeats are sent (at most a third of session_timeout_ms)."
    )
    max_poll_interval_ms: NonNegativeInt | None = Field(
        default=None, description="Longest time between two fetches before the consumer leaves its group."
    )
    rebalance_timeout_ms: NonNegativeInt | None = Field(
        default=None, description="Longest wait for members to rejoin in a rebalance (aiokafka)."
    )
    fetch_max_wait_ms: NonNegativeInt | None = Field(
        default=None, description="Longest time the broker holds a fetch waiting for fetch_min_bytes."
    )
    fetch_min_bytes: NonNegativeInt | None = Field(
        default=None, description="Data the broker waits for before answering a fetch."
    )
    fetch_max_bytes: NonNegativeInt | None = Field(
        default=None, description="Most data one fetch returns over all partitions."
    )
    max_partition_fetch_bytes: NonNegativeInt | None = Field(
        default=None, description="Most data one fetch returns per partition."
    )
    isolation_level: Literal["read_uncommitted", "read_committed"] | None = Field(
        default=None, description="read_uncommitted or read_committed (skip aborted transactions)."
    )
    check_crcs: StrictBool | None = Field(default=None, description="Check the CRC of fetched records.")
    exclude_internal_topics: StrictBool | None = Field(
        default=None, description="Leave internal topics out of pattern subscriptions."
    )


class ProducerKeys(_ClientKeys):
    """Producer settings of kafka-python and aiokafka that d_a passes on."""

    acks: Literal[0, 1, -1, "all", "0", "1", "-1"] | None = Field(
        default=None, description="Acknowledgements an upload waits for: all, 1 or 0."
    )
    retries: NonNegativeInt | None = Field(default=None, description="Send retries (kafka-python).")
    compression_type: Literal["gzip", "snappy", "lz4", "zstd", "none"] | None = Field(
        default=None, description="Compression of uploads: gzip, snappy, lz4, zstd or none."
    )
    linger_ms: NonNegativeInt | None = Field(
        default=None, description="Wait this long to put more results into one request."
    )
    batch_size: NonNegativeInt | None = Field(
        default=None, description="Bytes batched per partition (kafka-python; aiokafka's max_batch_size)."
    )
    max_batch_size: NonNegativeInt | None = Field(default=None, description="Bytes batched per partition (aiokafka).")
    max_in_flight_requests_per_connection: PositiveInt | None = Field(
        default=None, description="Unacknowledged requests per connection (kafka-python)."
    )
    buffer_memory: NonNegativeInt | None = Field(default=None, description="Bytes buffered for sending (kafka-python).")
    max_request_size: NonNegativeInt | None = Field(
        default=None, description="Largest request, and so the largest single upload."
    )
    max_block_ms: NonNegativeInt | None = Field(
        default=None, description="Longest a send blocks when the buffer is full (kafka-python)."
    )
    enable_idempotence: StrictBool | None = Field(
        default=None, description="Idempotent producer: no duplicates from retries."
    )
    transactional_id: StrictStr | None = Field(default=None, description="Transactional producer id.")


class _AnyClientKeys(ConsumerKeys, ProducerKeys):
    """Every client key, for the flat form's top level (each then goes where it applies)."""


class TopicConsumerKeys(ConsumerKeys):
    """What one topic's consumer may set differently in multi-consumer mode (not its group, which
    is derived from the topic, nor the cluster)."""

    @field_validator("group_id", "bootstrap_servers")
    @classmethod
    def _shared(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            raise ValueError(
                f"{info.field_name} is the same for every topic's consumer; set it in the consumer section"
            )
        return value


class _OwnConsumerKeys(BaseModel):
    """d_a's own consumer keys, read at top level or in the consumer section."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    multi_consumer_mode: StrictBool | None = Field(
        default=None,
        description="One consumer per topic, each with its own group and quota; default: on with several topics.",
    )
    topic_overrides: dict[StrictStr, TopicConsumerKeys] | None = Field(
        default=None, description="Per-topic consumer settings in multi-consumer mode (`topic: {key: value}`)."
    )


class _OwnKeys(_OwnConsumerKeys):
    """Keys of the Kafka section that belong to d_a itself, not to a client."""

    max_retries: PositiveInt = Field(default=5, description="Connection attempts at start before KafkaConnectionError.")
    retry_interval: float = Field(
        default=5.0,
        strict=True,
        ge=0,
        description="Seconds after the first failed attempt; doubles each further one, up to 60.",
    )


OWN_KEYS = frozenset(_OwnKeys.model_fields)
OWN_CONSUMER_KEYS = frozenset(_OwnConsumerKeys.model_fields)
SECRET_KEYS = frozenset({"sasl_plain_password", "ssl_password"})

CONSUMER_DEFAULTS: dict[str, Any] = {
    "group_id": "data_analysis_group",
    "auto_offset_reset": "latest",
    "enable_auto_commit": False,
    "max_poll_records": 500,
}
PRODUCER_DEFAULTS: dict[str, Any] = {"acks": "all"}

_reported_ignored: set[str] = set()


@dataclass(frozen=True)
class KafkaSettings:
    """Resolved Kafka settings: what each client receives, plus d_a's own connection knobs."""

    consumer: dict[str, Any]
    producer: dict[str, Any]
    multi_consumer_mode: bool | None = None
    topic_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # topic -> its consumer's settings
    max_retries: int = 5
    retry_interval: float = 5.0
    ignored: tuple[str, ...] = ()
    form: Literal["nested", "flat"] = "nested"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def bootstrap_servers(self) -> list[str]:
        return list(self.consumer["bootstrap_servers"])

    def masked(self) -> dict[str, dict[str, Any]]:
        """Consumer and producer settings (and each topic override, as `consumer of <topic>`) with
        passwords replaced by ***, for display."""
        clients = {"consumer": self.consumer, "producer": self.producer}
        clients.update((f"consumer of {topic}", values) for topic, values in self.topic_overrides.items())
        return {
            client: {k: MASK if k in SECRET_KEYS else v for k, v in values.items()}
            for client, values in clients.items()
        }

    def legacy(self) -> dict[str, Any]:
        """KAFKA_CONFIG in the original d_a's nested form, with `bootstrap_servers` also at top level."""
        out: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "consumer": dict(self.consumer),
            "producer": dict(self.producer),
            "max_retries": self.max_retries,
            "retry_interval": self.retry_interval,
        }
        if self.multi_consumer_mode is not None:
            out["consumer"]["multi_consumer_mode"] = self.multi_consumer_mode  # where the original d_a set it
        if self.topic_overrides:
            out["consumer"]["topic_overrides"] = {t: dict(v) for t, v in self.topic_overrides.items()}
        return out


def normalize_kafka_config(raw: Mapping[str, Any] | None, *, path: str = "kafka") -> KafkaSettings:
    """Resolve a nested or flat KAFKA_CONFIG into consumer and producer settings.

    Raises ConfigError naming the key for wrong types, bad values or a missing `bootstrap_servers`.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping of Kafka settings, got {type(raw).__name__}")
    problems: list[str] = []
    ignored: list[str] = []

    top = _known(raw, _AnyClientKeys, path, ignored, skip=OWN_KEYS | {"consumer", "producer"})
    top_values = _validated(_AnyClientKeys, top, path, problems)
    sections = {}
    for section, model in (("consumer", ConsumerKeys), ("producer", ProducerKeys)):
        values = raw.get(section) or {}
        if not isinstance(values, Mapping):
            problems.append(f"{path}.{section}: expected a mapping, got {type(values).__name__}")
            values = {}
        skip = OWN_CONSUMER_KEYS if section == "consumer" else frozenset()
        known = _known(values, model, f"{path}.{section}", ignored, skip=skip)
        sections[section] = _validated(model, known, f"{path}.{section}", problems)
    own = _validated(_OwnKeys, raw, path, problems)
    own_consumer = _own_consumer_keys(raw, own, path, problems)

    consumer = _merge(top_values, sections["consumer"], ConsumerKeys, CONSUMER_DEFAULTS)
    producer = _merge(top_values, sections["producer"], ProducerKeys, PRODUCER_DEFAULTS)
    servers = consumer.get("bootstrap_servers") or producer.get("bootstrap_servers")
    if not servers and not problems:
        problems.append(f"{path}.bootstrap_servers: missing (set it at top level of {path} or in {path}.consumer)")
    if problems:
        raise ConfigError(problems)
    consumer.setdefault("bootstrap_servers", servers)
    producer.setdefault("bootstrap_servers", servers)

    assert own is not None and own_consumer is not None
    overrides = {
        topic: keys.model_dump(exclude_unset=True) for topic, keys in (own_consumer.topic_overrides or {}).items()
    }
    for settings in (consumer, producer, *overrides.values()):
        for key in SECRET_KEYS & settings.keys():
            register_secret(settings[key])
    _report_ignored(ignored)
    return KafkaSettings(
        consumer=consumer,
        producer=producer,
        multi_consumer_mode=own_consumer.multi_consumer_mode,
        topic_overrides=overrides,
        max_retries=own.max_retries,
        retry_interval=own.retry_interval,
        ignored=tuple(ignored),
        form="nested" if ("consumer" in raw or "producer" in raw) else "flat",
        raw=dict(raw),
    )


def _own_consumer_keys(
    raw: Mapping[str, Any], top: BaseModel | None, path: str, problems: list[str]
) -> _OwnConsumerKeys | None:
    """`multi_consumer_mode` and `topic_overrides` from the consumer section or the top level (a
    key set in both places to different values is a problem naming both)."""
    section = raw.get("consumer")
    in_section = (
        _validated(_OwnConsumerKeys, section, f"{path}.consumer", problems) if isinstance(section, Mapping) else None
    )
    if top is None or (isinstance(section, Mapping) and in_section is None):
        return None
    values = top.model_dump(include=set(OWN_CONSUMER_KEYS), exclude_unset=True)
    for key, value in (in_section.model_dump(exclude_unset=True) if in_section is not None else {}).items():
        if key in values and values[key] != value:
            problems.append(f"{path}.{key} and {path}.consumer.{key} differ: set it in one place")
        values[key] = value
    return _OwnConsumerKeys.model_validate(values)


def _known(
    values: Mapping[str, Any],
    model: type[BaseModel],
    path: str,
    ignored: list[str],
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """The keys `model` knows (bootstrap lists normalised); the others are added to `ignored`."""
    known = {}
    for key, value in values.items():
        if key in skip:
            continue
        if key in model.model_fields:
            known[key] = _servers(value) if key == "bootstrap_servers" else value
        elif key in _AnyClientKeys.model_fields:
            ignored.append(f"{path}.{key} (not a {path.rsplit('.', 1)[-1]} setting)")
        else:
            ignored.append(f"{path}.{key} (unknown)")
    return known


def _merge(
    top: BaseModel | None, section: BaseModel | None, model: type[BaseModel], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Top-level values that apply to `model`, overridden by its own section, then defaults."""
    settings: dict[str, Any] = {}
    for values in (top, section):
        if values is not None:
            settings.update((k, v) for k, v in values.model_dump(exclude_unset=True).items() if k in model.model_fields)
    for key, value in defaults.items():
        settings.setdefault(key, value)
    return settings


_Model = TypeVar("_Model", bound=BaseModel)


def _validated(model: type[_Model], values: Mapping[str, Any], path: str, problems: list[str]) -> _Model | None:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, path))
        return None


def _servers(value: Any) -> Any:
    """`"a:9092,b:9092"` or `["a:9092"]` -> list of addresses (other types are left for validation)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, tuple):
        return list(value)
    return value


def _report_ignored(keys: list[str]) -> None:
    for key in keys:
        if key not in _reported_ignored:
            _reported_ignored.add(key)
            logger.warning("Kafka setting %s ignored", key)
