"""Topic parsers: how each topic's messages split into per-station records.

Parsers are chosen by the `parser` key of a topic's config (generic by default); a user adds a
topic by config alone, or registers a parser class with `@register_parser("name")`.
"""

from . import module_output, realtime_data, station_param  # noqa: F401 - register the built-in parsers
from .bad_input import BAD_INPUT_KINDS, BadInput, BadInputLog
from .base import ParseResult, StationRecord, TopicParser
from .fields import MAX_LIST_LENGTH, parse_time
from .registry import TOPIC_PARSER_MAP, ParserSpec, build_parsers, parser_class, register_parser, registered_parsers
from .routing import StationRouter
from .seed_parser import SeedTopicParser

__all__ = [
    "BAD_INPUT_KINDS",
    "MAX_LIST_LENGTH",
    "TOPIC_PARSER_MAP",
    "BadInput",
    "BadInputLog",
    "ParseResult",
    "ParserSpec",
    "SeedTopicParser",
    "StationRecord",
    "StationRouter",
    "TopicParser",
    "build_parsers",
    "parse_time",
    "parser_class",
    "register_parser",
    "registered_parsers",
]
