"""The configuration reference (docs/CONFIGURATION.md), written from the schema's field
descriptions so that the documentation cannot drift from the code.

    python -m d_a.config.reference > docs/CONFIGURATION.md      (or `make docs`)
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .kafka import CONSUMER_DEFAULTS, PRODUCER_DEFAULTS, ConsumerKeys, ProducerKeys, _ClientKeys, _OwnKeys
from .model import _Document
from .schema import OffsetCommitConfig, ServiceConfig, TopicConfig

__all__ = ["SECTIONS", "Section", "render_reference"]

HEADER = """# Configuration reference

Every key d_a reads, with its type, default and meaning. This page is generated from the schema
(`python -m d_a.config.reference > docs/CONFIGURATION.md`, or `make docs`); edit the field
descriptions in `d_a/config/` instead. `deploy/config.yaml.example` shows every key with longer
notes, and `d-a check-config FILE` validates a file, naming each bad key.

A section you leave out comes from the packaged default (`d_a/config/default.yaml`); a key you
leave out of a section you wrote gets the default below. Unknown keys in d_a's own sections are
errors. The original d_a's upper-case section names (KAFKA_CONFIG, TOPIC_DETAIL, ...) are accepted.
"""

CLIENT_NOTE = "absent keys take the client library's default, unless d_a sets one (shown)."


@dataclass(frozen=True)
class Section:
    """One table of the reference: a model's fields, less `skip`, with d_a's defaults for keys
    whose own default is the client library's (`library`)."""

    title: str
    about: str
    model: type[BaseModel]
    skip: frozenset[str] = frozenset()
    library: Mapping[str, Any] | None = None


SECTIONS = (
    Section("Top level", "The sections of a configuration file.", _Document),
    Section("kafka", "d_a's own Kafka keys (at the top of the section, or in `consumer:`).", _OwnKeys),
    Section(
        "kafka: both clients",
        f"Connection keys for the consumer and the producer (top level, or in either section); {CLIENT_NOTE}",
        _ClientKeys,
        library={},
    ),
    Section(
        "kafka.consumer",
        f"Consumer keys of aiokafka and kafka-python; {CLIENT_NOTE}",
        ConsumerKeys,
        frozenset(_ClientKeys.model_fields),
        CONSUMER_DEFAULTS,
    ),
    Section(
        "kafka.producer",
        f"Producer keys of aiokafka and kafka-python; {CLIENT_NOTE}",
        ProducerKeys,
        frozenset(_ClientKeys.model_fields),
        PRODUCER_DEFAULTS,
    ),
    Section("offset_commit", "When consumed offsets are committed.", OffsetCommitConfig),
    Section("service", "How a service runs.", ServiceConfig),
    Section(
        "topics.<topic>", "One input topic: how its messages split into records and its windows are kept.", TopicConfig
    ),
)


def render_reference() -> str:
    """The whole reference page, as Markdown."""
    parts = [HEADER]
    for section in SECTIONS:
        parts.append(f"\n## {section.title}\n\n{section.about}\n\n")
        parts.append("| key | type | default | description |\n| --- | --- | --- | --- |\n")
        for name, info in section.model.model_fields.items():
            if name in section.skip:
                continue
            if section.library is None:
                default = default_text(info)
            else:
                default = f"`{_yaml(section.library[name])}`" if name in section.library else "library's"
            parts.append(f"| `{name}` | {type_text(info)} | {default} | {info.description or ''} |\n")
    return "".join(parts)


def type_text(info: FieldInfo) -> str:
    """A field's type in words, with its bounds (`float > 0`, `newest \\| in_effect`, `null`)."""
    return _annotation_text(info.annotation) + _bounds(info.metadata)


def default_text(info: FieldInfo) -> str:
    """A field's default as YAML shows it (`null`, `true`, `[]`)."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        value = {} if isinstance(value, BaseModel) else value
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _bounds(metadata: Iterable[Any]) -> str:
    """` > 0`, ` >= 1`: the bounds in a field's or an Annotated type's metadata."""
    found = ""
    for item in metadata:
        if isinstance(item, FieldInfo):
            found += _bounds(item.metadata)
        elif isinstance(item, Gt):
            found += f" > {item.gt}"
        elif isinstance(item, Ge):
            found += f" >= {item.ge}"
    return found


def _annotation_text(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in dict.fromkeys(str(a) for a in args))
    if origin in (Union, types.UnionType):
        return " or ".join(_annotation_text(a) for a in args)
    if origin is list:
        return f"list of {_annotation_text(args[0])}"
    if origin is dict:
        return f"mapping of {_annotation_text(args[0])} to {_annotation_text(args[1])}"
    if origin is Annotated:
        return _annotation_text(args[0]) + _bounds(args[1:])
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Any:
        return "any"
    return {str: "string", int: "integer", float: "number", bool: "bool"}.get(annotation, str(annotation))


if __name__ == "__main__":
    print(render_reference(), end="")
