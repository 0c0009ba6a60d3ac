"""per_device windows (storage units, hosts): latest per device, shared history, per-device expiry."""

from __future__ import annotations

from d_a.windows import PerDeviceWindow, WindowSpec, make_window

STORAGE_FIELDS = (
    "hostId",
    "storageId",
    "storagePower",
    "storageCurrent",
    "storageTempMax",
    "storageTempMin",
    "storageSOC",
    "storageSOH",
)


def storage_window(size: int = 40_320) -> PerDeviceWindow:
    return make_window(WindowSpec("per_device", size, STORAGE_FIELDS, interval_seconds=15, device_key="storageId"))


def test_devices_give_each_devices_latest_record_in_first_seen_order(storage, t0):
    window = storage_window()
    window.add_many([storage(t0, "BAT-2", power=1.0), storage(t0, "BAT-1", power=2.0)], [t0, t0], now=t0)
    window.add(storage(t0 + 15, "BAT-2", power=3.0), t0 + 15, now=t0 + 15)
    assert window.devices() == [storage(t0 + 15, "BAT-2", power=3.0), storage(t0, "BAT-1", power=2.0)]


def test_a_late_record_does_not_replace_a_devices_newer_record(storage, t0):
    window = storage_window()
    window.add(storage(t0 + 30, "BAT-1", power=9.0), t0 + 30)
    window.add(storage(t0 + 15, "BAT-1", power=1.0), t0 + 15)
    assert window.devices() == [storage(t0 + 30, "BAT-1", power=9.0)]
    assert window.column("storagePower") == [1.0, 9.0]


def test_history_holds_the_last_records_over_all_devices(storage, t0):
    window = storage_window(size=3)
    for i in range(4):
        window.add_many([storage(t0 + 15 * i, unit, power=float(i)) for unit in ("BAT-1", "BAT-2")], [t0 + 15 * i] * 2)
    assert len(window) == 3
    assert window.column("storageId") == ["BAT-2", "BAT-1", "BAT-2"]
    assert [d["storagePower"] for d in window.devices()] == [3.0, 3.0]


def test_a_record_without_the_device_key_is_rejected_and_counted(storage, t0):
    window = storage_window()
    unnamed = storage(t0)
    del unnamed["storageId"]
    assert window.add(unnamed, t0) is False
    assert window.add(storage(t0, None), t0) is False
    assert window.add_many([unnamed, storage(t0, "BAT-1")], [t0, t0]) is True
    assert window.rejected == 3
    assert len(window) == 1


def test_devices_expire_one_by_one_with_their_history(storage, t0):
    window = storage_window()
    window.add_many([storage(t0, "BAT-1"), storage(t0, "BAT-2")], [t0, t0], now=t0)
    window.add(storage(t0 + 600, "BAT-2", power=5.0), t0 + 600, now=t0 + 600)
    assert window.expire(now=t0 + 700, max_idle_seconds=300) is False
    assert [d["storageId"] for d in window.devices()] == ["BAT-2"]
    assert window.column("storageId") == ["BAT-2", "BAT-2"]
    assert window.expire(now=t0 + 1000, max_idle_seconds=300) is True
    assert window.devices() == [] and window.records() == []


def test_a_device_reporting_again_is_kept_alive_by_arrival(storage, t0):
    window = storage_window()
    window.add(storage(t0 + 30, "BAT-1"), t0 + 30, now=t0)
    window.add(storage(t0, "BAT-1", power=0.0), t0, now=t0 + 500)
    assert window.expire(now=t0 + 600, max_idle_seconds=300) is False
    assert len(window.devices()) == 1


def test_hosts_keyed_by_host_code_keep_their_module_lists(t0, strictly_equal):
    window = make_window(WindowSpec("per_device", 1, ("hostCode", "dcWorkStatus", "dcdcPower"), device_key="hostCode"))
    first = {"stationId": "ST-0001", "hostCode": "H-01", "dcWorkStatus": [1, 0], "dcdcPower": [20.5, 0.0]}
    second = {"stationId": "ST-0001", "hostCode": "H-02", "dcWorkStatus": [2, 1], "dcdcPower": [0.0, 18]}
    window.add_many([first, second], [t0, t0])
    assert strictly_equal(window.devices(), [first, second])
    assert window.records() == [second]
