"""What a topic's window contributes to a module input, per kind."""

from __future__ import annotations

import orjson

from d_a.config import TopicConfig
from d_a.config.input_names import input_names
from d_a.dispatcher import DataDispatcher
from d_a.inputs.topic_inputs import default_records_key, empty_inputs, topic_inputs
from d_a.simulator import StationSimulator
from d_a.topics import parse_time
from d_a.windows import make_window
from d_a.windows.spec import window_spec


def window_with(config: TopicConfig, records: list[dict]):
    window = make_window(window_spec(config))
    window.add_many(records, [parse_time(r["sendTime"]) for r in records], now=0.0)
    return window


def test_in_effect_picks_today_from_a_calendar_of_coming_days() -> None:
    config = TopicConfig(
        kind="replace", fields=["date", "dayOfWeek"], time_field="date", current="in_effect", window_size=10
    )
    days = [
        {"date": f"2025-11-0{d}", "dayOfWeek": d + 5 if d < 2 else d - 2, "sendTime": f"2025-11-0{d}"}
        for d in (1, 2, 3)
    ]
    window = make_window(window_spec(config))
    window.replace(
        [{k: v for k, v in d.items() if k != "sendTime"} for d in days], [parse_time(d["date"]) for d in days]
    )
    inputs = topic_inputs("CAL", config, window, padding=None, fmt="list", now=parse_time("2025-11-02 13:00:00"))
    assert inputs["date"] == "2025-11-02"
    assert inputs["date_window"] == ["2025-11-01", "2025-11-02", "2025-11-03"]
    before = topic_inputs("CAL", config, window, padding=None, fmt="list", now=parse_time("2025-10-01 00:00:00"))
    assert before["date"] is None


def test_scalar_keyed_records_pivot_per_time_slot() -> None:
    config = TopicConfig(
        kind="append",
        fields=["gunNo", "status"],
        align_by="gunNo",
        aligned_fields=["status"],
        interval_seconds=15,
        window_size=100,
    )
    records = [
        {"gunNo": 1, "status": 1, "sendTime": "2025-11-01 08:00:00"},
        {"gunNo": 2, "status": 0, "sendTime": "2025-11-01 08:00:01"},
        {"gunNo": 1, "status": 0, "sendTime": "2025-11-01 08:00:15"},
        {"gunNo": 3, "status": 2, "sendTime": "2025-11-01 08:00:16"},
    ]
    inputs = topic_inputs("GUN", config, window_with(config, records), padding="forward", fmt="list", now=0.0)
    assert inputs["gunNo"] == [1, 2, 3]
    assert inputs["status_window"] == [[1, 0, 2], [0, 0, 2]]
    assert inputs["status"] == [0, 0, 2]


def test_records_key_defaults_from_the_topic_name() -> None:
    assert default_records_key("SCHEDULE-DEVICE-STORAGE") == "device_storage_records"
    config = TopicConfig(kind="per_device", device_key="unitId", fields=["unitId", "p"], window_size=1)
    records = [
        {"unitId": "U1", "p": 1.0, "sendTime": "2025-11-01 08:00:00"},
        {"unitId": "U2", "p": 2.0, "sendTime": "2025-11-01 08:00:01"},
    ]
    inputs = topic_inputs("SITE-UNITS", config, window_with(config, records), padding=None, fmt="list", now=0.0)
    assert [d["unitId"] for d in inputs["site_units_records"]] == ["U1", "U2"]
    assert inputs["p"] == 2.0


def test_a_topic_gives_the_same_names_with_and_without_data() -> None:
    """Which topic owns a shared flat name must not depend on which topics hold data, so a topic's
    names are the same whether its window is empty or not (and what `d-a check-config` lists)."""
    dispatcher = DataDispatcher(data_expire_seconds=10**9, clock=lambda: parse_time("2025-11-01 00:01:00"))
    sim = StationSimulator(stations=1, seed=4, history_hours=2)
    for message in sim.initial_messages() + sim.advance(60):
        dispatcher.ingest(message.topic, orjson.loads(message.value))
    checked = []
    for topic, config in dispatcher.config.topics.items():
        window = dispatcher._window("ST0001", topic)
        if not config.fields or window is None or not len(window):
            continue
        names = input_names(topic, config, config.fields)
        assert list(empty_inputs(topic, config)) == names, topic
        with_data = topic_inputs(topic, config, window, padding=None, fmt="list", now=parse_time("2025-11-01 00:01:00"))
        assert list(with_data) == names, topic
        checked.append(topic)
    assert {"SCHEDULE-STATION-REALTIME-DATA", "SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-ORDER"} <= set(checked)
    assert len(checked) >= 10


def test_every_aligned_table_comes_with_its_key_order() -> None:
    config = TopicConfig(
        kind="append", fields=["gunNo", "status"], align_by="gunNo", aligned_fields=["status"], window_size=10
    )
    records = [
        {"gunNo": 3, "status": 1, "sendTime": "2025-11-01 08:00:00"},
        {"gunNo": 1, "status": 0, "sendTime": "2025-11-01 08:00:00"},
    ]
    inputs = topic_inputs("GUN", config, window_with(config, records), padding=None, fmt="list", now=0.0)
    assert inputs["status_gunNo"] == inputs["gunNo"] == [1, 3]
    assert dict(zip(inputs["status_gunNo"], inputs["status"], strict=True)) == {1: 0, 3: 1}
    assert empty_inputs("GUN", config) == {"gunNo": [], "status": None, "status_window": [], "status_gunNo": []}
