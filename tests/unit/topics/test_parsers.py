"""Every topic's wire format splits into the right station records."""

from __future__ import annotations

import pytest

from d_a.errors import ConfigError
from d_a.simulator import TOPICS
from d_a.topics import BadInput, TopicParser, parse_time, register_parser, registered_parsers
from d_a.topics.registry import parser_class

NOW = 1_762_000_000.0


def parse_all(parsers, feed, topic):
    records, problems = [], []
    for value in feed[topic]:
        result = parsers[topic].station_records(value, NOW)
        parsers[topic].accepted(result.records)
        records += result.records
        problems += result.problems
    return records, problems


@pytest.mark.parametrize("topic", TOPICS)
def test_simulator_messages_parse_without_problems(parsers, feed, topic) -> None:
    if topic != "SCHEDULE-STATION-PARAM":
        parse_all(parsers, feed, "SCHEDULE-STATION-PARAM")
    records, problems = parse_all(parsers, feed, topic)
    assert problems == []
    assert records
    stations = {r.station_id for r in records}
    if topic == "SCHEDULE-ENVIRONMENT-CALENDAR":
        assert stations == {None}
    else:
        assert stations <= {"ST0001", "ST0002", "ST0003", "ST0004"}


def test_param_array_gives_one_record_per_station_with_lat_lng_aliases(parsers, feed, router) -> None:
    records, _ = parse_all(parsers, feed, "SCHEDULE-STATION-PARAM")
    assert [r.station_id for r in records] == ["ST0001", "ST0002", "ST0003", "ST0004"]
    first = records[0].record
    assert first["lat"] == first["stationLat"] and first["lng"] == first["stationLng"]
    assert router.known_stations == {"ST0001", "ST0002", "ST0003", "ST0004"}


def test_seed_example_message_with_lat_lng_only(parsers) -> None:
    result = parsers["SCHEDULE-STATION-PARAM"].station_records(
        {"station_id": "station_001", "lat": 30.5, "lng": 120.3}, NOW
    )
    (item,) = result.records
    assert item.station_id == "station_001"
    assert item.record == {"lat": 30.5, "lng": 120.3, "stationLat": 30.5, "stationLng": 120.3}
    assert item.ts == NOW  # no sendTime: arrival time


def test_realtime_rows_lift_gun_power_and_keep_each_hour(parsers, feed) -> None:
    records, _ = parse_all(parsers, feed, "SCHEDULE-STATION-REALTIME-DATA")
    row = records[0].record
    assert set(row) >= {"gunNo", "outputPowerPerGunAvg", "outputPowerPerGunMax", "outputPowerPerStationAvg"}
    assert "gunPower" not in row
    assert len(row["gunNo"]) == len(row["outputPowerPerGunAvg"]) == len(row["outputPowerPerGunMax"])
    first_message = parsers["SCHEDULE-STATION-REALTIME-DATA"].station_records(
        feed["SCHEDULE-STATION-REALTIME-DATA"][0], NOW
    )
    hours = sorted(r.ts for r in first_message.records if r.station_id == "ST0001")
    assert len(hours) == 3  # history_hours rows per station in one message
    assert [b - a for a, b in zip(hours, hours[1:], strict=False)] == [3600, 3600]


def test_realtime_length_mismatch_leaves_out_the_gun_lists_only(parsers) -> None:
    value = {
        "realTimeData": [
            {
                "stationId": "ST0001",
                "sendTime": "2025-11-01 08:00:00",
                "gunPower": {
                    "gunNo": [1, 2, 3],
                    "outputPowerPerGunAvg": [1.0, 2.0],
                    "outputPowerPerGunMax": [1.0, 2.0, 3.0],
                },
                "outputPowerPerStationAvg": 3.0,
                "outputPowerPerStationMax": 6.0,
            },
            {
                "stationId": "ST0002",
                "sendTime": "2025-11-01 08:00:00",
                "gunPower": {"gunNo": [1], "outputPowerPerGunAvg": [1.0], "outputPowerPerGunMax": [2.0]},
                "outputPowerPerStationAvg": 1.0,
                "outputPowerPerStationMax": 2.0,
            },
        ]
    }
    result = parsers["SCHEDULE-STATION-REALTIME-DATA"].station_records(value, NOW)
    assert [r.station_id for r in result.records] == ["ST0001", "ST0002"]
    kept = result.records[0].record
    assert kept["outputPowerPerStationAvg"] == 3.0 and "gunNo" not in kept and "outputPowerPerGunMax" not in kept
    (problem,) = result.problems
    assert (problem.kind, problem.station, problem.field, problem.field_only) == (
        "length_mismatch",
        "ST0001",
        "gunPower",
        True,
    )
    assert "gunNo: 3" in problem.detail and "outputPowerPerGunAvg: 2" in problem.detail


def test_calendar_is_global_one_record_per_day_timed_by_date(parsers, feed) -> None:
    records, _ = parse_all(parsers, feed, "SCHEDULE-ENVIRONMENT-CALENDAR")
    assert len(records) == 365
    assert records[0].record == {"date": "2025-01-01", "dayOfWeek": 3, "holiday": 1}
    assert records[0].ts == parse_time("2025-01-01 00:00:00")


def test_price_and_weather_envelopes_route_each_element(parsers, feed) -> None:
    prices, _ = parse_all(parsers, feed, "SCHEDULE-CAR-PRICE")
    assert {r.station_id for r in prices} == {"ST0001", "ST0002", "ST0003", "ST0004"}
    assert {"FeeNo", "gridPrice", "serviceFee", "periodType"} <= set(prices[0].record)
    weather, _ = parse_all(parsers, feed, "SCHEDULE-ENVIRONMENT-WEATHER")
    assert len(weather) == 4 and "weatherSituationTomorrow" in weather[0].record


def test_car_order_keeps_its_fields_and_second(parsers, feed) -> None:
    records, _ = parse_all(parsers, feed, "SCHEDULE-CAR-ORDER")
    order = records[0]
    assert order.ts == parse_time(order.record["sendTime"])
    assert set(order.record) == set(parsers["SCHEDULE-CAR-ORDER"].config.fields) | {"sendTime"}


def test_storage_routes_by_host_id_when_station_id_is_missing(parsers, feed) -> None:
    parse_all(parsers, feed, "SCHEDULE-STATION-PARAM")
    storage = next(v for v in feed["SCHEDULE-DEVICE-STORAGE"])
    anonymous = {k: v for k, v in storage.items() if k != "stationId"}
    (item,) = parsers["SCHEDULE-DEVICE-STORAGE"].station_records(anonymous, NOW).records
    assert item.station_id == storage["stationId"]


def test_meter_id_routes_through_param(parsers, feed) -> None:
    parse_all(parsers, feed, "SCHEDULE-STATION-PARAM")
    result = parsers["SCHEDULE-DEVICE-METER"].station_records(
        {
            "meter_id": "M0003",
            "meterId": "M0003",
            "meterPower": 120.5,
            "rmeterLimitPower": 500,
            "sendTime": "2025-11-01 08:05:00",
        },
        NOW,
    )
    assert [r.station_id for r in result.records] == ["ST0003"]


def test_unmapped_host_id_is_an_unknown_station(parsers) -> None:
    result = parsers["SCHEDULE-DEVICE-STORAGE"].station_records(
        {"hostId": "H9999", "storageId": "S1", "storagePower": 1.0, "sendTime": "2025-11-01 08:00:00"}, NOW
    )
    assert result.records == []
    assert [p.kind for p in result.problems] == ["unknown_station"]


@pytest.mark.parametrize(
    ("topic", "value", "kind"),
    [
        ("SCHEDULE-DEVICE-METER", {"meterPower": 3.5, "sendTime": "2025-11-01 08:05:00"}, "missing_id"),
        ("SCHEDULE-DEVICE-METER", "not an object", "wrong_shape"),
        ("SCHEDULE-DEVICE-METER", [1, 2], "wrong_shape"),
        ("SCHEDULE-DEVICE-METER", {"stationId": True, "meterPower": 1.0}, "wrong_type"),
        ("SCHEDULE-CAR-PRICE", [{"stationId": "ST0001"}], "wrong_shape"),
        ("SCHEDULE-CAR-PRICE", {"fee": 3}, "wrong_shape"),
    ],
)
def test_a_bad_record_is_classified_never_raised(parsers, topic, value, kind) -> None:
    """Without a usable station id or shape the record is lost, counted under its kind."""
    result = parsers[topic].station_records(value, NOW)
    assert result.records == []
    assert result.problems and {p.kind for p in result.problems} == {kind}


@pytest.mark.parametrize(
    ("topic", "value", "kind", "field"),
    [
        (
            "SCHEDULE-DEVICE-METER",
            {"stationId": "ST0001", "meterPower": "abc", "meterId": "M1"},
            "wrong_type",
            "meterPower",
        ),
        (
            "SCHEDULE-DEVICE-METER",
            {"stationId": "ST0001", "meterPower": float("nan"), "meterId": "M1"},
            "non_finite",
            "meterPower",
        ),
        (
            "SCHEDULE-DEVICE-METER",
            {"stationId": "ST0001", "meterPower": [0.0] * 100_000, "meterId": "M1"},
            "too_large",
            "meterPower",
        ),
        (
            "SCHEDULE-DEVICE-METER",
            {"stationId": "ST0001", "meterPower": 1.0, "sendTime": "yesterday"},
            "wrong_type",
            "sendTime",
        ),
        ("SCHEDULE-DEVICE-GUN", {"stationId": "ST0001", "gunNo": 1, "status": 1.5}, "wrong_type", "status"),
        (
            "SCHEDULE-DEVICE-GUN",
            {"stationId": "ST0001", "hostCode": "", "gunNo": 1, "status": 1},
            "wrong_type",
            "hostCode",
        ),
        (
            "SCHEDULE-DEVICE-GUN",
            {"stationId": "ST0001", "hostCode": "H1", "gunNo": 1.5, "status": 1},
            "wrong_type",
            "gunNo",
        ),
        (
            "SCHEDULE-CAR-ORDER",
            {"stationId": "ST0001", "soc": 50.0, "carProducerCode": float("inf")},
            "non_finite",
            "carProducerCode",
        ),
        (
            "SCHEDULE-DEVICE-HOST-DCDC",
            {"stationId": "ST0001", "hostCode": "H1", "dcdcPower": [1.0, "x"]},
            "wrong_type",
            "dcdcPower",
        ),
        (
            "SCHEDULE-STATION-REALTIME-DATA",
            {"realTimeData": [{"stationId": "ST0001", "gunPower": [1], "outputPowerPerStationAvg": 2.0}]},
            "wrong_shape",
            "gunPower",
        ),
    ],
)
def test_a_bad_field_is_left_out_and_the_record_kept(parsers, topic, value, kind, field) -> None:
    """A bad field is that field's problem: counted under its kind, the rest of the record kept."""
    raw = value["realTimeData"][0] if "realTimeData" in value else value
    result = parsers[topic].station_records(value, NOW)
    (kept,) = result.records
    (problem,) = result.problems
    assert (problem.kind, problem.field, problem.field_only, problem.station) == (kind, field, True, "ST0001")
    assert field not in kept.record and kept.station_id == "ST0001"
    others = {k: v for k, v in raw.items() if k not in (field, "stationId") and k in kept.record}
    assert others and all(kept.record[k] == v for k, v in others.items())


def test_a_record_keeps_only_its_topics_fields_and_time(parsers) -> None:
    gun = {"hostCode": "H1", "gunNo": 2, "status": 1, "sendTime": "2025-11-01 08:00:15"}
    for extra in ({}, {"firmware": "v9", "debug": [1, 2]}):  # the message holds just the fields, or more
        result = parsers["SCHEDULE-DEVICE-GUN"].station_records({"stationId": "ST0001", **gun, **extra}, NOW)
        assert [(r.station_id, r.record) for r in result.records] == [("ST0001", gun)]
        assert result.problems == []


def test_one_bad_record_does_not_spoil_its_neighbours(parsers) -> None:
    value = [
        {"stationId": "A", "stationLat": 30.1, "stationLng": 120.1},
        {"stationId": "B", "stationLat": "north"},
        {"stationLat": 1.0},
        {"stationId": "C", "stationLat": 30.3, "stationLng": 120.3},
    ]
    result = parsers["SCHEDULE-STATION-PARAM"].station_records(value, NOW)
    assert [r.station_id for r in result.records] == ["A", "B", "C"]  # B without its bad stationLat
    assert "stationLat" not in result.records[1].record
    assert [(p.kind, p.station) for p in result.problems] == [("wrong_type", "B"), ("missing_id", None)]


def test_module_output_in_the_original_results_form_and_a_result_with_stations(parsers) -> None:
    """The original implementation uploads `results` where the seeds' batch document writes
    `stations`; a station's own result may have a `stations` field and stays one result."""
    parser = parsers["MODULE-OUTPUT-PV_PREDICTION"]
    original = {
        "batch_id": "b0",
        "module": "pv_prediction",
        "timestamp": 1699999300.0,
        "stations_count": 2,
        "results": [{"station_id": "ST000001", "value": 1.0}, {"station_id": "ST000002", "value": 2.0}],
    }
    result = parser.station_records(original, NOW)
    assert result.problems == []
    assert [(r.station_id, r.record) for r in result.records] == [
        ("ST000001", {"value": 1.0, "timestamp": 1699999300.0}),
        ("ST000002", {"value": 2.0, "timestamp": 1699999300.0}),
    ]
    guidance = {"station_id": "A", "stations": ["B", "C"], "timestamp": 1699999300.0}
    (one,) = parser.station_records(guidance, NOW).records
    assert one.station_id == "A" and one.record["stations"] == ["B", "C"]


def test_module_output_batch_single_and_plain_forms(parsers) -> None:
    parser = parsers["MODULE-OUTPUT-LOAD_PREDICTION"]
    batch = {
        "batch_id": "SCHEDULE-STATION-REALTIME-DATA_1699999200",
        "module": "load_prediction",
        "timestamp": 1699999300.0,
        "stations": [{"station_id": "A", "forecast": [1, 2]}, {"station_id": "C", "forecast": [3], "timestamp": 5.0}],
        "station_count": 2,
    }
    records = parser.station_records(batch, NOW).records
    assert [(r.station_id, r.record, r.ts) for r in records] == [
        ("A", {"forecast": [1, 2], "timestamp": 1699999300.0}, 1699999300.0),
        ("C", {"forecast": [3], "timestamp": 5.0}, 5.0),
    ]
    single = {"station_id": "A", "module": "load_prediction", "output": {"forecast": [9]}, "timestamp": 1700000000}
    (one,) = parser.station_records(single, NOW).records
    assert one.record == {"forecast": [9], "timestamp": 1700000000}
    plain = {
        "station_id": "station_001",
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }
    (flat,) = parser.station_records(plain, NOW).records
    assert flat.record == {
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }


def test_a_topic_added_by_config_alone_keeps_all_keys(router) -> None:
    from d_a.config import load_config
    from d_a.topics import build_parsers

    config = load_config({"topics": {"SITE-WIND": {"envelope": "wind", "types": {"speed": "number"}}}})
    parser = build_parsers(config.topics, router)["SITE-WIND"]
    result = parser.station_records(
        {"wind": [{"stationId": "W1", "speed": 7.5, "dir": "NE", "sendTime": "2025-11-01 08:00:00"}]}, NOW
    )
    (item,) = result.records
    assert item.record == {"stationId": "W1", "speed": 7.5, "dir": "NE", "sendTime": "2025-11-01 08:00:00"}


def test_custom_parser_registered_by_name(router) -> None:
    from d_a.config import load_config
    from d_a.topics import build_parsers

    @register_parser("test_scaled_meter")
    class ScaledMeter(TopicParser):
        def parse(self, data):
            record = super().parse(data)
            record["meterPower"] = record["meterPower"] * 1000
            return record

    assert registered_parsers()["test_scaled_meter"] is ScaledMeter
    config = load_config({"topics": {"SITE-M": {"parser": "test_scaled_meter", "fields": ["meterPower"]}}})
    parser = build_parsers(config.topics, router)["SITE-M"]
    (item,) = parser.station_records({"stationId": "S", "meterPower": 1.5}, NOW).records
    assert item.record["meterPower"] == 1500.0


def test_unknown_parser_name_is_a_config_error(config) -> None:
    topic = config.topics["SCHEDULE-DEVICE-METER"].model_copy(update={"parser": "nope"})
    with pytest.raises(ConfigError, match="topics.SCHEDULE-DEVICE-METER.parser: unknown parser 'nope'"):
        parser_class("SCHEDULE-DEVICE-METER", topic)


def test_parse_time_forms() -> None:
    assert parse_time("2025-11-01 08:00:00") == parse_time("2025-11-01T08:00:00")
    assert parse_time(1_700_000_000_000) == 1_700_000_000.0
    assert parse_time(1_700_000_000) == 1_700_000_000.0
    assert parse_time(None) is None and parse_time("") is None
    with pytest.raises(BadInput):
        parse_time("01/11/2025")


def test_seed_style_parser_returning_none_skips_and_a_crash_is_contained(router) -> None:
    from d_a.config import load_config
    from d_a.parser_base import ParserBase
    from d_a.topics import build_parsers

    @register_parser("test_picky")
    class Picky(TopicParser):
        def parse(self, raw_data):
            if raw_data.get("v") == "skip":
                return None
            if raw_data.get("v") == "crash":
                raise KeyError("bug")
            return {"v": raw_data["v"]}

    assert issubclass(Picky, ParserBase)
    config = load_config({"topics": {"SITE-P": {"parser": "test_picky"}}})
    parser = build_parsers(config.topics, router)["SITE-P"]
    result = parser.station_records(
        [{"stationId": "A", "v": 1}, {"stationId": "A", "v": "skip"}, {"stationId": "B", "v": "crash"}], NOW
    )
    assert [r.record for r in result.records] == [{"v": 1}]
    assert [(p.kind, p.station) for p in result.problems] == [("rejected", "A"), ("parser_error", "B")]
