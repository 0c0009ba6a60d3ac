"""align_by_key: rows keyed differently over time (e.g. per-gun values) re-indexed to one key order."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .padding import check_strategy, fill


def align_by_key(
    rows: Sequence[Mapping[Hashable, Any]], strategy: str | None
) -> tuple[list[Hashable], list[list[Any]]]:
    """One key order (the sorted union of all rows' keys) and each row's values in that order.

    A key missing from a row is filled along the time axis (the rows' order) by the padding
    `strategy` (zero / forward / linear / missing); None fills it with None.
    """
    if strategy is not None:
        check_strategy(strategy)
    keys = _sorted_union(rows)
    columns = [_key_series(rows, key, strategy or "missing") for key in keys]
    return keys, [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in rows]


def align_listed(
    records: Sequence[Mapping[str, Any]], key: str, field: str, strategy: str | None
) -> tuple[list[Hashable], list[list[Any]]]:
    """`align_by_key` over records that list their keys and values side by side (REALTIME-DATA's
    `gunNo` with `outputPowerPerGunAvg`): each record is the row `dict(zip(record[key], record[field]))`.

    When every record lists the same keys, each once, in natural order and with a value for
    each, no key is missing anywhere: the table is the records' own value lists (copied) and
    padding has nothing to fill, so no row dict is built."""
    if records:
        keys = records[0][key]
        count = len(keys)
        if (
            len(set(keys)) == count
            and sorted_keys(keys) == keys
            and all(record[key] == keys and len(record[field]) == count for record in records)
        ):
            if strategy is not None:
                check_strategy(strategy)
            return list(keys), [list(record[field]) for record in records]
    return align_by_key([dict(zip(record[key], record[field], strict=False)) for record in records], strategy)


def _sorted_union(rows: Sequence[Mapping[Hashable, Any]]) -> list[Hashable]:
    return sorted_keys(set().union(*rows))


def sorted_keys(keys: Iterable[Hashable]) -> list[Hashable]:
    """Keys in natural order (by type name first when their types cannot be compared)."""
    try:
        return sorted(keys)  # type: ignore[type-var]  # keys of one type compare; others raise TypeError
    except TypeError:
        return sorted(keys, key=lambda key: (type(key).__name__, repr(key)))


def _key_series(rows: Sequence[Mapping[Hashable, Any]], key: Hashable, strategy: str) -> list[Any]:
    """One key's values over the rows, gaps filled."""
    if strategy == "missing" or all(key in row for row in rows):
        return [row.get(key) for row in rows]  # what filling gives when no gap needs a computed value
    present = np.fromiter((key in row for row in rows), dtype=bool, count=len(rows))
    values = np.fromiter((row[key] for row in rows if key in row), dtype=object, count=int(present.sum()))
    sources = np.where(present, np.cumsum(present) - 1, -1)
    return fill(sources, strategy, values, _as_numbers(values)).tolist()


def _as_numbers(values: np.ndarray) -> np.ndarray | None:
    """float64 (NaN for None) when every value is an int, float or None and one is a number."""
    types = set(map(type, values))
    if not types & {int, float} or not types <= {int, float, type(None)}:
        return None
    return np.array([np.nan if value is None else value for value in values], dtype=np.float64)
