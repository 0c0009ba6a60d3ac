"""ParserBase: the seeds' common interface of topic and module parsers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mypy_extensions import mypyc_attr

__all__ = ["ParserBase"]


@mypyc_attr(allow_interpreted_subclasses=True)
class ParserBase(ABC):
    """`parse(data)` returns the parsed dict, or None to skip the data (it is then counted)."""

    @abstractmethod
    def parse(self, data: Any) -> dict[str, Any] | None:
        """Parse one piece of data (a raw record, or a module's aggregated input)."""
