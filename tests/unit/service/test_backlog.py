"""BacklogGauge: a live feed's few unread messages are not a backlog; what was there before the
consumer first read a partition is, and so is data left unread for a second."""

from __future__ import annotations

from d_a.service.backlog import BacklogGauge

TOPIC = "SCHEDULE-DEVICE-METER"


def lag(**partitions: tuple[int | None, int]) -> dict:
    """{partition: (position, end offset)} as consumer.get_lag_info() gives it."""
    return {
        TOPIC: {
            int(name[1:]): {
                "position": position,
                "committed": None,
                "end_offset": end,
                "lag": None if position is None else end - position,
            }
            for name, (position, end) in partitions.items()
        }
    }


def test_a_live_feed_over_many_partitions_is_not_a_backlog() -> None:
    """Each fetch leaves a burst half read on some of 12 partitions, and reads it by the next
    one: never behind, however long it goes on."""
    gauge = BacklogGauge()
    assert not gauge.behind(lag(**{f"p{p}": (0, 0) for p in range(12)}), now=0.0)
    for step in range(1, 200):  # 20 s of fetches 100 ms apart
        partitions = {f"p{p}": (step * 60 + 30 * ((p + step) % 2), step * 60 + 60) for p in range(12)}
        assert not gauge.behind(lag(**partitions), now=step * 0.1), step


def test_what_was_there_before_the_first_read_is_a_backlog_until_read() -> None:
    gauge = BacklogGauge()
    assert gauge.behind(lag(p0=(500, 5_000)), now=0.0)
    assert gauge.behind(lag(p0=(4_999, 5_020)), now=0.1)
    assert not gauge.behind(lag(p0=(5_000, 5_020)), now=0.2)  # the rest came meanwhile: live
    assert not gauge.behind(lag(p0=(5_020, 5_040)), now=0.3)


def test_data_left_unread_for_the_patience_is_a_backlog() -> None:
    """A partition whose position does not reach the end offset seen when its data was noticed."""
    gauge = BacklogGauge(patience=1.0)
    assert not gauge.behind(lag(p0=(0, 0)), now=0.0)
    assert not gauge.behind(lag(p0=(0, 300)), now=0.1)
    assert not gauge.behind(lag(p0=(200, 320)), now=0.6)
    assert gauge.behind(lag(p0=(290, 340)), now=1.2)  # offsets below 300 still unread after 1.1 s
    assert not gauge.behind(lag(p0=(300, 360)), now=1.3)  # read up to it: what is there now is timed anew
    assert not gauge.behind(lag(p0=(360, 360)), now=1.4)


def test_a_consumer_falling_further_behind_is_a_backlog() -> None:
    """Reading half of what arrives: each end offset noticed is reached later than the one before."""
    gauge = BacklogGauge(patience=1.0)
    assert not gauge.behind(lag(p0=(0, 0)), now=0.0)
    position, end, states = 0, 100, []
    for step in range(1, 60):
        states.append(gauge.behind(lag(p0=(position, end)), now=step * 0.1))
        position, end = position + 50, end + 100
    assert not any(states[:10]) and states[-1]


def test_a_partition_assigned_again_is_read_anew() -> None:
    """A partition gone from the lag info (moved away) and back counts as first read again; one
    without a position yet (nothing fetched) counts as not read."""
    gauge = BacklogGauge()
    assert not gauge.behind(lag(p0=(10, 10), p1=(None, 400)), now=0.0)
    assert not gauge.behind(lag(p1=(None, 400)), now=5.0)
    assert gauge.behind(lag(p0=(10, 90)), now=5.1)
    assert gauge.behind(lag(p1=(100, 400)), now=5.2)
