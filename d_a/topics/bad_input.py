"""Bad input: what kinds there are, and the counter that logs each kind once per topic.

A bad message or record never raises out of the data plane: it becomes a `BadInput`, is counted
under its kind, and skipped. A bad field is that field's problem: the record keeps its other fields
(`BadFields`), unless the field is the station id. The first occurrence of each (topic, kind) is logged at WARNING with
its topic, partition, offset and station; later ones only at DEBUG, so a flood of bad data cannot
flood the log.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from ..errors import DataAnalysisError

__all__ = ["BAD_INPUT_KINDS", "BadFields", "BadInput", "BadInputLog"]

logger = logging.getLogger("d_a.topics")

BAD_INPUT_KINDS = (
    "not_json",  # value bytes are not UTF-8 JSON (NaN/Infinity tokens included)
    "wrong_shape",  # not an object / list, or the topic's envelope key is missing
    "missing_id",  # no stationId, station_id, host_id/hostId/hostCode or meter_id/meterId
    "unknown_station",  # a host/meter id that maps to no station, or a station PARAM does not list
    "wrong_type",  # e.g. a string where a number is expected (the field is left out), or a bad station id
    "non_finite",  # NaN or Infinity in a number
    "length_mismatch",  # per-gun lists of different lengths
    "too_large",  # a list longer than the limit
    "unknown_topic",  # data for a topic that is not configured
    "parser_error",  # a custom parser raised something other than BadInput
    "rejected",  # a custom parser returned None for a record (the original d_a's way to skip data)
)


class BadInput(DataAnalysisError):
    """A message or record that cannot be used; `kind` is one of BAD_INPUT_KINDS."""

    def __init__(self, kind: str, detail: str, *, station: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.station = station
        self.field: str | None = None  # the field at fault, when it is one field's problem
        self.field_only = False  # True: only a field was left out, the record was kept
        self.kept = False  # True: noted only, the data was kept (e.g. a station PARAM does not list)


class BadFields(BadInput):
    """Fields of a record that were bad and left out: `record` holds the rest (still usable),
    `problems` one BadInput per bad field."""

    def __init__(self, record: dict, problems: list[BadInput]) -> None:
        super().__init__(problems[0].kind, "; ".join(p.detail for p in problems))
        self.record = record
        self.problems = problems
        for problem in problems:
            problem.field_only = True


class BadInputLog:
    """Counts bad input per (topic, kind) and logs the first of each at WARNING."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._log = log or logger

    def record(self, problem: BadInput, topic: str, *, partition: int | None = None, offset: int | None = None) -> None:
        key = (topic, problem.kind)
        with self._lock:
            self._counts[key] += 1
            first = self._counts[key] == 1
        where = f"topic={topic}"
        if partition is not None:
            where += f" partition={partition} offset={offset}"
        if problem.station:
            where += f" station={problem.station}"
        level = logging.WARNING if first else logging.DEBUG
        if self._log.isEnabledFor(level):
            suffix = " (first of its kind on this topic; later ones are counted and logged at DEBUG)"
            what = "field left out" if problem.field_only else "noted, data kept" if problem.kept else "skipped"
            self._log.log(level, "bad input %s: %s %s%s", what, where, problem, suffix if first else "")

    def counts(self) -> dict[tuple[str, str], int]:
        """How many bad inputs of each (topic, kind) were skipped."""
        with self._lock:
            return dict(self._counts)

    def by_kind(self) -> dict[str, int]:
        """Counts summed over topics."""
        totals: Counter[str] = Counter()
        with self._lock:
            for (_, kind), n in self._counts.items():
                totals[kind] += n
        return dict(totals)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
