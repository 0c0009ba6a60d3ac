"""StationHandle: the Future-like `task` / `future` of get_station_status()."""

from __future__ import annotations

from d_a.service.station_handle import StationHandle


def test_running_done_and_cancel() -> None:
    served = {"S1", "S2"}
    handle = StationHandle("S1", served.__contains__, served.discard)
    assert handle.running() and not handle.done() and not handle.cancelled()
    assert handle.cancel() and handle.cancelled() and handle.done() and served == {"S2"}
    assert not handle.cancel()  # no longer served: nothing to cancel
    assert "S1" in handle.get_name() and "cancelled" in repr(handle)
    gone = StationHandle("S3", served.__contains__, served.discard)
    assert gone.done() and not gone.cancel() and not gone.cancelled()
