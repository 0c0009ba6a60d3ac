"""InputAssembly: a station's kept input, updated topic by topic, always equal to one built from scratch."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from d_a.config.loader import default_document
from d_a.dispatcher import DataDispatcher
from d_a.modules import build_module_input, module_parser
from d_a.simulator import StationSimulator
from d_a.topics import parse_time

SIM_START = parse_time("2025-11-01 00:00:00")
MODULE = "operation_optimization"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def from_scratch(dispatcher: DataDispatcher, station: str, module: str = MODULE) -> dict:
    """The input as a one-off build gives it (no cache, no kept assembly)."""
    data = build_module_input(
        dispatcher.config,
        module,
        station,
        lambda topic: dispatcher._window(station, topic),
        dispatcher.padding_for,
        dispatcher.window_format,
        dispatcher.clock(),
    )
    return module_parser(module).parse(data)


def same(a: object, b: object) -> bool:
    """Equal in value, type and key order, recursively (what a model could tell apart)."""
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=True)) if a.dtype.kind == "f" else same(a.tolist(), b.tolist())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def ingest(dispatcher: DataDispatcher, messages) -> None:
    for message in messages:
        dispatcher.ingest(message.topic, orjson.loads(message.value))


steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["second", "second", "some topics", "15 seconds", "late", "again", "padding", "format", "clock", "remove"]
        ),
        st.integers(0, 2**16),
    ),
    min_size=1,
    max_size=12,
)


def short_windows() -> dict:
    """The packaged configuration with short windows: padding fills a window to its size."""
    document = default_document()
    for topic in document["topics"].values():
        if MODULE in topic.get("modules", []) and topic.get("kind") != "replace":
            topic["window_size"] = 40
    return document


@settings(max_examples=30, deadline=None)
@given(steps=steps)
def test_kept_inputs_equal_inputs_built_from_scratch(steps) -> None:
    clock = Clock(SIM_START)
    dispatcher = DataDispatcher(data_expire_seconds=10**9, config=short_windows(), clock=clock)
    sim = StationSimulator(stations=2, seed=5, history_hours=1)
    ingest(dispatcher, sim.initial_messages())
    sent: list = []
    for step, seed in steps:
        clock.now += 1
        if step in ("second", "some topics", "15 seconds"):
            messages = sim.advance(15.0 if step == "15 seconds" else 1.0)
            if step == "some topics":
                topics = sorted({m.topic for m in messages})
                kept = {t for i, t in enumerate(topics) if seed >> i & 1}
                messages = [m for m in messages if m.topic in kept]
            ingest(dispatcher, messages)
            sent += messages
        elif step in ("late", "again") and sent:
            message = sent[seed % len(sent)]
            value = orjson.loads(message.value)
            if step == "late" and isinstance(value, dict) and "sendTime" in value:
                value["sendTime"] = "2025-11-01 00:00:30"  # an old record, placed among the others
            dispatcher.ingest(message.topic, value)
        elif step == "padding":
            dispatcher.set_padding_strategy([None, "zero", "forward", "linear", "missing"][seed % 5])
        elif step == "format":
            dispatcher.window_format = ["list", "numpy"][seed % 2]
        elif step == "remove":
            dispatcher.remove_station("ST0002")
        for station in ("ST0001", "ST0002"):
            kept_input = dispatcher.get_module_input(station, MODULE)
            expected = from_scratch(dispatcher, station)
            assert same(kept_input, expected), f"after {step}: {station}"


def fed(seconds: int = 5) -> tuple[DataDispatcher, StationSimulator]:
    dispatcher = DataDispatcher(data_expire_seconds=10**9, clock=Clock(SIM_START + seconds))
    sim = StationSimulator(stations=1, seed=3, history_hours=1)
    ingest(dispatcher, sim.initial_messages() + sim.advance(seconds))
    return dispatcher, sim


def test_a_model_changing_its_input_never_reaches_the_next_run() -> None:
    dispatcher, _ = fed()
    first = dispatcher.get_module_input("ST0001", MODULE)
    missing = [key for key, value in first.items() if value == [] and key.endswith("_window")]
    assert missing, "the feed should leave some topic empty"
    for key in missing:
        first[key].append("spoiled")
    first["_data_quality"]["missing_topics"].append("spoiled")
    first["car_orders"].clear()
    second = dispatcher.get_module_input("ST0001", MODULE)
    assert all(second[key] == [] for key in missing)
    assert "spoiled" not in second["_data_quality"]["missing_topics"]
    assert second["car_orders"]
    assert same(second, from_scratch(dispatcher, "ST0001"))


def test_a_model_changing_a_row_of_a_table_or_a_record_never_reaches_the_next_run() -> None:
    """Per-gun tables are lists of rows and car orders a list of records: a model may change
    those rows and records too, and the next run still gets what the windows hold."""
    dispatcher, _ = fed()
    first = dispatcher.get_module_input("ST0001", MODULE)
    gun_table = next(
        key for key, value in first.items() if key.endswith("_window") and value and type(value[0]) is list
    )
    first[gun_table][0][0] = -999.0
    first[gun_table][-1].append(-999.0)
    first["car_orders"][0]["soc"] = -999.0
    topic_view = first["_topics"]["SCHEDULE-CAR-ORDER"]["car_orders"]
    topic_view[0]["soc"] = -998.0
    second = dispatcher.get_module_input("ST0001", MODULE)
    assert -999.0 not in second[gun_table][0] and -999.0 not in second[gun_table][-1]
    assert second["car_orders"][0]["soc"] not in (-999.0, -998.0)
    assert same(second, from_scratch(dispatcher, "ST0001"))


def test_a_model_changing_a_dependency_output_inside_never_reaches_the_next_run() -> None:
    dispatcher = DataDispatcher()
    output = {"forecast": [1.0, 2.0], "meta": {"version": 1}}
    dispatcher.ingest("MODULE-OUTPUT-PV_PREDICTION", {"station_id": "S1", "module": "pv_prediction", "output": output})
    dispatcher.update_topic_data("S1", "SCHEDULE-DEVICE-METER", {"stationId": "S1", "meterPower": 9.5})
    first = dispatcher.get_module_input("S1", "electricity_price")
    first["pv_prediction_output_window"]["forecast"].append(-1.0)
    first["pv_prediction_output_window"]["meta"]["version"] = 2
    first["pv_prediction_forecast"].append(-2.0)
    second = dispatcher.get_module_input("S1", "electricity_price")
    assert second["pv_prediction_output_window"]["forecast"] == [1.0, 2.0]
    assert second["pv_prediction_forecast"] == [1.0, 2.0] and second["pv_prediction_meta"] == {"version": 1}


def test_an_input_kept_by_a_model_keeps_what_it_held() -> None:
    dispatcher, sim = fed()
    held = dispatcher.get_module_input("ST0001", MODULE)
    before = orjson.dumps(held)
    ingest(dispatcher, sim.advance(3.0))
    newer = dispatcher.get_module_input("ST0001", MODULE)
    assert orjson.dumps(held) == before
    assert len(newer["soc_window"]) > len(held["soc_window"])


def test_todays_calendar_day_follows_the_clock_without_new_data() -> None:
    dispatcher = DataDispatcher(clock=Clock(parse_time("2025-11-01 09:00:00")))
    days = [{"date": f"2025-11-0{d}", "dayOfWeek": d + 5, "holiday": 0} for d in (1, 2, 3)]
    dispatcher.ingest("SCHEDULE-ENVIRONMENT-CALENDAR", {"calendar": days})
    dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-METER", {"stationId": "S", "meterPower": 9.5})
    assert dispatcher.get_module_input("S", MODULE)["dayOfWeek"] == 6
    dispatcher.clock.now = parse_time("2025-11-02 00:00:01")
    assert dispatcher.get_module_input("S", MODULE)["dayOfWeek"] == 7


def test_the_first_topic_with_a_field_keeps_its_name_whichever_changes() -> None:
    config = {
        "topics": {
            "SITE-A": {"fields": ["stationId", "power", "a_only"], "modules": ["site_model"]},
            "SITE-B": {"fields": ["stationId", "power", "b_only"], "modules": ["site_model"]},
        }
    }
    dispatcher = DataDispatcher(config=config)
    dispatcher.update_topic_data("S", "SITE-B", {"stationId": "S", "power": 2.0, "b_only": 1})
    data = dispatcher.get_module_input("S", "site_model")
    assert (data["power"], data["b_only"]) == (None, 1)  # A comes first: its (empty) power owns the name
    dispatcher.update_topic_data("S", "SITE-A", {"stationId": "S", "power": 1.0, "a_only": 1})
    assert dispatcher.get_module_input("S", "site_model")["power"] == 1.0
    dispatcher.update_topic_data("S", "SITE-B", {"stationId": "S", "power": 3.0, "b_only": 2})
    data = dispatcher.get_module_input("S", "site_model")
    assert (data["power"], data["power_window"], data["b_only"]) == (1.0, [1.0], 2)
    assert same(data, from_scratch(dispatcher, "S", "site_model"))


def test_removing_a_station_drops_its_kept_inputs() -> None:
    dispatcher, _ = fed()
    dispatcher.get_module_input("ST0001", MODULE)
    assert dispatcher._assemblies
    dispatcher.remove_station("ST0001")
    assert not dispatcher._assemblies
    assert dispatcher.stations() == []
    again = dispatcher.get_module_input("ST0001", MODULE)
    assert "SCHEDULE-CAR-ORDER" in again["_data_quality"]["missing_topics"]
    assert not dispatcher._assemblies  # an unknown station's input is built, not kept
