"""BatchResultAggregator: one upload per REALTIME-DATA batch, each handed over exactly once."""

from __future__ import annotations

import random
import threading

import pytest

from d_a.service.batching import BatchCollector, BatchResultAggregator, batch_id_for

B1 = "SCHEDULE-STATION-REALTIME-DATA_1699999200"
B2 = "SCHEDULE-STATION-REALTIME-DATA_1700002800"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def agg(clock: FakeClock) -> BatchResultAggregator:
    return BatchResultAggregator(batch_timeout=5.0, cleanup_interval=1.0, clock=clock)


def run_station(agg: BatchResultAggregator, station: str, result: object) -> list[BatchCollector]:
    """What the service does around one callback run: ask, compute, report to each pending batch."""
    return [c for batch_id in agg.pending_for(station) if (c := agg.report(batch_id, station, result)) is not None]


# --- the seeds' document-002 example -------------------------------------------------------


def test_doc_002_example_one_upload_with_a_and_c_and_b_left_out(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A", "B", "C"])

    assert agg.report(B1, "A", {"result": 123, "prediction": [1, 2, 3], "confidence": 0.95}) is None
    assert agg.report(B1, "B", None) is None
    done = agg.report(B1, "C", {"result": 789, "prediction": [7, 8, 9], "confidence": 0.88})

    assert done is not None and done.batch_id == B1
    assert done.results_list() == [
        {"station_id": "A", "result": 123, "prediction": [1, 2, 3], "confidence": 0.95},
        {"station_id": "C", "result": 789, "prediction": [7, 8, 9], "confidence": 0.88},
    ]
    assert done.reported() == {"A", "B", "C"}
    assert done.missing_stations() == []
    assert not done.timed_out
    assert (agg.open_batches, agg.completed, agg.timed_out) == (0, 1, 0)


def test_station_that_raised_is_left_out_and_the_batch_still_completes(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A", "B"])
    assert agg.report_failure(B1, "B") is None
    done = agg.report(B1, "A", {"v": 1})

    assert done is not None
    assert done.results_list() == [{"station_id": "A", "v": 1}]
    assert done.failed == {"B"}
    assert done.is_complete() and not done.timed_out


def test_station_that_never_reports_is_handed_over_after_the_timeout(
    agg: BatchResultAggregator, clock: FakeClock
) -> None:
    agg.open_batch(B1, ["A", "B", "C"])
    agg.report(B1, "A", {"v": 1})
    agg.report(B1, "B", {"v": 2})

    clock.advance(4.9)
    assert agg.cleanup_expired() == []
    clock.advance(0.1)
    [expired] = agg.cleanup_expired()

    assert expired.batch_id == B1 and expired.timed_out
    assert expired.missing_stations() == ["C"]
    assert [r["station_id"] for r in expired.results_list()] == ["A", "B"]
    assert (agg.open_batches, agg.completed, agg.timed_out) == (0, 0, 1)
    assert agg.cleanup_expired(clock.now + 60) == []  # handed over once only
    assert agg.pending_for("C") == []


# --- results go to the batches they were computed for ----------------------------------------


def test_one_callback_run_while_two_batches_are_pending_completes_both(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A", "B"])
    agg.open_batch(B2, ["A", "B"])
    assert agg.pending_for("A") == [B1, B2]

    done = run_station(agg, "A", {"v": "a"}) + run_station(agg, "B", {"v": "b"})

    assert [c.batch_id for c in done] == [B1, B2]
    for collector in done:
        assert collector.results_list() == [{"station_id": "A", "v": "a"}, {"station_id": "B", "v": "b"}]
    assert agg.open_batches == 0


def test_an_earlier_batch_never_expires_empty_because_a_later_one_exists(
    agg: BatchResultAggregator, clock: FakeClock
) -> None:
    agg.open_batch(B1, ["A"])
    pending = agg.pending_for("A")  # the callback starts for B1's data...
    clock.advance(1.0)
    agg.open_batch(B2, ["A"])  # ...and the next message arrives while it runs

    [done] = [c for batch_id in pending if (c := agg.report(batch_id, "A", {"v": 1})) is not None]

    assert done.batch_id == B1 and done.results_list() == [{"station_id": "A", "v": 1}]
    assert agg.pending_for("A") == [B2]  # the newer batch waits for a run that saw its data
    clock.advance(10.0)
    [expired] = agg.cleanup_expired()
    assert expired.batch_id == B2 and expired.missing_stations() == ["A"]


def test_reports_for_closed_or_unknown_batches_are_ignored_and_counted(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A"])
    assert agg.report(B1, "A", {"v": 1}) is not None

    assert agg.report(B1, "A", {"v": 2}) is None  # closed
    assert agg.report("SCHEDULE-STATION-REALTIME-DATA_1", "A", {"v": 3}) is None  # never opened
    assert agg.report_failure(B1, "A") is None
    assert agg.late_reports == 3
    assert (agg.open_batches, agg.completed) == (0, 1)


def test_repeated_or_unexpected_reports_do_not_change_an_open_batch(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A", "B"])
    agg.report(B1, "A", {"v": "first"})

    assert agg.report(B1, "A", {"v": "second"}) is None
    assert agg.report(B1, "Z", {"v": "stranger"}) is None
    done = agg.report(B1, "B", {"v": "b"})

    assert done is not None
    assert done.results_list() == [{"station_id": "A", "v": "first"}, {"station_id": "B", "v": "b"}]
    assert agg.late_reports == 2


# --- timing --------------------------------------------------------------------------------


def test_changing_batch_timeout_at_run_time_affects_open_batches(agg: BatchResultAggregator, clock: FakeClock) -> None:
    agg.open_batch(B1, ["A"])
    clock.advance(2.0)
    agg.open_batch(B2, ["A"])

    agg.batch_timeout = 10.0
    clock.advance(4.0)  # B1 is 6 s old: past the old timeout, not the new one
    assert agg.cleanup_expired() == []

    agg.batch_timeout = 1.5  # B1 is 6 s old, B2 4 s: both past
    assert [c.batch_id for c in agg.cleanup_expired()] == [B1, B2]


def test_invalid_timeouts_are_refused(agg: BatchResultAggregator) -> None:
    for bad in (-1.0, float("nan"), float("inf"), "5", True):
        with pytest.raises(ValueError, match="batch_timeout"):
            agg.batch_timeout = bad  # type: ignore[assignment]
    with pytest.raises(ValueError, match="cleanup_interval"):
        BatchResultAggregator(cleanup_interval=-0.5)
    assert agg.batch_timeout == 5.0


def test_cleanup_is_due_every_cleanup_interval(agg: BatchResultAggregator, clock: FakeClock) -> None:
    assert not agg.due_for_cleanup()
    clock.advance(1.0)
    assert agg.due_for_cleanup()
    agg.cleanup_expired()
    assert not agg.due_for_cleanup()
    agg.cleanup_interval = 0.25
    assert agg.due_for_cleanup(clock.now + 0.25)


def test_opening_the_same_batch_again_merges_stations_and_keeps_the_timer(
    agg: BatchResultAggregator, clock: FakeClock
) -> None:
    agg.open_batch(B1, ["A", "B"])
    clock.advance(3.0)
    collector = agg.open_batch(B1, ["B", "C"])

    assert collector.expected_stations == {"A", "B", "C"}
    assert agg.pending_for("C") == [B1]
    clock.advance(2.0)  # 5 s after the first opening
    assert agg.cleanup_expired() == [collector]
    assert collector.missing_stations() == ["A", "B", "C"]


def test_a_replayed_message_reopens_its_closed_batch(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A"])
    first = run_station(agg, "A", {"v": 1})
    agg.open_batch(B1, ["A"])  # the same message delivered again (at-least-once)
    second = run_station(agg, "A", {"v": 2})

    assert [c.results_list() for c in first + second] == [
        [{"station_id": "A", "v": 1}],
        [{"station_id": "A", "v": 2}],
    ]
    assert agg.late_reports == 0


def test_a_batch_with_no_stations_is_handed_over_at_the_next_cleanup(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, [])
    [done] = agg.cleanup_expired()
    assert done.batch_id == B1 and not done.timed_out and done.results_list() == []
    assert agg.completed == 1


# --- results_list --------------------------------------------------------------------------


def test_results_list_is_in_station_order_with_the_real_station_id(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["S3", "S1", "S2"])
    own = {"station_id": "somebody else", "load": 5}
    agg.report(B1, "S3", {"load": 3})
    agg.report(B1, "S1", {"load": 1})
    done = agg.report(B1, "S2", own)

    assert done is not None
    rows = done.results_list()
    assert [r["station_id"] for r in rows] == ["S1", "S2", "S3"]
    assert rows[1] == {"station_id": "S2", "load": 5}
    assert all(next(iter(r)) == "station_id" for r in rows)  # station_id comes first in the payload
    assert own == {"station_id": "somebody else", "load": 5}  # the callback's dict is not modified


def test_non_dict_results_are_wrapped_and_falsy_ones_kept(agg: BatchResultAggregator) -> None:
    agg.open_batch(B1, ["A", "B", "C", "D"])
    agg.report(B1, "A", 42)
    agg.report(B1, "B", [1.5, 2.5])
    agg.report(B1, "C", 0)
    done = agg.report(B1, "D", "")

    assert done is not None
    assert done.results_list() == [
        {"station_id": "A", "output": 42},
        {"station_id": "B", "output": [1.5, 2.5]},
        {"station_id": "C", "output": 0},
        {"station_id": "D", "output": ""},
    ]


# --- stop ------------------------------------------------------------------------------------


def test_drain_on_stop_hands_over_every_open_batch_once(agg: BatchResultAggregator, clock: FakeClock) -> None:
    agg.open_batch(B1, ["A", "B"])
    clock.advance(1.0)
    agg.open_batch(B2, ["A"])
    agg.report(B1, "A", {"v": 1})

    drained = agg.drain()

    assert [c.batch_id for c in drained] == [B1, B2]
    assert drained[0].results_list() == [{"station_id": "A", "v": 1}]
    assert drained[0].missing_stations() == ["B"]
    assert not any(c.timed_out for c in drained)
    assert (agg.open_batches, agg.drained) == (0, 2)
    assert agg.drain() == [] and agg.cleanup_expired(clock.now + 60) == []
    assert agg.pending_for("A") == [] and agg.report(B2, "A", {"v": 2}) is None


# --- concurrency and scale --------------------------------------------------------------------


def _run_workers(agg: BatchResultAggregator, stations: list[str], threads: int, extra=None) -> list[BatchCollector]:
    """`threads` workers each run every station of their shard (twice, as updates arrive)."""
    handed: list[BatchCollector] = []
    handed_lock = threading.Lock()
    barrier = threading.Barrier(threads + (extra is not None))

    def worker(shard: list[str]) -> None:
        barrier.wait()
        for _ in range(2):
            for station in shard:
                done = run_station(agg, station, {"v": station})
                with handed_lock:
                    handed.extend(done)

    def side() -> None:
        barrier.wait()
        done = extra()
        with handed_lock:
            handed.extend(done)

    pool = [threading.Thread(target=worker, args=(stations[i::threads],)) for i in range(threads)]
    if extra is not None:
        pool.append(threading.Thread(target=side))
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return handed


def test_many_threads_reporting_hand_every_batch_over_exactly_once(agg: BatchResultAggregator) -> None:
    stations = [f"S{i:04d}" for i in range(1000)]
    ids = [f"SCHEDULE-STATION-REALTIME-DATA_{1699999200 + 3600 * k}" for k in range(8)]
    for batch_id in ids[:4]:
        agg.open_batch(batch_id, stations)

    def open_more() -> list[BatchCollector]:  # new messages arrive while callbacks run
        for batch_id in ids[4:]:
            agg.open_batch(batch_id, random.sample(stations, 500))
        return []

    handed = _run_workers(agg, stations, threads=8, extra=open_more)
    handed += agg.drain()

    assert sorted(c.batch_id for c in handed) == sorted(ids)  # each batch once, none twice
    assert all(c.is_complete() and c.missing_stations() == [] for c in handed)
    assert all(c.results_list() == [{"station_id": s, "v": s} for s in sorted(c.expected_stations)] for c in handed)
    assert agg.completed == len(ids) and agg.drained == 0 and agg.late_reports == 0


def test_timeouts_racing_with_reports_never_hand_a_batch_over_twice(clock: FakeClock) -> None:
    agg = BatchResultAggregator(batch_timeout=0.5, clock=clock)
    stations = [f"S{i:04d}" for i in range(1000)]
    ids = [f"SCHEDULE-STATION-REALTIME-DATA_{1699999200 + k}" for k in range(6)]
    for k, batch_id in enumerate(ids):
        agg.open_batch(batch_id, stations + ["GHOST"] * (k % 2))  # GHOST never reports
        clock.advance(0.1)

    def expire() -> list[BatchCollector]:
        expired: list[BatchCollector] = []
        for _ in range(50):
            expired += agg.cleanup_expired(clock.advance(0.02))
        return expired

    handed = _run_workers(agg, stations, threads=6, extra=expire)

    assert sorted(c.batch_id for c in handed) == sorted(ids)  # each batch once, none twice
    assert agg.drain() == []  # the last cleanup was past every deadline
    assert agg.timed_out >= 3  # at least the GHOST batches
    assert agg.completed + agg.timed_out == len(ids)
    for collector in handed:  # handed over complete, or by timeout with stations missing
        assert collector.timed_out != collector.is_complete()
        assert len(collector.results_list()) + len(collector.missing_stations()) == len(collector.expected_stations)


def test_pending_for_is_right_with_10000_stations_and_a_few_batches(agg: BatchResultAggregator) -> None:
    stations = [f"S{i:05d}" for i in range(10_000)]
    agg.open_batch(B1, stations)
    agg.open_batch(B2, stations[::2])
    b3 = "SCHEDULE-STATION-REALTIME-DATA_1700006400"
    agg.open_batch(b3, stations[:10])

    assert agg.pending_for("S00000") == [B1, B2, b3]
    assert agg.pending_for("S00001") == [B1, b3]
    assert agg.pending_for("S09998") == [B1, B2]
    assert agg.pending_for("S09999") == [B1]
    assert agg.pending_for("unknown") == []

    done = [c for s in stations for c in run_station(agg, s, None)]

    assert [c.batch_id for c in done] == [b3, B2, B1]  # each completes with its last station
    assert all(c.results_list() == [] for c in done)
    assert all(agg.pending_for(s) == [] for s in stations)


def test_closed_batches_are_not_kept(agg: BatchResultAggregator, clock: FakeClock) -> None:
    for k in range(3000):
        agg.open_batch(f"SCHEDULE-STATION-REALTIME-DATA_{k}", ["A", "B"])
        run_station(agg, "A", {"v": k})
    clock.advance(5.0)
    assert len(agg.cleanup_expired()) == 3000
    assert agg.open_batches == 0 and agg.pending_for("B") == []
    assert agg.report("SCHEDULE-STATION-REALTIME-DATA_0", "B", {"v": 0}) is None
    assert agg.late_reports == 1


# --- batch ids -------------------------------------------------------------------------------


def test_a_batch_id_is_the_topic_and_the_whole_seconds_of_the_newest_send_time() -> None:
    assert batch_id_for("SCHEDULE-STATION-REALTIME-DATA", 1699999200) == B1
    assert batch_id_for("SCHEDULE-STATION-REALTIME-DATA", 1699999200.75) == B1
    assert batch_id_for("OTHER", 1699999200) == "OTHER_1699999200"
