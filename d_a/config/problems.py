"""Turn validation failures into one line per problem: `key.path: what is wrong (got value)`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["describe", "did_you_mean", "problems_from_validation"]


def describe(value: Any) -> str:
    """Short repr of a value for an error message (long values are cut)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when `name` looks like a typo of a candidate, else ``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def problems_from_validation(
    exc: ValidationError,
    path: str = "",
    candidates: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
) -> list[str]:
    """One readable line per pydantic error, prefixed with the config key path.

    `rename` maps the first key of an error's location to the name the user wrote
    (e.g. `topics` -> `TOPIC_DETAIL`).
    """
    problems = []
    for err in exc.errors():
        parts = [str(part) for part in err["loc"]]
        if parts and rename:
            parts[0] = rename.get(parts[0], parts[0])
        where = ".".join(p for p in (path, *parts) if p)
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key{did_you_mean(str(err['loc'][-1]), candidates)}")
        elif err.get("input") is Ellipsis:
            problems.append(
                f"{where}: `...` is a placeholder (the original d_a's examples use it for 'and so on'): "
                "write the values"
            )
        elif err["type"] == "value_error" and isinstance(err.get("input"), Mapping):  # a section's own check
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"{where}: {err['msg']} (got {describe(err['input'])})")
    return problems
