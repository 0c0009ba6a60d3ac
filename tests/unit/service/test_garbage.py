"""IdleCollector: the collector's passes moved to idle moments, the generation chosen by Python's rule."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from d_a.service.garbage import IdleCollector


class _Node:
    """A container that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def young_threshold() -> Iterator[int]:
    """A young threshold of 2,000, counted from a fresh pass (Python's own threshold restored after)."""
    before = gc.get_threshold()
    gc.set_threshold(2_000, *before[1:])
    gc.collect()
    try:
        yield 2_000
    finally:
        gc.set_threshold(*before)
        gc.collect()


def _young(count: int) -> list[list]:
    """`count` young container objects, kept alive (they raise the young count)."""
    return [[] for _ in range(count)]


def _cycle() -> weakref.ref:
    node = _Node()
    node.other = node
    return weakref.ref(node)


class _FakeGC:
    """Generation counts and the heap's size as a test sets them; `collect` records its passes."""

    def __init__(self, counts: tuple[int, int, int], heap: int = 100_000) -> None:
        self.counts, self.heap = counts, heap
        self.collected: list[int] = []

    def collect(self, generation: int) -> int:
        self.collected.append(generation)
        return 0

    def collector(self, **kwargs: object) -> IdleCollector:
        return IdleCollector(
            counts=lambda: self.counts,
            thresholds=lambda: (10_000, 10, 10),
            heap=lambda: self.heap,
            collect=self.collect,
            **kwargs,
        )


def test_no_pass_is_due_before_the_young_count_reached_half_its_threshold() -> None:
    fake = _FakeGC((4_999, 10, 10))
    collector = fake.collector()
    assert collector.due() is None
    assert collector.idle() is None
    assert fake.collected == []


def test_the_young_generation_is_due_until_an_older_one_reaches_its_threshold() -> None:
    fake = _FakeGC((5_000, 9, 9))
    assert fake.collector().due() == 0
    fake.counts = (5_000, 10, 9)
    assert fake.collector().due() == 1


def test_a_full_pass_comes_once_the_heap_grew_by_a_quarter_since_the_last() -> None:
    fake = _FakeGC((6_000, 10, 10), heap=100_000)
    collector = fake.collector()
    fake.heap = 125_000
    assert collector.idle() == 1  # grown by exactly a quarter: not yet
    fake.heap = 125_001
    assert collector.idle() == 2
    assert collector.due() == 1  # counted afresh from the heap the full pass left
    fake.heap = 160_000
    assert collector.due() == 2
    assert fake.collected == [1, 2] and collector.passes == [0, 1, 1]


def test_no_pass_asks_for_the_objects_of_a_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """gc.get_objects() hands out objects other threads are still building: a tuple being built
    from a generator there is then held twice, and its resize fails with SystemError."""

    def refuse(*args: object) -> list:
        raise AssertionError("gc.get_objects called")

    monkeypatch.setattr(gc, "get_objects", refuse)
    fake = _FakeGC((6_000, 10, 10), heap=100_000)
    collector = IdleCollector(counts=lambda: fake.counts, thresholds=lambda: (10_000, 10, 10), collect=fake.collect)
    for _ in range(3):
        assert collector.idle() in (1, 2)


def test_an_idle_pass_frees_unreachable_cycles_before_python_would(young_threshold: int) -> None:
    ref = _cycle()
    kept = _young(young_threshold * 6 // 10)
    assert ref() is not None  # Python's own pass is not due yet
    assert IdleCollector().idle() == 0
    assert ref() is None
    assert kept


def test_no_pass_while_the_collector_is_disabled(young_threshold: int) -> None:
    ref = _cycle()
    kept = _young(young_threshold * 6 // 10)
    gc.disable()
    try:
        assert IdleCollector().idle() is None
        assert ref() is not None
    finally:
        gc.enable()
    assert kept
