"""Which parser class serves a topic: by the `parser` name in its config, else the generic one."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..config.schema import TopicConfig
from ..errors import ConfigError
from .base import TopicParser
from .routing import StationRouter

__all__ = ["build_parsers", "parser_class", "register_parser", "registered_parsers"]

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


def build_parsers(topics: Mapping[str, TopicConfig], router: StationRouter) -> dict[str, TopicParser]:
    """One parser per configured topic, all sharing `router`."""
    return {name: parser_class(name, config)(name, config, router) for name, config in topics.items()}
