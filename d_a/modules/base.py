"""ModuleParser: turns a station's aggregated topic and dependency data into one module's input.

The generic part of every input (fields, windows, dependency outputs, `_data_quality`) is built
by `build_module_input`; a module's parser then adds the derived keys its model wants, listed in
its `provides`. Register a parser of your own with `@register_module_parser("my_module")`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..parser_base import ParserBase

__all__ = ["ModuleParser", "module_parser", "register_module_parser", "registered_module_parsers"]


class ModuleParser(ParserBase):
    """Base parser: passes the aggregated input through; subclasses add derived keys.

    Unlike the seeds' sketch (raw windows keyed by topic name), `parse` receives the generic flat
    input (`f`, `f_window`, dependency keys, `_data_quality`, each topic's own keys under
    `_topics`): the windows are already aligned and padded, and full 7-day windows are not turned
    into lists of dicts for every call.
    """

    name: ClassVar[str] = "generic"
    provides: ClassVar[dict[str, str]] = {}

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        """The module input built from `data` (the generic input); must not modify other modules'."""
        return data


_PARSERS: dict[str, type[ModuleParser]] = {}


def register_module_parser(name: str) -> Callable[[type[ModuleParser]], type[ModuleParser]]:
    """Class decorator: `name`'s module inputs are passed through this parser."""

    def decorate(cls: type[ModuleParser]) -> type[ModuleParser]:
        if not (isinstance(cls, type) and issubclass(cls, ModuleParser)):
            raise TypeError(f"module parser {name!r} must be a ModuleParser subclass, got {cls!r}")
        cls.name = name
        _PARSERS[name] = cls
        return cls

    return decorate


def registered_module_parsers() -> dict[str, type[ModuleParser]]:
    """Module names with a parser of their own."""
    return dict(_PARSERS)


def module_parser(module: str) -> ModuleParser:
    """The parser for `module` (the pass-through base parser when none is registered)."""
    return _PARSERS.get(module, ModuleParser)()
