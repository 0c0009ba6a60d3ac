"""DataDispatcher: the seeds' API over windows and module inputs, fed with simulator data."""

from __future__ import annotations

import threading

import numpy as np
import orjson
import pytest

from d_a.dispatcher import DataDispatcher
from d_a.errors import DispatcherError
from d_a.simulator import FAULT_KINDS, FaultConfig, StationSimulator
from d_a.topics import parse_time
from d_a.windows.pending import KEPT_ROWS

SIM_START = parse_time("2025-11-01 00:00:00")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fed(stations: int = 3, seconds: int = 120, *, history_hours: int = 24, faults=None, clock=None):
    dispatcher = DataDispatcher(data_expire_seconds=10**9, clock=clock or Clock(SIM_START + seconds))
    sim = StationSimulator(stations=stations, seed=3, history_hours=history_hours, faults=faults)
    for message in sim.initial_messages() + sim.advance(seconds):
        try:
            value = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            continue
        dispatcher.ingest(message.topic, value)
    return dispatcher


def test_seed_example_station_param_lat_lng() -> None:
    dispatcher = DataDispatcher()
    dispatcher.update_topic_data(
        "station_001", "SCHEDULE-STATION-PARAM", {"station_id": "station_001", "lat": 30.5, "lng": 120.3}
    )
    data = dispatcher.get_module_input("station_001", "load_prediction")
    assert data["lat"] == 30.5 and data["lng"] == 120.3
    assert data["lat_window"] == [30.5] and data["lng_window"] == [120.3]
    assert data["stationId"] == "station_001"
    assert dispatcher.get_topic_window("station_001", "SCHEDULE-STATION-PARAM") == [
        {"lat": 30.5, "lng": 120.3, "stationLat": 30.5, "stationLng": 120.3}
    ]


def test_seed_example_dependency_outputs() -> None:
    dispatcher = DataDispatcher()
    dispatcher.update_topic_data(
        "station_001", "SCHEDULE-STATION-PARAM", {"station_id": "station_001", "lat": 30.5, "lng": 120.3}
    )
    output = {
        "station_id": "station_001",
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }
    dispatcher.ingest("MODULE-OUTPUT-LOAD_PREDICTION", output)
    data = dispatcher.get_module_input("station_001", "operation_optimization")
    assert data["lat"] == 30.5 and data["lng"] == 120.3
    assert data["load_prediction_output_window"] == {
        "forecast": [100, 120, 150, 180],
        "confidence": 0.95,
        "model_version": "v2.1",
        "timestamp": 1699000000,
    }
    assert data["load_prediction_forecast"] == [100, 120, 150, 180]
    assert data["load_prediction_confidence"] == 0.95
    assert data["load_prediction_model_version"] == "v2.1"
    assert data["load_prediction_timestamp"] == 1699000000


def test_missing_dependency_output_is_none() -> None:
    data = DataDispatcher().get_module_input("ST0001", "operation_optimization")
    assert data["load_prediction_output_window"] is None
    assert not any(k.startswith("load_prediction_") and k != "load_prediction_output_window" for k in data)


def test_two_dependencies_with_the_same_key_do_not_overwrite_each_other() -> None:
    dispatcher = DataDispatcher()
    dispatcher.ingest(
        "MODULE-OUTPUT-LOAD_PREDICTION",
        {"station_id": "S", "module": "load_prediction", "output": {"value": 1}, "timestamp": 1.0},
    )
    dispatcher.ingest(
        "MODULE-OUTPUT-OPERATION_OPTIMIZATION",
        {"station_id": "S", "module": "operation_optimization", "output": {"value": 2}, "timestamp": 1.0},
    )
    data = dispatcher.get_module_input("S", "thermal_management")
    assert data["load_prediction_value"] == 1
    assert data["operation_optimization_value"] == 2


def test_data_quality_names_missing_topics() -> None:
    dispatcher = DataDispatcher()
    dispatcher.update_topic_data(
        "ST0001",
        "SCHEDULE-CAR-ORDER",
        {"stationId": "ST0001", "gunNo": 1, "outputPower": 50.0, "sendTime": "2025-11-01 08:00:00"},
    )
    quality = dispatcher.get_module_input("ST0001", "station_guidance")["_data_quality"]
    assert quality == {
        "available_topics": ["SCHEDULE-CAR-ORDER"],
        "missing_topics": ["MODULE-OUTPUT-LOAD_PREDICTION", "MODULE-OUTPUT-EVALUATION_MODEL"],
        "total_topics": 3,
        "availability_ratio": pytest.approx(1 / 3),
    }


def test_empty_topic_gives_none_and_empty_windows() -> None:
    data = DataDispatcher().get_module_input("nowhere", "load_prediction")
    assert data["meterPower" if "meterPower" in data else "outputPowerPerStationAvg"] is None
    assert data["outputPowerPerStationAvg_window"] == []
    assert data["_data_quality"]["available_topics"] == []
    assert data["_data_quality"]["availability_ratio"] == 0.0


def test_calendar_before_any_station_reaches_the_first_input() -> None:
    clock = Clock(parse_time("2025-11-03 09:30:00"))
    dispatcher = DataDispatcher(clock=clock)
    sim = StationSimulator(stations=2, seed=1, history_hours=1, topics=["SCHEDULE-ENVIRONMENT-CALENDAR"])
    for message in sim.initial_messages():
        assert dispatcher.ingest(message.topic, orjson.loads(message.value)).triggered == set()  # no station yet
    assert dispatcher.stations() == []
    triggered = dispatcher.update_topic_data(
        "ST0009",
        "SCHEDULE-DEVICE-METER",
        {"stationId": "ST0009", "meterPower": 10.0, "sendTime": "2025-11-03 09:30:00"},
    )
    assert triggered
    data = dispatcher.get_module_input("ST0009", "load_prediction")
    assert (data["date"], data["dayOfWeek"], data["holiday"]) == ("2025-11-03", 1, 0)  # a Monday, workday
    assert "SCHEDULE-ENVIRONMENT-CALENDAR" in data["_data_quality"]["available_topics"]


def test_global_data_triggers_every_known_station() -> None:
    dispatcher = fed(stations=3, seconds=5)
    calendar = {"calendar": [{"date": "2025-11-01", "dayOfWeek": 6, "holiday": 1}]}
    assert dispatcher.ingest("SCHEDULE-ENVIRONMENT-CALENDAR", calendar).triggered == {"ST0001", "ST0002", "ST0003"}


def test_car_orders_trigger_when_a_newer_second_begins() -> None:
    dispatcher = DataDispatcher()
    order = {"stationId": "S1", "transactionSerialNo": "T1", "gunNo": 1, "outputPower": 60.0}

    def send(gun: int, second: str) -> bool:
        return dispatcher.update_topic_data("S1", "SCHEDULE-CAR-ORDER", {**order, "gunNo": gun, "sendTime": second})

    assert send(1, "2025-11-01 08:00:00") is False  # nothing complete yet
    assert send(2, "2025-11-01 08:00:00") is False  # same second: not complete yet
    assert send(1, "2025-11-01 08:00:01") is True  # 08:00:00 is complete
    data = dispatcher.get_module_input("S1", "load_prediction")
    assert [o["gunNo"] for o in data["car_orders"]] == [1, 2]
    assert data["active_sessions"] == 2


@pytest.mark.parametrize(
    ("topic", "raw", "kind"),
    [
        ("SCHEDULE-DEVICE-METER", 42, "wrong_shape"),
        ("NO-SUCH-TOPIC", {"stationId": "S"}, "unknown_topic"),
    ],
)
def test_bad_input_returns_false_and_is_counted(topic, raw, kind) -> None:
    dispatcher = DataDispatcher()
    assert dispatcher.update_topic_data("S", topic, raw) is False
    assert dispatcher.bad_input.by_kind() == {kind: 1}
    assert dispatcher.get_topic_window("S", topic) == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [("high", "wrong_type"), (float("inf"), "non_finite"), (list(range(20_000)), "too_large")],
)
def test_a_bad_field_is_counted_and_the_rest_kept(value, kind) -> None:
    dispatcher = DataDispatcher()
    raw = {"stationId": "S", "meterId": "M1", "meterPower": value, "sendTime": "2025-11-01 08:00:00"}
    assert dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-METER", raw) is True
    assert dispatcher.bad_input.by_kind() == {kind: 1}
    (kept,) = dispatcher.get_topic_window("S", "SCHEDULE-DEVICE-METER")
    assert kept == {"meterId": "M1", "sendTime": "2025-11-01 08:00:00"}


def test_faulty_feed_never_raises_and_counts_each_kind() -> None:
    dispatcher = fed(stations=4, seconds=600, history_hours=2, faults=FaultConfig(rate=0.05))
    kinds = dispatcher.bad_input.by_kind()
    assert {"wrong_shape", "missing_id", "wrong_type", "too_large", "unknown_station"} <= set(kinds)
    assert set(kinds) <= {
        "wrong_shape",
        "missing_id",
        "wrong_type",
        "too_large",
        "unknown_station",
        "non_finite",
        "length_mismatch",
    }
    assert len(FAULT_KINDS) == 10
    for station in dispatcher.stations():
        for module, data in dispatcher.get_all_inputs(station).items():
            assert data is not None, module


def test_duplicates_are_stored_once() -> None:
    dispatcher = DataDispatcher()
    meter = {"stationId": "S", "meterId": "M", "meterPower": 12.5, "sendTime": "2025-11-01 08:05:00"}
    dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-METER", meter)
    dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-METER", dict(meter))
    assert len(dispatcher.get_topic_window("S", "SCHEDULE-DEVICE-METER")) == 1


def test_out_of_order_records_are_placed_by_time() -> None:
    dispatcher = DataDispatcher()
    for minute, power in ((10, 3.0), (0, 1.0), (5, 2.0)):
        dispatcher.update_topic_data(
            "S",
            "SCHEDULE-DEVICE-METER",
            {"stationId": "S", "meterPower": power, "sendTime": f"2025-11-01 08:{minute:02d}:00"},
        )
    assert dispatcher.get_module_input("S", "operation_optimization")["meterPower_window"] == [1.0, 2.0, 3.0]


def test_realtime_message_replaces_the_station_window() -> None:
    dispatcher = fed(stations=2, seconds=1, history_hours=5)
    assert len(dispatcher.get_topic_window("ST0001", "SCHEDULE-STATION-REALTIME-DATA")) == 5
    sim = StationSimulator(stations=2, seed=3, history_hours=3, topics=["SCHEDULE-STATION-REALTIME-DATA"])
    (message,) = [m for m in sim.initial_messages() if m.topic == "SCHEDULE-STATION-REALTIME-DATA"]
    assert dispatcher.ingest(message.topic, orjson.loads(message.value)).triggered == {"ST0001", "ST0002"}
    assert len(dispatcher.get_topic_window("ST0001", "SCHEDULE-STATION-REALTIME-DATA")) == 3


def test_realtime_guns_aligned_to_one_order() -> None:
    dispatcher = DataDispatcher()
    rows = [
        {
            "stationId": "S",
            "sendTime": "2025-11-01 06:00:00",
            "gunPower": {"gunNo": [1, 2], "outputPowerPerGunAvg": [10.0, 20.0], "outputPowerPerGunMax": [11.0, 21.0]},
        },
        {
            "stationId": "S",
            "sendTime": "2025-11-01 07:00:00",
            "gunPower": {"gunNo": [2, 3], "outputPowerPerGunAvg": [22.0, 30.0], "outputPowerPerGunMax": [23.0, 31.0]},
        },
    ]
    dispatcher.update_topic_data("S", "SCHEDULE-STATION-REALTIME-DATA", {"realTimeData": rows})
    data = dispatcher.get_module_input("S", "load_prediction")
    assert data["gunNo"] == [1, 2, 3]
    assert data["outputPowerPerGunAvg_window"] == [[10.0, 20.0, None], [None, 22.0, 30.0]]
    assert data["outputPowerPerGunAvg"] == [None, 22.0, 30.0]
    dispatcher.set_padding_strategy("forward")
    data = dispatcher.get_module_input("S", "load_prediction")
    assert data["outputPowerPerGunAvg_window"][-2:] == [[10.0, 20.0, 30.0], [10.0, 22.0, 30.0]]


def test_padding_strategy_global_and_per_topic() -> None:
    dispatcher = DataDispatcher()
    for minute, power in ((0, 1.0), (10, 3.0)):
        dispatcher.update_topic_data(
            "S",
            "SCHEDULE-DEVICE-METER",
            {"stationId": "S", "meterPower": power, "sendTime": f"2025-11-01 08:{minute:02d}:00"},
        )
    dispatcher.set_padding_strategy("linear")
    window = dispatcher.get_module_input("S", "operation_optimization")["meterPower_window"]
    assert len(window) == 2016 and window[-3:] == [1.0, 2.0, 3.0]
    dispatcher.set_padding_strategy("missing", topic="SCHEDULE-DEVICE-METER")
    assert dispatcher.get_module_input("S", "operation_optimization")["meterPower_window"][-3:] == [1.0, None, 3.0]
    with pytest.raises(ValueError, match="unknown padding strategy 'cubic'"):
        dispatcher.set_padding_strategy("cubic")
    with pytest.raises(DispatcherError, match="unknown topic"):
        dispatcher.set_padding_strategy("zero", topic="NOPE")


def test_numpy_window_format() -> None:
    dispatcher = DataDispatcher(window_format="numpy")
    dispatcher.update_topic_data(
        "S", "SCHEDULE-DEVICE-METER", {"stationId": "S", "meterPower": 5.0, "sendTime": "2025-11-01 08:00:00"}
    )
    window = dispatcher.get_module_input("S", "operation_optimization")["meterPower_window"]
    assert isinstance(window, np.ndarray) and window.dtype == np.float64 and window.tolist() == [5.0]
    with pytest.raises(ValueError, match="unknown window_format"):
        DataDispatcher(window_format="arrow")


def test_clean_expired_empties_idle_windows_and_drops_empty_stations() -> None:
    clock = Clock(1_000.0)
    dispatcher = DataDispatcher(data_expire_seconds=600, clock=clock)
    dispatcher.update_topic_data("A", "SCHEDULE-DEVICE-METER", {"stationId": "A", "meterPower": 1.0})
    dispatcher.update_topic_data("B", "SCHEDULE-DEVICE-METER", {"stationId": "B", "meterPower": 1.0})
    dispatcher.update_topic_data("B", "SCHEDULE-CAR-PRICE", {"fee": [{"stationId": "B", "FeeNo": 1, "gridPrice": 0.5}]})
    clock.now += 601
    assert dispatcher.clean_expired() == []  # meters expire after their own 1,800 s
    clock.now += 1200
    assert dispatcher.clean_expired() == ["A"]
    assert dispatcher.stations() == ["B"]  # the price (35-day expiry) keeps B
    assert dispatcher.get_topic_window("B", "SCHEDULE-DEVICE-METER") == []
    assert len(dispatcher.get_topic_window("B", "SCHEDULE-CAR-PRICE")) == 1


def test_the_input_cache_forgets_the_stations_that_expired() -> None:
    """A station gone with its windows leaves nothing behind in the input cache (memory stays
    bounded as stations come and go)."""
    clock = Clock(SIM_START + 120)
    dispatcher = fed(stations=6, clock=clock)
    for station in dispatcher.stations():
        assert dispatcher.get_module_input(station, "load_prediction")["stationId"] == station
    cached = len(dispatcher.input_cache)
    assert cached > 6  # each station's windows of the module's topics
    clock.now += 10**10  # everything expires, even the yearly calendar
    dispatcher.data_expire_seconds = 1
    expired = dispatcher.clean_expired()
    assert len(expired) == 6 and dispatcher.stations() == []
    assert len(dispatcher.input_cache) <= len(dispatcher.windows.global_windows)  # only the shared ones may stay


def test_devices_expire_one_by_one() -> None:
    clock = Clock(1_000.0)
    dispatcher = DataDispatcher(data_expire_seconds=60, clock=clock)
    dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-HOST-ACDC", {"stationId": "S", "hostCode": "H1", "acPower": 1.0})
    clock.now += 50
    dispatcher.update_topic_data("S", "SCHEDULE-DEVICE-HOST-ACDC", {"stationId": "S", "hostCode": "H2", "acPower": 2.0})
    clock.now += 20
    dispatcher.clean_expired()
    devices = dispatcher.get_module_input("S", "operation_optimization")["acdc_devices"]
    assert [d["hostCode"] for d in devices] == ["H2"]


def test_reload_adds_a_topic_and_keeps_windows() -> None:
    dispatcher = fed(stations=2, seconds=30, history_hours=2)
    before = dispatcher.get_topic_window("ST0001", "SCHEDULE-CAR-ORDER")
    document = {
        "topics": {
            **dispatcher.config.legacy()["TOPIC_DETAIL"],
            "SITE-WIND": {"fields": ["speed"], "modules": ["pv_prediction"], "window_size": 3},
        }
    }
    dispatcher.reload_config(document)
    assert dispatcher.get_topic_window("ST0001", "SCHEDULE-CAR-ORDER") == before
    dispatcher.update_topic_data("ST0001", "SITE-WIND", {"stationId": "ST0001", "speed": 4.5})
    assert dispatcher.get_module_input("ST0001", "pv_prediction")["speed"] == 4.5


def test_reload_shrinks_a_window_keeping_the_newest() -> None:
    dispatcher = DataDispatcher()
    for minute in range(6):
        dispatcher.update_topic_data(
            "S",
            "SCHEDULE-DEVICE-METER",
            {"stationId": "S", "meterPower": float(minute), "sendTime": f"2025-11-01 08:{minute:02d}:00"},
        )
    topics = dispatcher.config.legacy()["TOPIC_DETAIL"]
    topics["SCHEDULE-DEVICE-METER"]["window_size"] = 2
    dispatcher.reload_config({"topics": topics})
    assert [r["meterPower"] for r in dispatcher.get_topic_window("S", "SCHEDULE-DEVICE-METER")] == [4.0, 5.0]


def test_a_failing_module_parser_costs_only_its_module(caplog) -> None:
    from d_a.modules import ModuleParser, register_module_parser

    @register_module_parser("test_broken_module")
    class Broken(ModuleParser):
        def parse(self, data):
            raise RuntimeError("model feature bug")

    dispatcher = DataDispatcher(
        config={"topics": {"SITE-X": {"fields": ["v"], "modules": ["test_broken_module", "test_ok_module"]}}}
    )
    dispatcher.update_topic_data("S", "SITE-X", {"stationId": "S", "v": 1})
    inputs = dispatcher.get_all_inputs("S")
    assert inputs["test_broken_module"] is None
    assert inputs["test_ok_module"]["v"] == 1
    assert "model feature bug" in caplog.text


def test_unknown_module_is_named() -> None:
    with pytest.raises(DispatcherError, match="unknown module 'load_predictoin'"):
        DataDispatcher().get_module_input("S", "load_predictoin")


def test_every_module_input_from_a_full_feed() -> None:
    dispatcher = fed(stations=2, seconds=300, history_hours=24)
    inputs = dispatcher.get_all_inputs("ST0001")
    assert list(inputs) == list(dispatcher.config.modules)
    op = inputs["operation_optimization"]
    assert len(op["outputPowerPerStationAvg_window"]) == 24
    assert op["charging_guns"] == sorted(op["charging_guns"])
    assert op["dayOfWeek"] == 6  # 2025-11-01 is a Saturday
    assert inputs["pv_prediction"]["pv_units"] >= 0
    assert inputs["customer_mining"]["sessions"] == [
        {
            k: o.get(k)
            for k in (
                "transactionSerialNo",
                "gunNo",
                "carProducerCode",
                "batteryNominalTotalCapacity",
                "beginSOC",
                "soc",
            )
        }
        for o in op["car_orders"]
    ]


def test_concurrent_updates_and_reads() -> None:
    dispatcher = DataDispatcher()
    errors = []

    def writer(station: str) -> None:
        try:
            for second in range(200):
                dispatcher.update_topic_data(
                    station,
                    "SCHEDULE-CAR-ORDER",
                    {
                        "stationId": station,
                        "gunNo": 1,
                        "outputPower": 1.0,
                        "sendTime": f"2025-11-01 08:{second // 60:02d}:{second % 60:02d}",
                    },
                )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                for station in dispatcher.stations():
                    dispatcher.get_module_input(station, "load_prediction")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"S{i}",)) for i in range(4)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(dispatcher.get_topic_window(f"S{i}", "SCHEDULE-CAR-ORDER")) == 200 for i in range(4))


def test_batch_ingest_equals_message_by_message_and_logs_positions(caplog) -> None:
    sim = StationSimulator(stations=3, seed=5, history_hours=1, topics=["SCHEDULE-CAR-ORDER", "SCHEDULE-DEVICE-GUN"])
    messages = [m for m in sim.advance(90)]
    one, batch = DataDispatcher(), DataDispatcher()
    for m in messages:
        one.ingest(m.topic, orjson.loads(m.value))
    for topic in ("SCHEDULE-CAR-ORDER", "SCHEDULE-DEVICE-GUN"):
        values = [orjson.loads(m.value) for m in messages if m.topic == topic]
        batch.ingest_batch(topic, values + ["garbage"], positions=[(0, i) for i in range(len(values) + 1)])
    for station in one.stations():
        for topic in ("SCHEDULE-CAR-ORDER", "SCHEDULE-DEVICE-GUN"):
            assert one.get_topic_window(station, topic) == batch.get_topic_window(station, topic)
    assert batch.bad_input.by_kind() == {"wrong_shape": 2}
    assert "topic=SCHEDULE-CAR-ORDER partition=0 offset=" in caplog.text


def test_reload_with_a_new_window_kind_rebuilds_from_the_records() -> None:
    dispatcher = DataDispatcher()
    for minute in range(3):
        dispatcher.update_topic_data(
            "S",
            "SCHEDULE-DEVICE-ERROR",
            {"stationId": "S", "hostError": minute, "sendTime": f"2025-11-01 08:0{minute}:00"},
        )
    topics = dispatcher.config.legacy()["TOPIC_DETAIL"]
    topics["SCHEDULE-DEVICE-ERROR"].update(kind="latest", window_size=1)
    dispatcher.reload_config({"topics": topics})
    assert dispatcher.get_topic_window("S", "SCHEDULE-DEVICE-ERROR") == [
        {"stationId": "S", "hostError": 2, "sendTime": "2025-11-01 08:02:00"}
    ]


def test_public_api_is_importable_from_the_package() -> None:
    import d_a

    assert d_a.DataDispatcher is DataDispatcher
    assert set(d_a.__all__) >= {"DataDispatcher", "ParserBase", "TopicParser", "ModuleParser", "ConfigError"}


def test_unchanged_topics_are_not_rebuilt_and_inputs_stay_clean() -> None:
    dispatcher = fed(stations=1, seconds=30, history_hours=3)
    first = dispatcher.get_module_input("ST0001", "operation_optimization")
    first["outputPowerPerStationAvg_window"].append(-1.0)  # a careless model mutates its input
    builds = dispatcher.input_cache.builds.copy()
    dispatcher.update_topic_data(
        "ST0001", "SCHEDULE-DEVICE-METER", {"stationId": "ST0001", "meterPower": 9.5, "sendTime": "2025-11-01 00:59:00"}
    )
    second = dispatcher.get_module_input("ST0001", "operation_optimization")
    assert dispatcher.input_cache.builds - builds == {"SCHEDULE-DEVICE-METER": 1}  # only the topic that changed
    assert second["meterPower"] == 9.5
    assert -1.0 not in second["outputPowerPerStationAvg_window"]


def test_deferred_encoding_gives_the_same_inputs_and_compacts_on_request() -> None:
    """A service's dispatcher leaves encoding the windows' newest rows to `compact` (called when
    idle): its module inputs, run by run, must be those of a dispatcher that encodes as it goes."""
    sim = StationSimulator(stations=3, seed=5, history_hours=1)
    now, deferred = DataDispatcher(), DataDispatcher(defer_encoding=True)
    for message in sim.initial_messages():
        for dispatcher in (now, deferred):
            dispatcher.ingest(message.topic, orjson.loads(message.value))
    for second in range(200):  # car orders of two or three guns a second: PENDING_ROWS within a minute
        by_topic: dict[str, list] = {}
        for message in sim.advance(1.0):
            by_topic.setdefault(message.topic, []).append(orjson.loads(message.value))
        for topic, values in by_topic.items():
            now.ingest_batch(topic, values)
            deferred.ingest_batch(topic, values)
        for station in now.stations():
            assert deferred.get_module_input(station, "operation_optimization") == now.get_module_input(
                station, "operation_optimization"
            )
        if second % 50 == 49:
            assert deferred.encoding_due()
            while deferred.encode_pending():
                pass
            assert not deferred.encoding_due()
    assert not now.encoding_due() and not now.encode_pending()  # without defer_encoding: nothing is left


def test_a_week_of_history_is_encoded_as_it_arrives_even_when_encoding_is_deferred() -> None:
    """Deferring suits rows that come one by one; a message of 168 hourly rows per station is
    encoded at once, so a service loading 1,000 stations' context does not hold every decoded
    row until it is next idle."""
    sim = StationSimulator(stations=20, seed=3, history_hours=168)
    deferred = DataDispatcher(defer_encoding=True)
    for message in sim.initial_messages():
        deferred.ingest(message.topic, orjson.loads(message.value))
    assert not deferred.encoding_due()
    window = deferred.data_cache[sim.station_ids[0]]["SCHEDULE-STATION-REALTIME-DATA"]
    assert len(window) == 168 and window._store.pending_rows <= KEPT_ROWS


def test_messages_the_windows_hold_already_are_routed_not_written():
    simulator = StationSimulator(stations=3, seed=2)
    messages = [(m.topic, orjson.loads(m.value)) for m in simulator.initial_messages() + simulator.advance(30)]
    dispatcher = DataDispatcher()
    for topic, value in messages:
        dispatcher.ingest(topic, value)
    before = {s: {t: w.records() for t, w in ws.items()} for s, ws in dispatcher.data_cache.items()}

    orders = [value for topic, value in messages if topic == "SCHEDULE-CAR-ORDER"]
    report = dispatcher.ingest_batch("SCHEDULE-CAR-ORDER", orders, store=False)
    realtime = next(value for topic, value in messages if topic == "SCHEDULE-STATION-REALTIME-DATA")
    replaced = dispatcher.ingest_batch("SCHEDULE-STATION-REALTIME-DATA", [realtime], store=False)

    stations = {order["stationId"] for order in orders}
    assert report.touched == report.triggered == stations
    assert replaced.touched == {row["stationId"] for row in realtime["realTimeData"]}
    assert {s: {t: w.records() for t, w in ws.items()} for s, ws in dispatcher.data_cache.items()} == before


def test_windows_being_rebuilt_take_their_records_and_the_others_are_only_routed():
    simulator = StationSimulator(stations=3, seed=2)
    messages = [(m.topic, orjson.loads(m.value)) for m in simulator.initial_messages() + simulator.advance(30)]
    complete, rebuilt = DataDispatcher(), DataDispatcher()
    for topic, value in messages:
        complete.ingest(topic, value)
    orders = [value for topic, value in messages if topic == "SCHEDULE-CAR-ORDER"]

    report = rebuilt.ingest_batch("SCHEDULE-CAR-ORDER", orders, store={"ST0002"})

    assert rebuilt.stations() == ["ST0002"]
    assert report.touched == {order["stationId"] for order in orders}  # the others are routed
    window = rebuilt.data_cache["ST0002"]["SCHEDULE-CAR-ORDER"]
    assert window.records() == complete.data_cache["ST0002"]["SCHEDULE-CAR-ORDER"].records()
