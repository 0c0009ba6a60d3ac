"""Field value checks (by the `types` of a topic's config) and record time parsing."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .bad_input import BadFields, BadInput

__all__ = ["MAX_LIST_LENGTH", "check_field", "check_record", "fast_types", "guard_values", "parse_time"]

MAX_LIST_LENGTH = 10_000
_EPOCH_MS_THRESHOLD = 1e11  # larger epoch numbers are milliseconds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(field: str, value: Any) -> None:
    if not _is_number(value):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput("non_finite", f"{field}={value}")


def _integer(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not an integer")


def _string(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not a string")


def _id(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise BadInput("wrong_type", f"{field}={_short(value)} is not an id (a non-empty string or an integer)")


def _ids(field: str, value: Any) -> None:
    """One id, or a list of ids (a station with several hosts)."""
    if isinstance(value, list):
        if not value:
            raise BadInput("wrong_type", f"{field}=[] is not an id or a list of ids")
        for item in value:
            _id(field, item)
    else:
        _id(field, value)


def _bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not a boolean")


def _list(field: str, value: Any) -> None:
    if not isinstance(value, list):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not a list")


def _numbers(field: str, value: Any) -> None:
    _list(field, value)
    for item in value:
        kind = type(item)
        if kind is float:
            if item - item != 0.0:  # NaN or Infinity
                raise BadInput("non_finite", f"{field}={item}")
        elif kind is not int and item is not None:
            _number(field, item)  # anything else, bools included, is not a number


def _object(field: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise BadInput("wrong_type", f"{field}={_short(value)} is not an object")


def _any(field: str, value: Any) -> None:
    return None


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "number": _number,
    "integer": _integer,
    "string": _string,
    "id": _id,
    "ids": _ids,
    "bool": _bool,
    "list": _list,
    "numbers": _numbers,
    "object": _object,
    "any": _any,
}


# Exact JSON value types each field type accepts without a closer look (`type(v) in ...`); an
# empty string always gets the closer look (an id must not be empty).
_FAST_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset({int, float}),  # floats: check_record rejects NaN and Infinity
    "integer": frozenset({int}),
    "string": frozenset({str}),
    "id": frozenset({int, str}),
    "ids": frozenset({int, str}),
    "bool": frozenset({bool}),
    "object": frozenset({dict}),
}


def fast_types(field_type: str) -> frozenset[type]:
    """Value types that certainly pass `field_type`, except the empty string (others go through
    `check_field`)."""
    return _FAST_TYPES.get(field_type, frozenset())


def check_field(field: str, value: Any, field_type: str) -> None:
    """Raise BadInput when `value` (not None) does not fit `field_type`."""
    if value is None:
        return
    if type(value) is list and len(value) > MAX_LIST_LENGTH:
        raise BadInput("too_large", f"{field} has {len(value)} elements (limit {MAX_LIST_LENGTH})")
    _CHECKS[field_type](field, value)


def check_record(record: dict[str, Any], checks: dict[str, tuple[str, frozenset[type]]]) -> None:
    """Check a typed field's value fits (`checks`: field -> (type, its fast types)), and that no
    field holds NaN/Infinity or an over-long list; one pass over the record. Bad fields are taken
    out of `record` and raised as BadFields (the rest of the record stays usable)."""
    typed_fields = checks.get
    problems: list[BadInput] | None = None
    for field, value in record.items():
        kind = type(value)
        try:
            if kind is float:
                if value - value != 0.0:  # NaN or Infinity (a finite float minus itself is 0)
                    raise BadInput("non_finite", f"{field}={value}")
            elif kind is list and len(value) > MAX_LIST_LENGTH:
                raise BadInput("too_large", f"{field} has {len(value)} elements (limit {MAX_LIST_LENGTH})")
            typed = typed_fields(field)
            if typed is not None and (kind not in typed[1] or value == "") and value is not None:
                check_field(field, value, typed[0])
        except BadInput as problem:
            problem.field = field
            problems = [problem] if problems is None else [*problems, problem]
    if problems is not None:
        for bad in problems:
            record.pop(bad.field or "", None)
        raise BadFields(record, problems)


def guard_values(record: dict[str, Any]) -> None:
    """Reject NaN/Infinity and over-long lists in any field, typed or not."""
    check_record(record, {})


_time_cache: dict[str, float] = {}


def parse_time(value: Any) -> float | None:
    """Epoch seconds of a record time: `YYYY-MM-DD HH:MM:SS` / ISO text (local time) or epoch s/ms.

    None when the value is absent; BadInput(wrong_type) when it cannot be read.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        cached = _time_cache.get(value)
        if cached is not None:
            return cached
        try:
            seconds = datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise BadInput("wrong_type", f"time {_short(value)} is not 'YYYY-MM-DD HH:MM:SS'") from None
        if len(_time_cache) >= 65_536:
            _time_cache.clear()
        _time_cache[value] = seconds
        return seconds
    if _is_number(value) and math.isfinite(value):
        return value / 1000.0 if value > _EPOCH_MS_THRESHOLD else float(value)
    raise BadInput("wrong_type", f"time {_short(value)} is neither text nor epoch seconds")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
