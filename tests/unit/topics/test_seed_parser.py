"""SeedTopicParser: topic parsers written as the seeds' developer guide shows them."""

from __future__ import annotations

from d_a import DataDispatcher, ParserBase
from d_a.topics import TOPIC_PARSER_MAP

CONFIG = {"topics": {"SITE-DATA": {"fields": ["stationId", "v"], "modules": ["m"], "window_size": 5}}}


class Rows(ParserBase):
    """One message carrying several stations: a list of records."""

    def parse(self, raw_data):
        if raw_data.get("broken"):
            raise KeyError("rows")
        return [{"stationId": row["sid"], "v": row["v"], "timestamp": raw_data["ts"]} for row in raw_data["rows"]]


class NotADict(ParserBase):
    def parse(self, raw_data):
        return "text"


def test_a_list_of_records_reaches_every_station_ordered_by_timestamp() -> None:
    dispatcher = DataDispatcher(config=CONFIG)
    dispatcher.topic_parsers["SITE-DATA"] = Rows()
    dispatcher.ingest("SITE-DATA", {"ts": 1.7e9 + 60, "rows": [{"sid": "A", "v": 2}, {"sid": "B", "v": 5}]})
    dispatcher.ingest("SITE-DATA", {"ts": 1.7e9, "rows": [{"sid": "A", "v": 1}]})
    assert dispatcher.get_module_input("A", "m")["v_window"] == [1, 2]
    assert dispatcher.get_module_input("B", "m")["v"] == 5


def test_a_failing_parser_costs_its_message_only_and_is_counted() -> None:
    dispatcher = DataDispatcher(config=CONFIG)
    dispatcher.topic_parsers["SITE-DATA"] = Rows()
    dispatcher.ingest("SITE-DATA", {"broken": True})
    dispatcher.ingest("SITE-DATA", {"ts": 1.7e9, "rows": [{"sid": "A", "v": 1}, {"sid": None, "v": 9}]})
    dispatcher.topic_parsers["SITE-DATA"] = NotADict()
    dispatcher.ingest("SITE-DATA", {"ts": 1.7e9})
    assert dispatcher.bad_input.by_kind() == {"parser_error": 2, "missing_id": 1}
    assert dispatcher.get_module_input("A", "m")["v_window"] == [1]
    del dispatcher.topic_parsers["SITE-DATA"]
    assert type(dispatcher.topic_parsers["SITE-DATA"]).__name__ == "TopicParser"


def test_the_process_wide_map_applies_to_dispatchers_made_afterwards() -> None:
    TOPIC_PARSER_MAP["SITE-DATA"] = Rows
    try:
        dispatcher = DataDispatcher(config=CONFIG)
    finally:
        del TOPIC_PARSER_MAP["SITE-DATA"]
    dispatcher.update_topic_data("A", "SITE-DATA", {"ts": 1.7e9, "rows": [{"sid": "A", "v": 3}]})
    assert dispatcher.get_module_input("A", "m")["v"] == 3


def test_class_checks_against_the_compiled_bases_do_not_poison_each_other() -> None:
    """Asking whether a parser class is a TopicParser must not change whether it is a ParserBase
    (compiled bases once shared one ABC cache)."""
    from d_a.topics import TopicParser

    class Fresh(ParserBase):
        def parse(self, raw_data):
            return raw_data

    assert not issubclass(Fresh, TopicParser)
    assert issubclass(Fresh, ParserBase) and isinstance(Fresh(), ParserBase)
