"""Configuration: loading, validation, Kafka normalisation and the module graph.

The original d_a's module-level names stay importable (`from d_a.config import TOPIC_DETAIL`); they are
read from the process-wide configuration on first access, so importing d_a reads no file.
"""

from __future__ import annotations

from typing import Any

from .kafka import KafkaSettings, normalize_kafka_config
from .loader import ENV_CONFIG_PATH, ConfigSource, default_document, get_config, load_config, reread, set_config
from .model import DERIVED_NAMES, SECTION_NAMES, Config
from .schema import PADDING_STRATEGIES, WINDOW_KINDS, OffsetCommitConfig, ServiceConfig, TopicConfig

__all__ = [
    "ENV_CONFIG_PATH",
    "PADDING_STRATEGIES",
    "WINDOW_KINDS",
    "Config",
    "ConfigSource",
    "KafkaSettings",
    "OffsetCommitConfig",
    "ServiceConfig",
    "TopicConfig",
    "default_document",
    "get_config",
    "load_config",
    "normalize_kafka_config",
    "reread",
    "set_config",
]

LEGACY_NAMES = (*SECTION_NAMES.values(), *DERIVED_NAMES)


def __getattr__(name: str) -> Any:
    if name in LEGACY_NAMES:
        return get_config().legacy()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *LEGACY_NAMES})
