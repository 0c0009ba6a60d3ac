"""The original d_a's import path of the topic parsers (`d_a.topic_parsers`); they live in `d_a.topics`.

A parser written as the original d_a's developer guide shows (a ParserBase subclass with `parse(raw_data)`)
is put in `TOPIC_PARSER_MAP` (or a dispatcher's `topic_parsers`) under its topic's name, and the
topic is configured in TOPIC_DETAIL as usual.
"""

from ..parser_base import ParserBase
from ..topics import TOPIC_PARSER_MAP, SeedTopicParser, TopicParser, register_parser
from ..topics.module_output import ModuleOutputParser
from ..topics.realtime_data import RealtimeDataParser
from ..topics.station_param import StationParamParser

ModelOutputParser = ModuleOutputParser  # the original d_a's name (MODULE-OUTPUT-*)
StationRealtimeDataParser = RealtimeDataParser  # the original d_a's name (SCHEDULE-STATION-REALTIME-DATA)

__all__ = [
    "TOPIC_PARSER_MAP",
    "ModelOutputParser",
    "ModuleOutputParser",
    "ParserBase",
    "RealtimeDataParser",
    "SeedTopicParser",
    "StationParamParser",
    "StationRealtimeDataParser",
    "TopicParser",
    "register_parser",
]
