"""Compact column storage: values come back with their types, memory follows content."""

from __future__ import annotations

import copy
import gc
import tracemalloc

import numpy as np
import pytest

from d_a.config import load_config
from d_a.windows import WindowSpec, make_window
from d_a.windows.pending import DEFERRED_PENDING_ROWS, KEPT_ROWS, PENDING_ROWS, PendingEncoder

CAR_ORDER_FIELDS = tuple(load_config().topics["SCHEDULE-CAR-ORDER"].fields)


BATCHINGS = pytest.mark.parametrize("chunk", [None, 1, 3], ids=["one batch", "add", "batches of 3"])


def roundtrip(records: list[dict], fields: tuple[str, ...] = (), chunk: int | None = None) -> list[dict]:
    """The records after a trip through an append window, added in batches of `chunk` (None: one batch)."""
    window = make_window(WindowSpec("append", 10_000, fields))
    step = chunk or max(1, len(records))
    for lo in range(0, len(records), step):
        part = records[lo : lo + step]
        if step == 1:
            window.add(part[0], float(lo))
        else:
            window.add_many(part, [float(lo + i) for i in range(len(part))])
    return window.records()


@BATCHINGS
def test_every_json_type_comes_back_with_its_type(chunk, strictly_equal):
    records = [
        {
            "stationId": "ST-0001",
            "hostCode": "H-01",
            "dcWorkStatus": [1, 1, 0, 2],
            "dcdcPower": [20.5, 20.5, 0.0, 0.0],
            "online": True,
            "alarm": None,
            "limits": {"max": 250, "min": 0.5},
            "count": 3,
            "ratio": 0.25,
            "sendTime": "2024-05-01 08:00:00",
        },
        {
            "stationId": "ST-0001",
            "hostCode": "H-02",
            "dcWorkStatus": [],
            "dcdcPower": [],
            "online": False,
            "alarm": None,
            "limits": {},
            "count": -7,
            "ratio": 1e-9,
            "sendTime": "2024-05-01 08:00:15",
        },
    ]
    assert strictly_equal(roundtrip(records, ("hostCode", "dcWorkStatus", "dcdcPower"), chunk), records)


@BATCHINGS
def test_ints_among_floats_stay_ints(chunk, car_order, strictly_equal):
    records = [car_order(i, outputPower=power) for i, power in enumerate([0, 12.5, 30, 0.0, 7])]
    back = roundtrip(records, CAR_ORDER_FIELDS, chunk)
    assert strictly_equal(back, records)
    assert [type(r["outputPower"]) for r in back] == [int, float, int, float, int]


@BATCHINGS
def test_a_column_mixing_incompatible_types_stays_lossless(chunk, strictly_equal):
    values = [1, 2, "A1", 2.5, True, None, [1], 2**70, "A1", 0]
    records = [{"gunNo": value} for value in values]
    assert strictly_equal(roundtrip(records, ("gunNo",), chunk), records)


@BATCHINGS
def test_integers_beyond_int64_and_floats_beyond_2_53_are_exact(chunk, strictly_equal):
    records = [{"serial": 1}, {"serial": 2**63}, {"serial": -(2**64) - 1}, {"big": 2**53 + 1}, {"big": 0.5}]
    assert strictly_equal(roundtrip(records, chunk=chunk), records)


def test_a_missing_key_stays_missing_and_none_stays_none(car_order, strictly_equal):
    charging = car_order(0)
    del charging["endChargeTime"]
    finished = car_order(1, endChargeTime=None)
    back = roundtrip([charging, finished], CAR_ORDER_FIELDS)
    assert "endChargeTime" not in back[0]
    assert back[1]["endChargeTime"] is None
    assert strictly_equal(back, [charging, finished])


def test_keys_outside_fields_are_kept(meter, strictly_equal):
    records = [meter(i, extra_note="calibrated") if i == 2 else meter(i) for i in range(4)]
    assert strictly_equal(roundtrip(records, ("meterPower",)), records)


def test_strings_survive_every_storage_form(strictly_equal):
    texts = [f"2024-05-01 08:{i // 60:02d}:{i % 60:02d}" for i in range(600)]
    texts += ["站点A", "", "tail\x00", "x" * 200, "2024-05-01 09:00:00"]
    records = [{"sendTime": text} for text in texts]
    assert strictly_equal(roundtrip(records), records)
    assert strictly_equal(roundtrip(records, chunk=1), records)
    assert strictly_equal(roundtrip(records, chunk=100), records)


def test_many_distinct_columns_beyond_the_column_limit_are_kept(strictly_equal):
    records = [{f"gun{i}_{j}": i * j for j in range(40)} for i in range(3)]
    assert strictly_equal(roundtrip(records), records)


def test_numpy_columns_are_float64_for_numbers_and_objects_otherwise(car_order):
    window = make_window(WindowSpec("append", 100, CAR_ORDER_FIELDS))
    window.add_many([car_order(0, soc=50), car_order(1, soc=50.5), car_order(2, soc=None)], [0, 1, 2])
    soc = window.column("soc", fmt="numpy")
    assert soc.dtype == np.float64
    assert soc[:2].tolist() == [50.0, 50.5] and np.isnan(soc[2])
    hosts = window.column("hostCode", fmt="numpy")
    assert hosts.dtype == object and hosts.tolist() == ["H-01"] * 3
    assert window.column("gunNo", fmt="numpy").dtype == np.float64
    assert window.column("notAField") == [None, None, None]


def test_a_large_window_costs_memory_for_what_it_holds_not_its_size(car_order):
    window = make_window(WindowSpec("per_second", 604_800, CAR_ORDER_FIELDS, interval_seconds=1))
    window.add_many([car_order(i) for i in range(10)], [float(i) for i in range(10)])
    assert window.nbytes < 20_000


def test_a_window_whose_rows_wait_as_records_holds_no_columns(car_order, t0):
    """A station has a dozen windows, most of them small (parameters, prices, a device's latest
    report) and never encoded: they must not cost a column object per field."""
    record = car_order(t0)
    tracemalloc.start()
    windows = [make_window(WindowSpec("latest", 1, CAR_ORDER_FIELDS)) for _ in range(1_000)]
    for window in windows:
        window.add(record, t0)
        assert window.column("soc") == [record["soc"]]
    held = tracemalloc.get_traced_memory()[0] / len(windows)
    tracemalloc.stop()
    assert held < 1_500  # bytes per window; a column object per field cost about 4,000


def test_car_orders_cost_under_a_hundred_bytes_each(car_order, t0):
    window = make_window(WindowSpec("append", 604_800, CAR_ORDER_FIELDS, interval_seconds=1))
    count = 1 << 15  # buffers double up to here, so this fills them exactly
    for start in range(0, count, 512):
        times = [t0 + i for i in range(start, start + 512)]
        window.add_many([car_order(ts, gun=1 + int(ts) % 4) for ts in times], times)
    assert len(window) == count
    assert window.nbytes / count < 100
    assert window.records()[-1] == car_order(t0 + count - 1, gun=1 + int(t0 + count - 1) % 4)


def test_strings_that_left_the_window_do_not_accumulate(car_order, strictly_equal):
    window = make_window(WindowSpec("append", 2_000, CAR_ORDER_FIELDS))
    sizes = []
    for start in range(0, 60_000, 500):
        times = [float(i) for i in range(start, start + 500)]
        window.add_many([car_order(ts, transactionSerialNo=f"TX-{int(ts) // 50}") for ts in times], times)
        sizes.append(window.nbytes)
    assert sizes[-1] <= sizes[len(sizes) // 2] * 1.1
    newest = [car_order(float(i), transactionSerialNo=f"TX-{i // 50}") for i in range(58_000, 60_000)]
    assert strictly_equal(window.records(), newest)


@pytest.mark.parametrize("size", [50, PENDING_ROWS + 50])
def test_records_read_before_and_after_they_are_encoded_are_the_same(t0, car_order, strictly_equal, size):
    """The newest rows wait as records until PENDING_ROWS of them are encoded at once (all but the
    newest KEPT_ROWS); no read may tell, whether it reads the waiting rows, the encoded ones or both."""
    window = make_window(WindowSpec("append", size, CAR_ORDER_FIELDS))
    added = []
    for second in range(3 * PENDING_ROWS):  # past the window's rows: the oldest are evicted as it goes
        record = car_order(t0 + second, gun=second % 3, soc=None if second % 7 == 0 else 30.5 + second)
        added.append(record)
        window.add_pending([record], [t0 + second])
        assert strictly_equal(window.latest(), record)
        for count in (2, KEPT_ROWS + 3):
            assert strictly_equal(
                window.tail_columns(["soc", "gunNo"], count),
                {"soc": [r.get("soc") for r in added[-count:]], "gunNo": [r["gunNo"] for r in added[-count:]]},
            )
        assert strictly_equal(window.oldest(1), added[-size:][:1])
        assert strictly_equal(window.column("soc"), [r["soc"] for r in added[-size:]])  # encoded and waiting rows
    assert strictly_equal(window.records(), added[-size:])


def test_with_a_compactor_rows_wait_for_it_and_read_the_same_before_and_after(t0, car_order, strictly_equal):
    """A service encodes the waiting rows when it is idle: the store only notes it is due, and
    no read may tell whether the encoder has run."""
    encoder = PendingEncoder()
    window = make_window(WindowSpec("per_second", 1_000, CAR_ORDER_FIELDS), encoder)
    added = []
    for second in range(PENDING_ROWS // 2):  # two guns a second: PENDING_ROWS rows
        records = [car_order(t0 + second, gun=gun, soc=None if second % 7 == 0 else 30.5 + second) for gun in (1, 2)]
        added += records
        window.add_pending(records, [t0 + second] * 2)
        window.store_pending()  # as a live run reads it: rows come a few at a time
    before = (window.records(), window.column("soc"), window.completed_second(), window.tail_columns(["soc"], 5))
    assert len(encoder) == 1
    assert window._store.pending_rows == PENDING_ROWS  # not encoded: left to the encoder
    assert encoder.encode_one() and not encoder.encode_one()
    assert window._store.pending_rows == KEPT_ROWS
    after = (window.records(), window.column("soc"), window.completed_second(), window.tail_columns(["soc"], 5))
    assert strictly_equal(after, before)
    assert strictly_equal(window.records(), added)


def test_a_store_whose_compactor_never_runs_encodes_its_rows_itself(t0, car_order, strictly_equal):
    """Memory stays bounded when the owner is never idle: from DEFERRED_PENDING_ROWS on, the
    store encodes as it would without a encoder."""
    encoder = PendingEncoder()
    window = make_window(WindowSpec("append", 10_000, CAR_ORDER_FIELDS), encoder)
    added = [car_order(t0 + i) for i in range(3 * DEFERRED_PENDING_ROWS)]
    for i, record in enumerate(added):
        window.add_pending([record], [t0 + i])
        window.store_pending()
        assert window._store.pending_rows < DEFERRED_PENDING_ROWS
    assert len(encoder) == 1  # due all along; compacting it now has less left to do
    assert strictly_equal(window.records(), added)


def test_changes_since_tells_appends_from_other_changes(t0, meter):
    window = make_window(WindowSpec("append", 4, ("meterPower",)))
    window.add_many([meter(t0), meter(t0 + 300)], [t0, t0 + 300])
    mark = window.mark()
    window.add_many([meter(t0 + 600), meter(t0 + 900), meter(t0 + 1200)], [t0 + 600, t0 + 900, t0 + 1200])
    assert window.changes_since(mark) == (1, 3)  # one evicted at the front, three appended
    mark = window.mark()
    window.add(meter(t0 + 450, power=1.0), t0 + 450)  # late: placed among the others
    assert window.changes_since(mark) is None
    mark = window.mark()
    window.replace([meter(t0)], [t0])
    assert window.changes_since(mark) is None


def test_a_full_window_slides_with_at_most_an_eighth_of_its_rows_as_room(car_order, t0):
    window = make_window(WindowSpec("append", 4_096, CAR_ORDER_FIELDS, interval_seconds=1))
    times = [t0 + i for i in range(4_096)]
    window.add_many([car_order(ts) for ts in times], times)
    full = window.nbytes
    for start in range(4_096, 3 * 4_096, 64):  # two windows' worth of seconds slide through
        times = [t0 + i for i in range(start, start + 64)]
        window.add_many([car_order(ts) for ts in times], times)
        assert window.nbytes <= full * 1.126
    assert window.times()[0] == t0 + 2 * 4_096


def test_a_view_of_a_number_column_is_not_a_copy_and_ignores_what_comes_later(car_order, t0):
    window = make_window(WindowSpec("append", 100, CAR_ORDER_FIELDS, interval_seconds=1))
    for start, count in ((0, 100), (100, 10)):  # the ten slide the window: its buffers now have room
        window.add_many(
            [car_order(t0 + i) for i in range(start, start + count)], [t0 + i for i in range(start, start + count)]
        )
    view = window.number_view("outputPower")
    assert np.shares_memory(view, window.column("outputPower", fmt="numpy"))
    before = view.copy()
    late = car_order(t0 + 50.5, outputPower=-1.0)
    window.add_many([late, car_order(t0 + 110)], [t0 + 50.5, t0 + 110])
    assert np.array_equal(view, before)
    assert window.column("outputPower", fmt="numpy").tolist().count(-1.0) == 1
    window.add(car_order(t0 + 111, outputPower=None), t0 + 111)
    assert window.number_view("outputPower") is None  # a row without a value: NaN needs a copy
    assert np.isnan(window.column("outputPower", fmt="numpy")[-1])


MIXED_VALUES = {
    "floats": [60.5, 61.25, 0.0, -3.5],
    "ints": [1, 2, 300, -7],
    "ints among floats": [60.5, 61, 62.25, 63],
    "beyond int64": [1, 2**64, 3, 4],
    "int beyond 2**53 among floats": [0.5, 2**53 + 1, 1.5, 2.5],
    "bools": [True, False, True, True],
    "strings": ["BYD", "GEELY", "BYD", ""],
    "text among numbers": [1.5, "n/a", 2.5, 3],
    "none and missing": [None, 60.5, ..., 61],  # ...: the record has no such key
    "nothing": [None, ..., None, None],
    "lists": [[1, 2], [3], [], [4, 5.5]],
    "text lists": [["01", "02"], ["01", "02"], ["01"], []],
    "lists of everything": [[1.5, "x"], [True], None, [2**53 + 1]],
}


@pytest.mark.parametrize("values", MIXED_VALUES.values(), ids=MIXED_VALUES.keys())
def test_a_window_read_before_any_row_is_encoded_reads_as_after(t0, values, strictly_equal):
    """Until PENDING_ROWS records wait, a window is read from its records (no column encoded yet):
    lists, numpy arrays, tails and pivots must be those of the same rows once encoded."""
    spec = WindowSpec("append", 100, ("gunNo", "v"), interval_seconds=1)
    records = [{"gunNo": i % 2, **({} if v is ... else {"v": v})} for i, v in enumerate(values)]
    times = [t0 + i // 2 for i in range(len(records))]

    def window(encoded: bool):
        made = make_window(spec)
        made.add_many(records, times)
        if encoded:
            made.number_view("v")  # a view of the buffers: writes the rows to the columns
        return made

    reads = {
        "list": lambda w: w.column("v"),
        "numpy": lambda w: w.column("v", fmt="numpy"),
        "padded": lambda w: w.column("v", padding="forward", fmt="numpy"),
        "tail": lambda w: w.tail_arrays(["v"], 3)["v"],
        "pivot": lambda w: w.pivot("gunNo", "v"),
        "numpy pivot": lambda w: w.pivot("gunNo", "v", fmt="numpy")[1],
        "records": lambda w: w.records(),
    }
    for name, read in reads.items():
        before, after = read(window(encoded=False)), read(window(encoded=True))
        if isinstance(before, np.ndarray):
            assert before.dtype == after.dtype, name
            before, after = before.tolist(), after.tolist()
        assert strictly_equal(before, after), name


def realtime_row(hour: int, guns: list, averages: list, maxima: list | None = None) -> dict:
    """A SCHEDULE-STATION-REALTIME-DATA row as the parser keeps it (the per-gun lists lifted)."""
    return {
        "stationId": "ST-0001",
        "hostCode": "H-01",
        "gunNo": guns,
        "outputPowerPerGunAvg": averages,
        "outputPowerPerGunMax": averages if maxima is None else maxima,
        "outputPowerPerStationAvg": 131.2,
        "sendTime": f"2024-05-0{1 + hour // 24} {hour % 24:02d}:00:00",
    }


REALTIME_FIELDS = ("gunNo", "outputPowerPerGunAvg", "outputPowerPerGunMax", "outputPowerPerStationAvg")


@BATCHINGS
def test_per_gun_lists_come_back_equal_with_their_element_types(chunk, strictly_equal):
    rows = [
        realtime_row(0, ["01", "02", "03", "04"], [30.1, 2.7, 88.4, 10.0]),
        realtime_row(1, ["01", "02", "03", "04"], [0, 2.7, 88, 10.5]),  # an idle gun reports 0
        realtime_row(2, ["01", "02"], [1.5, -0.0]),  # fewer guns: shorter lists
        realtime_row(3, ["01", "02", "03", "04", "05"], [1.0, 2.0, 3.0, 4.0, 5.25]),  # then more
        realtime_row(4, [], []),
        realtime_row(5, ["01", "02", "03", "04"], [2**53 + 1, 1.5, 0.5, 0.25]),  # an int a float cannot hold
        realtime_row(6, ["01", "02", "03", "04"], [True, 1.0, 2.0, 3.0]),  # a bool is no number
        realtime_row(7, [1, 2, 3, 4], [None, 1.0, 2.0, 3.0]),  # gun numbers as ints, a None reading
        realtime_row(8, ["01", 2], [[1.0], {"kW": 2.0}]),  # anything else
    ]
    for count in range(1, len(rows) + 1):
        assert strictly_equal(roundtrip(rows[:count], REALTIME_FIELDS, chunk), rows[:count])


def test_a_list_read_from_a_window_is_a_new_list_each_time(strictly_equal):
    rows = [realtime_row(h, ["01", "02"], [1.5, 2.5]) for h in range(PENDING_ROWS + 20)]
    window = make_window(WindowSpec("append", 1_000, REALTIME_FIELDS))
    expected = copy.deepcopy(rows)
    window.add_many(rows, [float(h) for h in range(len(rows))])
    window.number_view("outputPowerPerStationAvg")  # writes the waiting rows to the columns
    window.records()[0]["gunNo"].append("99")
    window.column("outputPowerPerGunAvg")[0][0] = -1.0
    assert strictly_equal(window.records(), expected)


def test_mostly_distinct_text_lists_and_slides_keep_every_list(strictly_equal):
    window = make_window(WindowSpec("append", 300, REALTIME_FIELDS))
    added = []
    for start in range(0, 3_000, 100):  # codes compacted, buffers moved, then kept as objects
        rows = [realtime_row(h % 168, [f"G{h}", f"G{h + 1}"], [h / 4, h / 8]) for h in range(start, start + 100)]
        window.add_many(rows, [float(h) for h in range(start, start + 100)])
        added += rows
        assert strictly_equal(window.records(), added[-300:])


def test_a_week_of_per_gun_history_costs_bytes_per_number_not_objects():
    """1,000 stations keep 168 hourly rows each: as Python lists the per-gun values cost ~40
    bytes a number and ~50 a gun number; stored, a row's four guns cost about 70 bytes."""
    window = make_window(WindowSpec("replace", 168, REALTIME_FIELDS, interval_seconds=3600))
    guns = ["01", "02", "03", "04"]
    tracemalloc.start()
    rows = [
        realtime_row(h, guns, [h + 0.1, h + 0.2, h + 0.3, h + 0.4], [h + 1.5, h + 2.5, h + 3.5, h + 4.5])
        for h in range(168)
    ]
    window.replace(rows, [3600.0 * h for h in range(168)])
    window.number_view("outputPowerPerStationAvg")  # writes the waiting rows to the columns
    del rows
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held / 168 < 350  # bytes per row, the newest KEPT_ROWS still as records; lists kept as objects cost 540
