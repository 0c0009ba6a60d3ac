"""What a service is set up with: its config, topics, output topic, transport and engine settings."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import Config, ConfigSource, load_config
from ..config.problems import did_you_mean
from ..errors import ConfigError
from ..kafka import InMemoryBroker, KafkaTransport, MemoryTransport
from ..kafka.client_config import resolve_settings
from ..kafka.transport import Transport
from .engine import EngineSettings
from .globals import split_global_topics

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
) -> ServiceOptions:
    """Resolve the seeds' constructor arguments into one validated set of options.

    Topics: `topics`, else the module's topics (its dependencies' output topics included), else
    every configured topic. The consumer group defaults to `<group_id>.<module>` so services of
    different modules never split one group's partitions between them.
    """
    cfg = load_config(config)
    if kafka_config is not None:
        cfg = dataclasses.replace(cfg, kafka=resolve_settings(kafka_config))
    if module_name is not None and module_name not in cfg.modules:
        raise ConfigError(f"module_name: unknown module {module_name!r}{did_you_mean(module_name, cfg.modules)}")
    if topics:
        chosen = list(dict.fromkeys(topics))
        unknown = [t for t in chosen if t not in cfg.topics]
        if unknown:
            raise ConfigError(f"topics: not configured: {', '.join(unknown)}{did_you_mean(unknown[0], cfg.topics)}")
    elif module_name is not None:
        chosen = cfg.topics_for(module_name)
    else:
        chosen = list(cfg.topics)
    if not chosen:
        raise ConfigError(f"topics: module {module_name!r} reads no topic; give topics= or configure some")
    output_topic = None
    if module_name is not None:
        output_topic = (
            cfg.module_output_topics[module_name]
            if output_topic_prefix == cfg.module_output_topic_prefix or output_topic_prefix == DEFAULT_OUTPUT_PREFIX
            else f"{output_topic_prefix}{module_name.upper()}"
        )
    known = type(cfg.service).model_fields
    service = type(cfg.service).model_validate(
        {**cfg.service.model_dump(), **{k: v for k, v in overrides.items() if v is not None and k in known}}
    )
    required = list(required_topics or (cfg.required_topics.get(module_name, []) if module_name else []))
    missing = [t for t in required if t not in chosen]
    if missing:
        raise ConfigError(f"required_topics: {', '.join(missing)} not among the service's topics")
    base_group = group_id or cfg.kafka.consumer.get("group_id") or "data_analysis_group"
    if group_id is None and module_name is not None:
        base_group = f"{base_group}.{module_name}"
    engine = EngineSettings(
        module_name=module_name,
        topics=chosen,
        output_topic=output_topic,
        max_concurrency=service.max_concurrency,
        min_interval=service.min_interval,
        interval=service.interval,
        required_topics=required,
        cleanup_interval=service.cleanup_interval,
        batch_timeout=service.batch_timeout,
        upload_input=service.upload_input,
        max_held_messages=service.max_held_messages,
        stop_timeout=service.stop_timeout,
        gc_threshold=service.gc_threshold,
        idle_gc=service.idle_gc,
        global_bootstrap_timeout=service.global_bootstrap_timeout,
    )
    cfg = dataclasses.replace(cfg, service=service)
    resolved = _transport(transport, cfg)
    engine.global_topics = global_topics_for(cfg, chosen, resolved)
    return ServiceOptions(cfg, chosen, resolved, base_group, engine)


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


def _transport(transport: Transport | str | None, cfg: Config) -> Transport:
    if transport is None or transport == "kafka":
        return KafkaTransport(cfg.kafka)
    if transport == "memory":
        return MemoryTransport(InMemoryBroker())
    if isinstance(transport, str):
        raise ConfigError(f"transport: unknown transport {transport!r} (use 'kafka', 'memory' or a Transport)")
    return transport
