"""The resolved configuration: validated sections plus everything derived from them.

`build_config` takes one configuration document (a mapping, as read from YAML, a dict or a Python
module), fills absent sections from the packaged default, validates it, and derives the module
output topics, TOPIC_TO_MODULES, MODULE_TO_TOPICS and the dependency order of modules. Every
problem found is reported at once, each naming its key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..errors import ConfigError
from .graph import dependency_order
from .input_names import SharedName, shared_names
from .kafka import KafkaSettings, normalize_kafka_config
from .problems import did_you_mean, problems_from_validation
from .schema import OffsetCommitConfig, ServiceConfig, TopicConfig

__all__ = ["DERIVED_NAMES", "SECTION_NAMES", "Config", "build_config"]

logger = logging.getLogger("d_a.config")

# Canonical section name -> the original d_a's module-level name (both are accepted in a document).
SECTION_NAMES: dict[str, str] = {
    "kafka": "KAFKA_CONFIG",
    "offset_commit": "OFFSET_COMMIT_CONFIG",
    "topics": "TOPIC_DETAIL",
    "module_dependencies": "MODULE_DEPENDENCIES",
    "module_output_topic_prefix": "MODULE_OUTPUT_TOPIC_PREFIX",
    "module_output_topics": "MODULE_OUTPUT_TOPICS",
    "modules": "MODULES",
    "required_topics": "REQUIRED_TOPICS",
    "service": "SERVICE_CONFIG",
}
_BY_SEED_NAME = {seed: canonical for canonical, seed in SECTION_NAMES.items()}
# Names the original d_a's config module computes from the sections; d_a derives them again.
DERIVED_NAMES = ("TOPIC_TO_MODULES", "MODULE_TO_TOPICS")


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka: dict[str, Any] = Field(
        default_factory=dict, description="The Kafka connection and client settings (see the kafka section)."
    )
    offset_commit: OffsetCommitConfig = Field(
        default_factory=OffsetCommitConfig, description="When consumed offsets are committed."
    )
    topics: dict[StrictStr, TopicConfig] = Field(
        default_factory=dict, description="The input topics and how each one's windows are kept."
    )
    module_dependencies: dict[StrictStr, list[StrictStr]] = Field(
        default_factory=dict,
        description="`module: [modules]` whose latest results the module reads (`D_output_window`, `D_<key>`).",
    )
    module_output_topic_prefix: StrictStr = Field(
        default="MODULE-OUTPUT-", description="Output topic of a module not in module_output_topics: prefix + name."
    )
    module_output_topics: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="`module: topic` its results are uploaded to."
    )
    modules: list[StrictStr] = Field(
        default_factory=list,
        description="Module names (the original d_a's MODULES); topics, module_dependencies and "
        "module_output_topics declare modules too.",
    )
    required_topics: dict[StrictStr, list[StrictStr]] = Field(
        default_factory=dict,
        description="`module: [topics]` a station must have data of before its first callback for the module.",
    )
    service: ServiceConfig = Field(
        default_factory=ServiceConfig, description="Scheduling, concurrency, expiry, batching, padding."
    )


_KNOWN_KEYS = sorted(
    set(SECTION_NAMES)
    | set(_BY_SEED_NAME)
    | set(TopicConfig.model_fields)
    | set(OffsetCommitConfig.model_fields)
    | set(ServiceConfig.model_fields)
)


@dataclass(frozen=True)
class Config:
    """A validated configuration with its derived views. Build it with `load_config`."""

    kafka: KafkaSettings
    offset_commit: OffsetCommitConfig
    service: ServiceConfig
    topics: dict[str, TopicConfig]
    module_dependencies: dict[str, list[str]]
    module_output_topic_prefix: str
    module_output_topics: dict[str, str]
    required_topics: dict[str, list[str]]
    modules: tuple[str, ...]
    topic_to_modules: dict[str, list[str]]
    module_to_topics: dict[str, list[str]]
    shared_names: tuple[SharedName, ...] = ()
    source: str = "<dict>"
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def notes(self) -> tuple[str, ...]:
        """What an operator should know about the configuration: one line per group of shared
        input names (`shared_names`), naming the topic whose values have the flat names."""
        return tuple(shared.note() for shared in self.shared_names)

    @property
    def input_topics(self) -> list[str]:
        """Topics that carry station data (every topic that is not a module output)."""
        outputs = set(self.module_output_topics.values())
        return [t for t in self.topics if t not in outputs]

    @property
    def output_topics(self) -> list[str]:
        """Module output topics, in module dependency order."""
        return [self.module_output_topics[m] for m in self.modules]

    def topics_for(self, module: str) -> list[str]:
        """The topics whose windows `module` reads, including its dependencies' output topics."""
        if module not in self.module_to_topics:
            raise ConfigError(f"unknown module {module!r}{did_you_mean(module, self.modules)}")
        return list(self.module_to_topics[module])

    def with_module(self, module: str, topics: list[str]) -> Config:
        """This configuration plus a module it does not list, reading `topics` (no dependencies);
        its output topic is registered like every module's."""
        if module in self.modules:
            return self
        unknown = [t for t in topics if t not in self.topics]
        if unknown:
            raise ConfigError(f"topics: not configured: {', '.join(unknown)}{did_you_mean(unknown[0], self.topics)}")
        output = f"{self.module_output_topic_prefix}{module.upper()}"
        updated = {
            name: topic.model_copy(update={"modules": [*topic.modules, module]})
            for name, topic in self.topics.items()
            if name in topics
        }
        all_topics = {**self.topics, **updated}
        if output not in all_topics:
            all_topics[output] = _output_topic_config([])
        modules = (*self.modules, module)
        topic_to_modules = {name: list(topic.modules) for name, topic in all_topics.items()}
        return replace(
            self,
            topics=all_topics,
            modules=modules,
            module_dependencies={**self.module_dependencies, module: []},
            module_output_topics={**self.module_output_topics, module: output},
            topic_to_modules=topic_to_modules,
            module_to_topics={m: [t for t, mods in topic_to_modules.items() if m in mods] for m in modules},
        )

    def legacy(self) -> dict[str, Any]:
        """The original d_a's module-level names (KAFKA_CONFIG, TOPIC_DETAIL, ...) as plain values."""
        return {
            "KAFKA_CONFIG": self.kafka.legacy(),
            "TOPIC_DETAIL": {name: topic.legacy() for name, topic in self.topics.items()},
            "MODULE_DEPENDENCIES": {m: list(d) for m, d in self.module_dependencies.items()},
            "MODULE_OUTPUT_TOPICS": dict(self.module_output_topics),
            "MODULE_OUTPUT_TOPIC_PREFIX": self.module_output_topic_prefix,
            "OFFSET_COMMIT_CONFIG": self.offset_commit.model_dump(),
            "TOPIC_TO_MODULES": {t: list(m) for t, m in self.topic_to_modules.items()},
            "MODULE_TO_TOPICS": {m: list(t) for m, t in self.module_to_topics.items()},
            "REQUIRED_TOPICS": {m: list(t) for m, t in self.required_topics.items()},
            "MODULES": list(self.modules),
            "SERVICE_CONFIG": self.service.model_dump(),
        }


def canonical_sections(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Map seed names (TOPIC_DETAIL, ...) to canonical ones; returns (sections, names used, problems)."""
    sections: dict[str, Any] = {}
    used: dict[str, str] = {}
    problems: list[str] = []
    for key, value in document.items():
        if key in DERIVED_NAMES:
            continue
        canonical = key if key in SECTION_NAMES else _BY_SEED_NAME.get(key)
        if canonical is None:
            problems.append(f"{key}: unknown configuration section{did_you_mean(str(key), _KNOWN_KEYS)}")
        elif canonical in sections:
            problems.append(f"{key}: given twice (as {used[canonical]} and {key})")
        else:
            sections[canonical] = value
            used[canonical] = key
    return sections, used, problems


def build_config(
    document: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None, source: str = "<dict>"
) -> Config:
    """Validate `document` (sections it lacks come from `defaults`) and derive the full Config."""
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: expected a mapping of configuration sections, got {type(document).__name__}")
    sections, used, problems = canonical_sections(document)
    if defaults:
        default_sections, _, _ = canonical_sections(defaults)
        for name, value in default_sections.items():
            sections.setdefault(name, value)
            used.setdefault(name, name)

    kafka: KafkaSettings | None = None
    try:
        kafka = normalize_kafka_config(sections.get("kafka"), path=used.get("kafka", "kafka"))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        doc = _Document.model_validate({**sections, "kafka": {}})
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, "", _KNOWN_KEYS, rename=used))
        raise ConfigError(problems) from None
    problems.extend(_check_topics(doc.topics, used.get("topics", "topics")))
    modules, module_problems = _module_set(doc, used)
    problems.extend(module_problems)
    if problems or kafka is None:
        raise ConfigError(problems)

    order = dependency_order(modules, doc.module_dependencies)
    output_topics = {m: doc.module_output_topics.get(m, f"{doc.module_output_topic_prefix}{m.upper()}") for m in order}
    topics = _with_output_topics(doc.topics, output_topics, doc.module_dependencies, order)
    topic_to_modules = {name: list(topic.modules) for name, topic in topics.items()}
    module_to_topics = {m: [t for t, mods in topic_to_modules.items() if m in mods] for m in order}
    problems.extend(_check_required(doc.required_topics, topics, module_to_topics, used))
    dead_letter_topic = doc.service.dead_letter_topic
    if dead_letter_topic is not None and dead_letter_topic in topics:
        problems.append(
            f"{used.get('service', 'service')}.dead_letter_topic: {dead_letter_topic!r} is a topic the modules read "
            "or write; give the dead letters a topic of their own"
        )
    if problems:
        raise ConfigError(problems)

    return Config(
        kafka=kafka,
        offset_commit=doc.offset_commit,
        service=doc.service,
        topics=topics,
        module_dependencies={m: list(doc.module_dependencies.get(m, [])) for m in order},
        module_output_topic_prefix=doc.module_output_topic_prefix,
        module_output_topics=output_topics,
        required_topics={m: list(t) for m, t in doc.required_topics.items()},
        modules=tuple(order),
        topic_to_modules=topic_to_modules,
        module_to_topics=module_to_topics,
        shared_names=shared_names(topics, module_to_topics, set(output_topics.values())),
        source=source,
        document=dict(document),
    )


def _check_topics(topics: Mapping[str, TopicConfig], path: str) -> list[str]:
    problems = []
    for name, topic in topics.items():
        if topic.aligned_fields and not topic.align_by:
            problems.append(f"{path}.{name}.aligned_fields: needs align_by (the key the fields are keyed by)")
        for i, aligned in enumerate(topic.aligned_fields):
            if topic.fields and aligned not in topic.fields:
                problems.append(f"{path}.{name}.aligned_fields[{i}]: {aligned!r} is not one of its fields")
        if topic.kind == "per_device" and not topic.device_key:
            problems.append(f"{path}.{name}.device_key: required for kind 'per_device' (e.g. hostCode)")
        if topic.scope == "global" and topic.kind not in ("latest", "replace"):
            problems.append(
                f"{path}.{name}.scope: a global topic must be of kind 'latest' or 'replace', not {topic.kind!r}"
            )
    return problems


def _module_set(doc: _Document, used: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """All modules in first-mention order, and problems: unknown dependencies, likely typos.

    Modules are declared by `modules`, `module_output_topics`, `module_dependencies` keys and the
    topics' `modules` lists; a topic's module name close to a declared one is taken for a typo,
    and a dependency must name a module declared somewhere.
    """
    declared: dict[str, None] = dict.fromkeys([*doc.modules, *doc.module_output_topics, *doc.module_dependencies])
    problems: list[str] = []
    modules = dict(declared)
    topics_path = used.get("topics", "topics")
    for name, topic in doc.topics.items():
        for i, module in enumerate(topic.modules):
            if module in modules:
                continue
            hint = did_you_mean(module, declared)
            if hint:
                problems.append(f"{topics_path}.{name}.modules[{i}]: unknown module {module!r}{hint}")
            else:
                modules[module] = None
    deps_path = used.get("module_dependencies", "module_dependencies")
    for module, deps in doc.module_dependencies.items():
        for i, dep in enumerate(deps):
            if dep not in modules:
                problems.append(f"{deps_path}.{module}[{i}]: unknown module {dep!r}{did_you_mean(dep, modules)}")
    return list(modules), problems


def _with_output_topics(
    topics: Mapping[str, TopicConfig],
    output_topics: Mapping[str, str],
    dependencies: Mapping[str, list[str]],
    order: list[str],
) -> dict[str, TopicConfig]:
    """Register every module's output topic (window 1), consumed by the modules depending on it."""
    result = dict(topics)
    for module, topic_name in output_topics.items():
        consumers = [m for m in order if module in dependencies.get(m, ())]
        existing = result.get(topic_name)
        if existing is None:
            result[topic_name] = _output_topic_config(consumers)
        else:
            merged = list(dict.fromkeys([*existing.modules, *consumers]))
            result[topic_name] = existing.model_copy(update={"modules": merged})
    return result


def _output_topic_config(consumers: list[str]) -> TopicConfig:
    """A module output topic's entry: the module's latest output, read by `consumers`."""
    return TopicConfig(
        kind="latest",
        frequency="module output",
        modules=consumers,
        window_size=1,
        parser="module_output",
        time_field="timestamp",
    )


def _check_required(
    required: Mapping[str, list[str]],
    topics: Mapping[str, TopicConfig],
    module_to_topics: Mapping[str, list[str]],
    used: Mapping[str, str],
) -> list[str]:
    path = used.get("required_topics", "required_topics")
    problems = []
    for module, names in required.items():
        if module not in module_to_topics:
            problems.append(f"{path}.{module}: unknown module{did_you_mean(module, module_to_topics)}")
            continue
        for i, name in enumerate(names):
            if name not in topics:
                problems.append(f"{path}.{module}[{i}]: topic {name!r} is not configured{did_you_mean(name, topics)}")
            elif name not in module_to_topics[module]:
                problems.append(
                    f"{path}.{module}[{i}]: module {module!r} does not read topic {name!r} "
                    f"(add it to topics.{name}.modules)"
                )
    return problems
