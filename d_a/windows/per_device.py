"""PerDeviceWindow: the latest record of each device (hosts, storage units) plus a shared history.

Devices are keyed by the record key `device_key`; a record without it is rejected and
counted in `rejected`. `records()` and `column()` read the history (the last `window_size`
records over all devices); `devices()` gives each device's latest record, in first-seen order.
Devices expire one by one when they stop reporting.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .batch import Batch
from .pending import PendingEncoder
from .spec import WindowSpec
from .store import ColumnStore
from .window import UNPICKLED, Window


@dataclass
class _Device:
    record: dict = dataclasses.field(default_factory=dict)  # defaults: for unpickling (d_a.state)
    ts: float = 0.0
    arrival: float = 0.0


class PerDeviceWindow(Window):
    """Latest record per device, and the newest `window_size` records over all devices."""

    kind: ClassVar[str] = "per_device"

    def __init__(self, spec: WindowSpec = UNPICKLED, encoder: PendingEncoder | None = None) -> None:
        self.rejected = 0
        super().__init__(spec, encoder)

    def devices(self) -> list[dict]:
        """Each device's latest record (by record time), devices in first-seen order."""
        self.store_pending()
        return [dict(device.record) for device in self._devices.values()]

    def expire(self, now: float, max_idle_seconds: float) -> bool:
        """Forget devices silent (by arrival time) for `max_idle_seconds`, with their history."""
        self.store_pending()
        silent = {key for key, device in self._devices.items() if now - device.arrival > max_idle_seconds}
        self._forget(silent)
        return not self._devices

    def add_pending(self, records: Sequence[dict], ts: Sequence[float], now: float | None = None) -> bool:
        """As `Window.add_pending`, remembering when each device's records arrived (for expiry)."""
        arrival = time.time() if now is None else float(now)
        key = self.spec.device_key
        for record in records:
            device = record.get(key)
            if device is not None:
                self._pending_arrival[device] = arrival
        return super().add_pending(records, ts, arrival)

    def store_pending(self) -> None:
        super().store_pending()
        self._pending_arrival.clear()

    def _copy(self, store: ColumnStore) -> PerDeviceWindow:
        saved = super()._copy(store)
        assert isinstance(saved, PerDeviceWindow)
        saved._devices = {key: dataclasses.replace(device) for key, device in self._devices.items()}
        saved._pending_arrival = dict(self._pending_arrival)
        return saved

    def clear(self) -> None:
        super().clear()
        self._devices: dict[Any, _Device] = {}
        self._pending_arrival: dict[Any, float] = {}

    def _add(self, batch: Batch, arrival: float) -> bool:
        key = self.spec.device_key
        keyed = np.fromiter((record.get(key) is not None for record in batch.records), bool, len(batch))
        if not keyed.all():
            self.rejected += int(len(batch) - keyed.sum())
            batch = batch.select(keyed)
        if not len(batch):
            return False
        self._note_devices(batch, arrival)
        return super()._add(batch, arrival)

    def _note_devices(self, batch: Batch, arrival: float) -> None:
        """Each device's newest record of the batch replaces an older latest record; devices new to
        the window are added in the order they arrived."""
        key = self.spec.device_key
        newest = {record[key]: index for index, record in enumerate(batch.records)}
        if batch.arrival is not None:
            first: dict[Any, int] = {}
            for record, arrived in zip(batch.records, batch.arrival.tolist(), strict=True):
                first[record[key]] = min(first.get(record[key], arrived), arrived)
            newest = {device: newest[device] for device in sorted(newest, key=first.__getitem__)}
        for device, index in newest.items():
            known = self._devices.get(device)
            ts = float(batch.ts[index])
            arrival = self._pending_arrival.get(device, arrival)
            if known is None or ts >= known.ts:
                self._devices[device] = _Device(dict(batch.records[index]), ts, arrival)
            else:
                known.arrival = arrival

    def _drop_aged(self) -> float | None:
        cutoff = super()._drop_aged()
        if cutoff is not None:
            self._forget({key for key, device in self._devices.items() if device.ts < cutoff})
        return cutoff

    def _forget(self, devices: set) -> None:
        """Remove these devices and their records from the history."""
        if not devices:
            return
        for device in devices:
            del self._devices[device]
        if not self._devices:
            self.clear()
            return
        column = self._store.column(self.spec.device_key)
        assert column is not None  # every record of a per-device window has a device
        owners = column.exact(self._store.run(0, len(self._store))).tolist()
        self._store.keep(np.fromiter((owner not in devices for owner in owners), bool, len(owners)))
