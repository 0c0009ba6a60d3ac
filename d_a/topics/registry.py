"""Which parser serves a topic: one added to `TOPIC_PARSER_MAP` (or a dispatcher's own
`topic_parsers`), else the class named by the `parser` key of its config, else the generic one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from ..config.schema import TopicConfig
from ..errors import ConfigError
from ..parser_base import ParserBase
from .base import TopicParser
from .routing import StationRouter
from .seed_parser import SeedTopicParser

__all__ = [
    "TOPIC_PARSER_MAP",
    "ParserSpec",
    "ParserTable",
    "build_parsers",
    "parser_class",
    "register_parser",
    "registered_parsers",
]

ParserSpec = ParserBase | type[ParserBase]
"""What may be put in a parser map: a ParserBase instance with the original d_a's `parse(raw_data)`, or a
class (a TopicParser subclass is then used as d_a's own parsers are)."""

TOPIC_PARSER_MAP: dict[str, ParserSpec] = {}
"""Topic name -> the parser of its messages, as the original d_a's developer guide registers them; used by
every dispatcher created (or reloaded) after the entry was added. Topics not listed here take the
parser their config names."""

_PARSERS: dict[str, type[TopicParser]] = {TopicParser.name: TopicParser}


def register_parser(name: str) -> Callable[[type[TopicParser]], type[TopicParser]]:
    """Class decorator: make a TopicParser subclass available as `parser: <name>` in topic config."""

    def decorate(cls: type[TopicParser]) -> type[TopicParser]:
        if not (isinstance(cls, type) and issubclass(cls, TopicParser)):
            raise TypeError(f"parser {name!r} must be a TopicParser subclass, got {cls!r}")
        cls.name = name
        _PARSERS[name] = cls
        return cls

    return decorate


def registered_parsers() -> dict[str, type[TopicParser]]:
    """Parser names and classes available to topic configs."""
    return dict(_PARSERS)


def parser_class(topic: str, config: TopicConfig) -> type[TopicParser]:
    """The class named by `config.parser` (generic when unset); ConfigError for an unknown name."""
    name = config.parser or TopicParser.name
    try:
        return _PARSERS[name]
    except KeyError:
        known = ", ".join(sorted(_PARSERS))
        raise ConfigError(f"topics.{topic}.parser: unknown parser {name!r} (registered: {known})") from None


def build_parsers(
    topics: Mapping[str, TopicConfig], router: StationRouter, overrides: Mapping[str, ParserSpec] | None = None
) -> dict[str, TopicParser]:
    """One parser per configured topic, all sharing `router`: `overrides`, then `TOPIC_PARSER_MAP`,
    then the config's `parser` name."""
    chosen = {**TOPIC_PARSER_MAP, **(overrides or {})}
    return {name: _parser(name, config, router, chosen.get(name)) for name, config in topics.items()}


def _parser(topic: str, config: TopicConfig, router: StationRouter, spec: ParserSpec | None) -> TopicParser:
    if spec is None:
        return parser_class(topic, config)(topic, config, router)
    if isinstance(spec, type) and issubclass(spec, TopicParser):
        return spec(topic, config, router)
    if isinstance(spec, type) and issubclass(spec, ParserBase):
        spec = spec()
    if not isinstance(spec, ParserBase):
        raise ConfigError(f"parser of topic {topic}: expected a ParserBase instance or class, got {spec!r}")
    return SeedTopicParser(topic, config, router, parser=spec)


class ParserTable(MutableMapping[str, Any]):
    """A dispatcher's parsers by topic or module name, as the original d_a's developer guide edits them
    (`dispatcher.topic_parsers["NEW-TOPIC"] = NewTopicParser()`): reading gives the parser in use;
    setting or deleting an entry changes this dispatcher's choice at once."""

    def __init__(
        self, in_use: Callable[[], Mapping[str, Any]], overrides: dict[str, Any], changed: Callable[[], None]
    ) -> None:
        self._in_use = in_use
        self._overrides = overrides
        self._changed = changed

    def __getitem__(self, name: str) -> Any:
        return self._in_use()[name]

    def __setitem__(self, name: str, parser: Any) -> None:
        self._overrides[name] = parser
        self._changed()

    def __delitem__(self, name: str) -> None:
        del self._overrides[name]
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._in_use())

    def __len__(self) -> int:
        return len(self._in_use())

    def __repr__(self) -> str:
        return f"ParserTable({dict(self._in_use())!r})"
