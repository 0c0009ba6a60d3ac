"""What a service is set up with: its config, topics, output topic, transport and engine settings."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..config import Config, ConfigSource, KafkaSettings, load_config
from ..config.problems import did_you_mean, problems_from_validation
from ..config.schema import FORMER_NAMES, ServiceConfig, renamed_settings
from ..errors import ConfigError
from ..kafka.choice import choose_transport
from ..kafka.client_config import resolve_settings
from ..kafka.transport import Transport
from .globals import split_global_topics
from .settings import EngineSettings

__all__ = ["ServiceOptions", "global_topics_for", "resolve_options"]

logger = logging.getLogger("d_a.service")

DEFAULT_OUTPUT_PREFIX = "MODULE-OUTPUT-"


@dataclasses.dataclass
class ServiceOptions:
    config: Config
    topics: list[str]
    transport: Transport
    group_id: str
    engine: EngineSettings
    kafka_config: Mapping[str, Any] | None = None
    adhoc_topics: list[str] | None = None  # the topics of a module the configuration does not list
    service_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def set_service_settings(self, **settings: Any) -> None:
        """Change service settings before the service starts (kept over config reloads)."""
        given = given_settings(settings)
        self.service_overrides = {**self.service_overrides, **given}
        service = with_settings(self.engine.service, given)
        self.engine = dataclasses.replace(self.engine, service=service)
        self.config = dataclasses.replace(self.config, service=service)

    def fit(self, config: Config) -> Config:
        """A (re)loaded configuration with this service's own settings applied to it: its
        `kafka_config`, the module it was given when the configuration does not list it, and the
        service settings passed as arguments."""
        kafka = resolve_settings(self.kafka_config) if self.kafka_config is not None else config.kafka
        config = dataclasses.replace(config, kafka=service_kafka(kafka))
        module = self.engine.module_name
        if module is not None and self.adhoc_topics is not None and module not in config.modules:
            config = config.with_module(module, [t for t in self.adhoc_topics if t in config.topics])
        if self.service_overrides:
            config = dataclasses.replace(config, service=with_settings(config.service, self.service_overrides))
        return config


def service_kafka(kafka: KafkaSettings) -> KafkaSettings:
    """The Kafka settings a service runs with: offsets are committed by its OffsetManager once
    callbacks saw the data, so the consumer's own auto-commit (which would commit fetched data
    before any callback ran) is turned off, with a warning when the configuration asked for it."""
    if kafka.consumer.get("enable_auto_commit") is not True:
        return kafka
    logger.warning(
        "Kafka consumer setting enable_auto_commit=True is not used by the service: offsets are committed "
        "after callbacks saw the data (at-least-once); set enable_auto_commit to False to silence this"
    )
    return dataclasses.replace(kafka, consumer={**kafka.consumer, "enable_auto_commit": False})


def resolve_options(
    *,
    module_name: str | None,
    topics: Sequence[str] | None,
    kafka_config: Mapping[str, Any] | None,
    output_topic_prefix: str,
    config: ConfigSource,
    transport: Transport | str | None,
    group_id: str | None,
    required_topics: Sequence[str] | None,
    overrides: Mapping[str, Any],
    owner: str = "service",
) -> ServiceOptions:
    """Resolve the original d_a's constructor arguments into one validated set of options.

    Topics: `topics`, else the module's topics (its dependencies' output topics included), else
    every configured topic. A `module_name` the configuration does not list (the original d_a's examples
    use `test_module`) reads `topics`, or every input topic, and is logged; one that looks like a
    typo of a configured module is a ConfigError. The consumer group defaults to
    `<group_id>.<module>` so services of different modules never split one group's partitions.
    """
    cfg = load_config(config)
    kafka = resolve_settings(kafka_config) if kafka_config is not None else cfg.kafka
    cfg = dataclasses.replace(cfg, kafka=service_kafka(kafka))
    if topics:
        chosen = list(dict.fromkeys(topics))
        unknown = [t for t in chosen if t not in cfg.topics]
        if unknown:
            raise ConfigError(f"topics: not configured: {', '.join(unknown)}{did_you_mean(unknown[0], cfg.topics)}")
    adhoc = None
    if module_name is not None and module_name not in cfg.modules:
        hint = did_you_mean(module_name, cfg.modules)
        if hint:
            raise ConfigError(f"module_name: unknown module {module_name!r}{hint}")
        adhoc = list(chosen) if topics else cfg.input_topics
        cfg = cfg.with_module(module_name, adhoc)
        logger.warning(
            "module %r is not in the configuration (modules: %s): it reads %d topics (%s) and gets their "
            "fields; configure it to choose its topics and dependencies",
            module_name,
            ", ".join(cfg.modules[:-1]),
            len(adhoc),
            "given" if topics else "every input topic",
        )
    if not topics:
        chosen = cfg.topics_for(module_name) if module_name is not None else list(cfg.topics)
    if not chosen:
        raise ConfigError(f"topics: module {module_name!r} reads no topic; give topics= or configure some")
    output_topic = None
    if module_name is not None:
        output_topic = (
            cfg.module_output_topics[module_name]
            if output_topic_prefix == cfg.module_output_topic_prefix or output_topic_prefix == DEFAULT_OUTPUT_PREFIX
            else f"{output_topic_prefix}{module_name.upper()}"
        )
    given = given_settings(overrides, owner)
    service = with_settings(cfg.service, given)
    required = list(required_topics or (cfg.required_topics.get(module_name, []) if module_name else []))
    missing = [t for t in required if t not in chosen]
    if missing:
        raise ConfigError(f"required_topics: {', '.join(missing)} not among the service's topics")
    base_group = group_id or cfg.kafka.consumer.get("group_id") or "data_analysis_group"
    if group_id is None and module_name is not None:
        base_group = f"{base_group}.{module_name}"
    cfg = dataclasses.replace(cfg, service=service)
    resolved = choose_transport(transport, cfg.kafka)
    engine = EngineSettings(
        service=service,
        module_name=module_name,
        topics=tuple(chosen),
        output_topic=output_topic,
        required_topics=tuple(required),
        global_topics=tuple(global_topics_for(cfg, chosen, resolved)),
    )
    return ServiceOptions(
        cfg,
        chosen,
        resolved,
        base_group,
        engine,
        kafka_config=kafka_config,
        adhoc_topics=adhoc,
        service_overrides=given,
    )


def global_topics_for(cfg: Config, topics: Sequence[str], transport: Transport) -> list[str]:
    """The topics a global reader reads (see globals.py); [] with a transport that has no global
    reader (its consumer then reads them, as any other topic, logged)."""
    _, global_topics = split_global_topics(cfg, topics)
    if global_topics and not (hasattr(transport, "async_global_reader") and hasattr(transport, "global_reader")):
        logger.warning(
            "transport %s has no global reader: global topics %s are consumed in the group, so stations may "
            "run before they are loaded, and committed global data is not read again after a restart",
            getattr(transport, "name", type(transport).__name__),
            ", ".join(global_topics),
        )
        return []
    return global_topics


def given_settings(overrides: Mapping[str, Any], owner: str = "service") -> dict[str, Any]:
    """The service settings a service was given as keywords (None: not given), under their current
    names; a keyword that is no service setting is a TypeError naming it, as Python's own."""
    given = {k: v for k, v in overrides.items() if v is not None}
    known = set(ServiceConfig.model_fields) | set(FORMER_NAMES)
    for key in given:
        if key not in known:
            raise TypeError(f"{owner}() got an unexpected keyword argument {key!r}{did_you_mean(key, sorted(known))}")
    try:
        return renamed_settings(given)
    except ValueError as exc:
        raise ConfigError(f"service settings given as keywords: {exc}") from None


def with_settings(service: ServiceConfig, given: Mapping[str, Any]) -> ServiceConfig:
    """`service` with the settings `given` (from `given_settings`) applied and validated."""
    if not given:
        return service
    try:
        return ServiceConfig.model_validate({**service.model_dump(), **given})
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, "service", sorted(ServiceConfig.model_fields))) from None
