"""ModuleParser: turns a station's aggregated topic and dependency data into one module's input.

The generic part of every input (fields, windows, dependency outputs, `_data_quality`) is built
by `build_module_input`; a module's parser then adds the derived keys its model wants, listed in
its `provides`. Register a parser of your own with `@register_module_parser("my_module")`, or put
an instance in `MODULE_PARSER_MAP` as the original d_a's developer guide does. A parser that is a plain
ParserBase (not a ModuleParser) receives the original d_a's form instead (see `seed_input`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..parser_base import ParserBase

__all__ = [
    "MODULE_PARSER_MAP",
    "ModuleParser",
    "module_parser",
    "register_module_parser",
    "registered_module_parsers",
]


class ModuleParser(ParserBase):
    """Base parser: passes the aggregated input through; subclasses add derived keys.

    `parse` receives the generic flat input (`f`, `f_window`, dependency keys, `_data_quality`,
    each topic's own keys under `_topics`): the windows are already aligned and padded, and full
    7-day windows are not turned into lists of dicts for every call.
    """

    name: ClassVar[str] = "generic"
    provides: ClassVar[dict[str, str]] = {}

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        """The module input built from `data` (the generic input); must not modify other modules'."""
        return data


MODULE_PARSER_MAP: dict[str, ParserBase] = {}
"""Module name -> the parser of its inputs (the original d_a's module parser map). Built-in parsers are
registered here; an entry you add or replace is used by every dispatcher from its next input on."""


def register_module_parser(name: str) -> Callable[[type[ParserBase]], type[ParserBase]]:
    """Class decorator: `name`'s module inputs are passed through an instance of this parser."""

    def decorate(cls: type[ParserBase]) -> type[ParserBase]:
        if not (isinstance(cls, type) and issubclass(cls, ParserBase)):
            raise TypeError(f"module parser {name!r} must be a ParserBase subclass, got {cls!r}")
        if issubclass(cls, ModuleParser):
            cls.name = name
        MODULE_PARSER_MAP[name] = cls()
        return cls

    return decorate


def registered_module_parsers() -> dict[str, type[ParserBase]]:
    """Module names with a parser of their own, and its class."""
    return {name: type(parser) for name, parser in MODULE_PARSER_MAP.items()}


_PASS_THROUGH = ModuleParser()


def module_parser(module: str) -> ParserBase:
    """The parser for `module` (the pass-through base parser when none is registered)."""
    return MODULE_PARSER_MAP.get(module, _PASS_THROUGH)
