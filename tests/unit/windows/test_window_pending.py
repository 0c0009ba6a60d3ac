"""`stage`: the cheap write path stores exactly what `add_many` would, at the next read."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from d_a.windows import WindowSpec, make_window
from d_a.windows.pending import PENDING_RECORDS_LIMIT

METER = WindowSpec(kind="append", window_size=50, fields=("meterPower",), interval_seconds=300)
ORDERS = WindowSpec(kind="per_second", window_size=20, fields=("gunNo", "outputPower"), max_records_per_second=3)
STORAGE = WindowSpec(kind="per_device", window_size=30, fields=("storageId", "storagePower"), device_key="storageId")

offsets = st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=8), min_size=1, max_size=30)


def record(spec: WindowSpec, t: int, n: int) -> dict:
    if spec is ORDERS:
        return {"gunNo": n % 4, "outputPower": float(t), "stationId": "ST0001"}
    if spec is STORAGE:
        return {"storageId": f"BAT-{n % 3}", "storagePower": float(t)}
    return {"meterPower": float(t), "meterId": "M-01"}


@settings(max_examples=60, deadline=None)
@given(batches=offsets, which=st.sampled_from([METER, ORDERS, STORAGE]), resend=st.booleans())
def test_staged_content_equals_add_many(t0, batches, which, resend) -> None:
    """Same content; with `resend`, batches repeat earlier records (a redelivery), in windows too
    big to evict: one by one, a repeat of a record already evicted would be stored again, while a
    staged repeat meets its first copy in the queue and is dropped."""
    if resend:
        which = dataclasses.replace(which, window_size=1_000)
    staged, added = make_window(which), make_window(which)
    for i, batch in enumerate(batches):
        records = [record(which, t, n) if resend else {**record(which, t, n), "batch": i} for n, t in enumerate(batch)]
        times = [t0 + t for t in batch]
        staged.add_pending(records, times, now=t0 + i)
        added.add_many(records, times, now=t0 + i)
    assert staged.records() == added.records()
    assert staged.times().tolist() == added.times().tolist()
    assert len(staged) == len(added)


def test_staged_records_are_stored_at_the_limit(t0, meter) -> None:
    window = make_window(WindowSpec(kind="append", window_size=10_000, fields=("meterPower",)))
    for i in range(PENDING_RECORDS_LIMIT - 1):
        window.add_pending([meter(t0 + i)], [t0 + i])
    assert len(window._store) == 0  # still queued
    window.add_pending([meter(t0 + PENDING_RECORDS_LIMIT)], [t0 + PENDING_RECORDS_LIMIT])
    assert len(window._store) == PENDING_RECORDS_LIMIT


def test_per_second_stage_triggers_when_a_newer_second_begins(t0, car_order) -> None:
    window = make_window(ORDERS)
    assert window.add_pending([car_order(t0, gun=1)], [t0]) is False
    assert window.add_pending([car_order(t0 + 0.5, gun=2)], [t0 + 0.5]) is False
    assert window.add_pending([car_order(t0 + 1, gun=1)], [t0 + 1]) is True
    assert window.add_pending([car_order(t0 + 0.9, gun=3)], [t0 + 0.9]) is False  # late, same old second
    assert [o["gunNo"] for o in window.completed_second()] == [1, 2, 3]


def test_staged_devices_keep_their_own_arrival_for_expiry(t0, storage) -> None:
    window = make_window(STORAGE)
    window.add_pending([storage(t0, "BAT-1")], [t0], now=t0)
    window.add_pending([storage(t0 + 50, "BAT-2")], [t0 + 50], now=t0 + 50)
    window.expire(now=t0 + 70, max_idle_seconds=60)
    assert [d["storageId"] for d in window.devices()] == ["BAT-2"]
