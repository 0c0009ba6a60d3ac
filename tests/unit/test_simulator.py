"""The station simulator produces the field's wire format, on time, consistently and reproducibly."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import cache
from itertools import pairwise

import orjson
import pytest

from d_a.simulator import FAULT_KINDS, TOPICS, FaultConfig, SimMessage, StationSimulator, rates

PARAM = "SCHEDULE-STATION-PARAM"
REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
CALENDAR = "SCHEDULE-ENVIRONMENT-CALENDAR"
WEATHER = "SCHEDULE-ENVIRONMENT-WEATHER"
METER = "SCHEDULE-DEVICE-METER"
GUN = "SCHEDULE-DEVICE-GUN"
CAR_ORDER = "SCHEDULE-CAR-ORDER"
CAR_PRICE = "SCHEDULE-CAR-PRICE"
DEVICE_ERROR = "SCHEDULE-DEVICE-ERROR"
DCDC = "SCHEDULE-DEVICE-HOST-DCDC"
ACDC = "SCHEDULE-DEVICE-HOST-ACDC"
STORAGE = "SCHEDULE-DEVICE-STORAGE"
PV = "SCHEDULE-DEVICE-PV"

# The wire format, written out independently of the implementation: (envelope key, record fields).
WIRE = {
    PARAM: (
        None,
        [
            "stationId",
            "stationLng",
            "stationLat",
            "gunNum",
            "gridCapacity",
            "meterId",
            "powerNum",
            "normalClap",
            "hostCode",
        ],
    ),
    REALTIME: (
        "realTimeData",
        ["stationId", "hostCode", "sendTime", "gunPower", "outputPowerPerStationAvg", "outputPowerPerStationMax"],
    ),
    CALENDAR: ("calendar", ["date", "dayOfWeek", "holiday"]),
    WEATHER: ("weather", ["stationId", "weatherSituationYesterday", "seasonTomorrow", "weatherSituationTomorrow"]),
    METER: (None, ["stationId", "meterId", "meterPower", "rmeterLimitPower", "sendTime"]),
    GUN: (None, ["stationId", "hostCode", "gunNo", "status", "sendTime"]),
    CAR_ORDER: (
        None,
        [
            "stationId",
            "transactionSerialNo",
            "hostCode",
            "gunNo",
            "terminalMaxOutElectric",
            "startChargeTime",
            "endChargeTime",
            "beginSOC",
            "soc",
            "terminalRequireVoltage",
            "terminalRequireElectric",
            "outputPower",
            "carProducerCode",
            "batteryNominalTotalCapacity",
            "sendTime",
        ],
    ),
    CAR_PRICE: ("fee", ["stationId", "FeeNo", "startTime", "endTime", "periodType", "gridPrice", "serviceFee"]),
    DEVICE_ERROR: (None, ["stationId", "hostError", "acError", "dcError", "terminalError", "storageError", "sendTime"]),
    DCDC: (None, ["stationId", "hostCode", "dcWorkStatus", "dcdcPower", "sendTime"]),
    ACDC: (None, ["stationId", "hostCode", "acPower", "sendTime"]),
    STORAGE: (
        None,
        [
            "stationId",
            "hostId",
            "storageId",
            "storagePower",
            "storageCurrent",
            "storageTempMax",
            "storageTempMin",
            "storageSOC",
            "storageSOH",
            "sendTime",
        ],
    ),
    PV: (None, ["stationId", "pvId", "pvPreDcPower"]),
}
GUN_POWER_FIELDS = ["gunNo", "outputPowerPerGunAvg", "outputPowerPerGunMax"]
NUMERIC = {
    "stationLng",
    "stationLat",
    "gunNum",
    "gridCapacity",
    "powerNum",
    "normalClap",
    "outputPowerPerStationAvg",
    "outputPowerPerStationMax",
    "dayOfWeek",
    "holiday",
    "meterPower",
    "rmeterLimitPower",
    "gunNo",
    "status",
    "terminalMaxOutElectric",
    "beginSOC",
    "soc",
    "terminalRequireVoltage",
    "terminalRequireElectric",
    "outputPower",
    "batteryNominalTotalCapacity",
    "FeeNo",
    "periodType",
    "gridPrice",
    "serviceFee",
    "hostError",
    "acError",
    "dcError",
    "terminalError",
    "storageError",
    "acPower",
    "storagePower",
    "storageCurrent",
    "storageTempMax",
    "storageTempMin",
    "storageSOC",
    "storageSOH",
    "pvPreDcPower",
    "weatherSituationYesterday",
    "seasonTomorrow",
    "weatherSituationTomorrow",
}
SEND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
START = datetime(2025, 11, 1)
HOUR_STATIONS = 20


def records(message: SimMessage, check_values: bool = True) -> list[dict]:
    """Decode a message, assert its wire shape and field names exactly, return its station records.

    `check_values` also checks that numeric fields are finite numbers and sendTime is well formed.
    """
    value = orjson.loads(message.value)
    envelope, fields = WIRE[message.topic]
    if envelope is not None:
        assert list(value) == [envelope]
        items = value[envelope]
    elif message.topic == PARAM:
        items = value
    else:
        items = [value]
    assert isinstance(items, list) and items
    for item in items:
        assert list(item) == fields, message.topic
        if not check_values:
            continue
        for name in fields:
            if name in NUMERIC:
                assert isinstance(item[name], (int, float)) and not isinstance(item[name], bool), (name, item)
                assert math.isfinite(item[name])
        if "sendTime" in item:
            assert SEND_TIME.match(item["sendTime"])
        if "gunPower" in item:
            assert list(item["gunPower"]) == GUN_POWER_FIELDS
    return items


@cache
def wall(send_time: str) -> datetime:
    return datetime.strptime(send_time, "%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def hour_feed() -> dict:
    """20 stations, 3 h of history, the initial messages and one simulated hour, decoded.

    Every message's shape is checked; the value checks run on the first 2,000 of each topic.
    """
    sim = StationSimulator(stations=HOUR_STATIONS, seed=7, start=START, history_hours=3, realtime_chunk=8)
    initial = sim.initial_messages()
    live = sim.advance(3600)
    by_topic: dict[str, list[tuple[SimMessage, list[dict]]]] = defaultdict(list)
    for message in initial + live:
        seen = by_topic[message.topic]
        seen.append((message, records(message, check_values=len(seen) < 2000)))
    params = {row["stationId"]: row for _, rows in by_topic[PARAM] for row in rows}
    return {"sim": sim, "initial": initial, "live": live, "by_topic": by_topic, "params": params}


def test_topics_are_the_13_input_topics():
    assert len(TOPICS) == 13 and set(TOPICS) == set(WIRE)


def test_every_topic_decodes_with_the_design_shape(hour_feed):
    assert set(hour_feed["by_topic"]) == set(TOPICS)
    for message in hour_feed["initial"] + hour_feed["live"]:
        assert message.fault is None
        assert message.value.decode("utf-8")


def test_keys_and_station_ids_match_the_payload(hour_feed):
    for topic, items in hour_feed["by_topic"].items():
        for message, rows in items:
            ids = {row.get("stationId") for row in rows}
            if len(ids) == 1 and None not in ids:
                assert message.station_id == next(iter(ids)) and message.key == message.station_id.encode()
            else:
                assert message.station_id is None and message.key is None, topic


def test_timestamps_are_in_time_order_and_match_send_time(hour_feed):
    stamps = [m.timestamp_ms for m in hour_feed["live"]]
    assert stamps == sorted(stamps)
    for topic in (GUN, CAR_ORDER, METER, STORAGE):
        for message, (row,) in hour_feed["by_topic"][topic][:50]:
            assert message.timestamp_ms == round(wall(row["sendTime"]).timestamp() * 1000)
    assert hour_feed["sim"].now == START + timedelta(hours=1)


def test_device_ids_are_consistent_with_station_params(hour_feed):
    params = hour_feed["params"]
    assert list(params) == hour_feed["sim"].station_ids == [f"ST{i:04d}" for i in range(1, HOUR_STATIONS + 1)]
    assert (
        len({p["hostCode"] for p in params.values()}) == len({p["meterId"] for p in params.values()}) == HOUR_STATIONS
    )
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for items in hour_feed["by_topic"].values():
        for _, rows in items:
            for row in rows:
                if "stationId" not in row:
                    continue
                param = params[row["stationId"]]
                assert row.get("hostCode", param["hostCode"]) == param["hostCode"]
                assert row.get("hostId", param["hostCode"]) == param["hostCode"]
                assert row.get("meterId", param["meterId"]) == param["meterId"]
                if "gunNo" in row:
                    assert 1 <= row["gunNo"] <= param["gunNum"]
                for device in ("storageId", "pvId"):
                    if device in row:
                        owners[(device, row[device])].add(row["stationId"])
    assert owners and all(len(stations) == 1 for stations in owners.values())
    assert {d for d, _ in owners} == {"storageId", "pvId"}
    without_storage = set(params) - {next(iter(s)) for (d, _), s in owners.items() if d == "storageId"}
    assert without_storage, "some stations have no storage"


def test_calendar_is_global_and_covers_the_year(hour_feed):
    ((message, days),) = hour_feed["by_topic"][CALENDAR]
    assert message.key is None and message.station_id is None
    assert len(days) == 365 and days[0]["date"] == "2025-01-01" and days[-1]["date"] == "2025-12-31"
    by_date = {day["date"]: day for day in days}
    assert by_date["2025-11-01"]["dayOfWeek"] == 6 and by_date["2025-11-01"]["holiday"] == 1
    assert by_date["2025-10-01"]["holiday"] == 1 and by_date["2025-10-11"]["holiday"] == 0  # make-up workday


def test_prices_cover_24_hours_per_station(hour_feed):
    prices = hour_feed["by_topic"][CAR_PRICE]
    assert len(prices) == HOUR_STATIONS
    for _, fees in prices:
        assert fees[0]["startTime"] == "00:00:00" and fees[-1]["endTime"] == "24:00:00"
        assert all(a["endTime"] == b["startTime"] for a, b in pairwise(fees))
        assert {fee["periodType"] for fee in fees} == {1, 2, 3}
        by_type = {fee["periodType"]: fee["gridPrice"] for fee in fees}
        assert by_type[1] > by_type[2] > by_type[3]


def test_weather_covers_every_station_at_start(hour_feed):
    stations = [row["stationId"] for _, rows in hour_feed["by_topic"][WEATHER] for row in rows]
    assert sorted(stations) == hour_feed["sim"].station_ids


def test_car_orders_every_second_for_every_charging_gun(hour_feed):
    orders = [row for _, (row,) in hour_feed["by_topic"][CAR_ORDER]]
    sessions: dict[str, list[dict]] = defaultdict(list)
    for row in orders:
        sessions[row["transactionSerialNo"]].append(row)
    finished = 0
    for rows in sessions.values():
        times = [wall(row["sendTime"]) for row in rows]
        assert all(b - a == timedelta(seconds=1) for a, b in pairwise(times)), "a gap in a session"
        socs = [row["soc"] for row in rows]
        assert socs == sorted(socs) and rows[0]["soc"] >= rows[0]["beginSOC"]
        assert len({(r["stationId"], r["gunNo"], r["startChargeTime"], r["beginSOC"]) for r in rows}) == 1
        assert all(row["endChargeTime"] == "" for row in rows[:-1])
        if rows[-1]["endChargeTime"]:
            finished += 1
            assert rows[-1]["endChargeTime"] == rows[-1]["sendTime"] and rows[-1]["soc"] >= 80
        assert all(
            0 < row["outputPower"] <= row["terminalRequireVoltage"] * row["terminalMaxOutElectric"] / 999
            for row in rows
        )
    assert finished > 10 and len(sessions) > finished
    # Gun status and car orders agree: a gun reported charging has an order in that second.
    ordered = {(row["stationId"], row["gunNo"], row["sendTime"]) for row in orders}
    charging = [
        (row["stationId"], row["gunNo"], row["sendTime"])
        for _, (row,) in hour_feed["by_topic"][GUN]
        if row["status"] == 1
    ]
    assert charging and all(key in ordered for key in charging)


def test_gun_status_every_15_seconds(hour_feed):
    times: dict[tuple[str, int], list[datetime]] = defaultdict(list)
    for _, (row,) in hour_feed["by_topic"][GUN]:
        assert row["status"] in (0, 1, 2)
        times[(row["stationId"], row["gunNo"])].append(wall(row["sendTime"]))
    assert len(times) == sum(p["gunNum"] for p in hour_feed["params"].values())
    for stamps in times.values():
        assert len(stamps) == 240 and stamps[0] <= START + timedelta(seconds=15)
        assert all(b - a == timedelta(seconds=15) for a, b in pairwise(stamps))


@pytest.mark.parametrize("topic, period", [(METER, 300), (DCDC, 15), (ACDC, 15), (STORAGE, 15), (PV, 60)])
def test_periodic_devices_report_on_their_period(hour_feed, topic, period):
    counts = Counter(
        row.get("storageId") or row.get("pvId") or row["stationId"] for _, (row,) in hour_feed["by_topic"][topic]
    )
    assert counts and set(counts.values()) == {3600 // period}


def test_meters_every_5_minutes(hour_feed):
    times: dict[str, list[datetime]] = defaultdict(list)
    for _, (row,) in hour_feed["by_topic"][METER]:
        times[row["stationId"]].append(wall(row["sendTime"]))
        assert row["rmeterLimitPower"] > 0
    assert sorted(times) == hour_feed["sim"].station_ids
    assert all(b - a == timedelta(minutes=5) for stamps in times.values() for a, b in pairwise(stamps))


def test_host_power_matches_its_modules_and_pv_sleeps_at_night(hour_feed):
    for _, (row,) in hour_feed["by_topic"][DCDC]:
        assert len(row["dcWorkStatus"]) == len(row["dcdcPower"]) == hour_feed["params"][row["stationId"]]["powerNum"]
        assert all(p == 0 for s, p in zip(row["dcWorkStatus"], row["dcdcPower"], strict=True) if s != 1)
    assert all(row["pvPreDcPower"] == 0 for _, (row,) in hour_feed["by_topic"][PV])


def test_realtime_history_is_hourly_with_history_hours_rows(hour_feed):
    batches = defaultdict(list)
    for message, rows in hour_feed["by_topic"][REALTIME]:
        assert message.key is None and len({row["stationId"] for row in rows}) <= 8
        batches[message.timestamp_ms].extend(rows)
    assert len(batches) == 2  # at the start and at 01:00
    for stamp, rows in batches.items():
        per_station = defaultdict(list)
        for row in rows:
            per_station[row["stationId"]].append(wall(row["sendTime"]))
        assert sorted(per_station) == hour_feed["sim"].station_ids
        newest = datetime.fromtimestamp(stamp / 1000) - timedelta(hours=1)
        expected = [newest - timedelta(hours=k) for k in (2, 1, 0)]
        assert all(times == expected for times in per_station.values())
        for row in rows:
            power = row["gunPower"]
            gun_num = hour_feed["params"][row["stationId"]]["gunNum"]
            assert power["gunNo"] == list(range(1, gun_num + 1))
            assert all(
                mx >= avg >= 0
                for avg, mx in zip(power["outputPowerPerGunAvg"], power["outputPowerPerGunMax"], strict=True)
            )
            assert row["outputPowerPerStationAvg"] == pytest.approx(sum(power["outputPowerPerGunAvg"]), abs=0.011)
            assert row["outputPowerPerStationMax"] == pytest.approx(sum(power["outputPowerPerGunMax"]), abs=0.011)


def test_realtime_hour_after_start_is_measured_from_car_orders(hour_feed):
    energy: Counter = Counter()
    peak: dict[tuple[str, int], float] = defaultdict(float)
    for _, (row,) in hour_feed["by_topic"][CAR_ORDER]:
        if row["sendTime"] >= "2025-11-01 01:00:00":  # belongs to the next hour's row
            continue
        key = (row["stationId"], row["gunNo"])
        energy[key] += row["outputPower"]
        peak[key] = max(peak[key], row["outputPower"])
    last_batch = max(message.timestamp_ms for message, _ in hour_feed["by_topic"][REALTIME])
    rows = [
        row
        for message, rows in hour_feed["by_topic"][REALTIME]
        if message.timestamp_ms == last_batch
        for row in rows
        if row["sendTime"] == "2025-11-01 00:00:00"
    ]
    assert len(rows) == HOUR_STATIONS
    for row in rows:
        power = row["gunPower"]
        for no, avg, mx in zip(
            power["gunNo"], power["outputPowerPerGunAvg"], power["outputPowerPerGunMax"], strict=True
        ):
            assert avg == pytest.approx(energy[(row["stationId"], no)] / 3600, abs=0.02)
            assert mx == pytest.approx(peak[(row["stationId"], no)], abs=0.011)


def test_rates_match_a_measured_hour_within_20_percent(hour_feed):
    measured = Counter(message.topic for message in hour_feed["live"])
    minute_rates = [rates(HOUR_STATIONS, at=START + timedelta(minutes=m), realtime_chunk=8) for m in range(60)]
    expected = {topic: sum(r[topic] for r in minute_rates) * 60 for topic in TOPICS}
    assert set(rates(HOUR_STATIONS)) == set(TOPICS)
    checked = [topic for topic in TOPICS if expected[topic] >= 50]
    assert {GUN, CAR_ORDER, METER, DCDC, ACDC, STORAGE, PV} <= set(checked)
    for topic in checked:
        assert measured[topic] == pytest.approx(expected[topic], rel=0.2), topic
    assert measured[REALTIME] == round(expected[REALTIME])


def test_device_errors_are_rare_raise_then_clear_and_fault_guns():
    sim = StationSimulator(stations=10, seed=3, history_hours=0, topics=[DEVICE_ERROR, GUN])
    messages = [records(m)[0] | {"topic": m.topic} for m in sim.advance(6 * 3600)]
    errors = [row for row in messages if row["topic"] == DEVICE_ERROR]
    assert 3 <= len(errors) <= 60
    codes = ("hostError", "acError", "dcError", "terminalError", "storageError")
    by_station = defaultdict(list)
    for row in errors:
        by_station[row["stationId"]].append(sum(row[c] != 0 for c in codes))
    assert all(flags[::2] == [1] * len(flags[::2]) and not any(flags[1::2]) for flags in by_station.values())
    # A gun reports fault (2) only while its station has a terminal error.
    terminal_error: dict[str, int] = defaultdict(int)
    faulted = 0
    for row in messages:
        if row["topic"] == DEVICE_ERROR:
            terminal_error[row["stationId"]] = row["terminalError"]
        elif row["status"] == 2:
            faulted += 1
            assert terminal_error[row["stationId"]] != 0
    assert faulted > 0


def test_same_seed_same_bytes_different_seed_different_bytes():
    def feed(seed: int) -> list[tuple]:
        sim = StationSimulator(stations=3, seed=seed, history_hours=2)
        return [(m.topic, m.key, m.value, m.timestamp_ms) for m in sim.run(120)]

    first = feed(11)
    assert first == feed(11)
    assert first != feed(12)


def test_topics_restrict_output_without_changing_it():
    full = StationSimulator(stations=4, seed=5, history_hours=1).run(90)
    only = StationSimulator(stations=4, seed=5, history_hours=1, topics=[GUN, CAR_PRICE]).run(90)
    assert [m for m in full if m.topic in (GUN, CAR_PRICE)] == list(only)


def test_fractional_advance_and_run_duration():
    sim = StationSimulator(stations=2, seed=1, history_hours=0)
    assert sim.advance(0.5) == [] and sim.now == START + timedelta(seconds=0.5)
    assert sim.advance(0.5) and sim.now == START + timedelta(seconds=1)
    stamps = {m.timestamp_ms for m in StationSimulator(stations=2, history_hours=0).run(10, step=2.5)}
    assert max(stamps) - min(stamps) == 10_000


def test_pv_produces_in_daylight():
    sim = StationSimulator(stations=3, seed=2, start=datetime(2025, 6, 1, 12, 0), history_hours=0, topics=[PV])
    rows = [records(m)[0] for m in sim.advance(60)]
    assert rows and all(row["pvPreDcPower"] > 0 for row in rows)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError):
        StationSimulator(topics=["NOT-A-TOPIC"])
    with pytest.raises(ValueError):
        FaultConfig(rate=1.5)
    with pytest.raises(ValueError):
        FaultConfig(rate=0.1, kinds=("gremlins",))


@pytest.fixture(scope="module")
def faulty_feed() -> dict:
    config = FaultConfig(rate=0.1, huge_array_len=1000)
    sim = StationSimulator(stations=8, seed=4, history_hours=2, realtime_chunk=1, faults=config)
    messages = list(sim.run(900))
    params = {row["stationId"] for m in messages if m.topic == PARAM for row in orjson.loads(m.value)}
    return {"messages": messages, "params": params, "config": config}


def _has(value, predicate) -> bool:
    if predicate(value):
        return True
    if isinstance(value, dict):
        return any(_has(v, predicate) for v in value.values())
    if isinstance(value, list):
        return any(_has(v, predicate) for v in value[:20])
    return False


def _send_time(message: SimMessage) -> str:
    """sendTime of a message, "" when it does not decode to an object that has one."""
    try:
        value = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return ""
    return value.get("sendTime", "") if isinstance(value, dict) else ""


def _exhibits(kind: str, message: SimMessage, earlier: list[SimMessage], params: set[str]) -> bool:
    """Whether a message labelled `kind` really shows that fault."""
    if kind == "malformed_json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(message.value)
        return True
    if kind == "nan_value":
        return any(token in message.value for token in (b"NaN", b"Infinity")) and json.loads(message.value) is not None
    value = orjson.loads(message.value)
    envelope = WIRE[message.topic][0]
    items = value if isinstance(value, list) else value.get(envelope, [value])
    checks = {
        "wrong_shape": lambda: (
            (isinstance(value, list) and not isinstance(value[0], dict))
            or (envelope is not None and envelope not in value)
        ),
        "missing_id": lambda: all("stationId" not in row and "hostCode" not in row for row in items),
        "unknown_station": lambda: all(row["stationId"] not in params for row in items),
        "wrong_type": lambda: _has(value, lambda v: v == "abc"),
        "huge_array": lambda: _has(value, lambda v: isinstance(v, list) and len(v) >= 1000),
        "late": lambda: all(
            datetime.fromtimestamp(message.timestamp_ms / 1000) - wall(row["sendTime"]) >= timedelta(hours=2)
            for row in items
        ),
        "out_of_order": lambda: any(
            m.station_id == message.station_id and m.topic == message.topic and _send_time(m) > value["sendTime"]
            for m in earlier[-500:]
        ),
        "duplicate": lambda: any(m.value == message.value for m in earlier[-500:]),
    }
    return checks[kind]()


def test_each_fault_kind_is_produced_labelled_and_real(faulty_feed):
    messages = faulty_feed["messages"]
    kinds = Counter(m.fault for m in messages if m.fault)
    assert set(kinds) == set(FAULT_KINDS) and all(n >= 5 for n in kinds.values())
    assert 0.05 < sum(kinds.values()) / len(messages) < 0.15
    drained = len(messages)  # run() ends by releasing what out_of_order still holds, with nothing newer to follow
    while messages[drained - 1].fault == "out_of_order":
        drained -= 1
    for index, message in enumerate(messages[:drained]):
        if message.fault:
            assert _exhibits(message.fault, message, messages[:index], faulty_feed["params"]), message


def test_clean_messages_stay_valid_when_faults_are_on(faulty_feed):
    clean = [m for m in faulty_feed["messages"] if m.fault is None]
    for message in clean:
        for row in records(message):
            assert row.get("stationId", "ST0001") in faulty_feed["params"]
    reference = StationSimulator(stations=8, seed=4, history_hours=2, realtime_chunk=1)
    reference_values = {m.value for m in reference.run(900)}
    assert {m.value for m in clean} <= reference_values


def test_faults_spare_the_reference_topics(faulty_feed):
    assert all(m.fault is None for m in faulty_feed["messages"] if m.topic in (PARAM, CALENDAR))


def test_fault_kinds_can_be_restricted():
    sim = StationSimulator(stations=3, seed=1, history_hours=0, faults=FaultConfig(rate=0.5, kinds=("late",)))
    messages = list(sim.run(60))
    assert {m.fault for m in messages} == {None, "late"}
    assert all(m.fault is None for m in messages if m.topic == PV)  # PV has no sendTime to delay
