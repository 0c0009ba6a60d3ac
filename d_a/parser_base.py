"""ParserBase: the original d_a's common interface of topic and module parsers.

A plain base class rather than an `abc.ABC`: compiled by mypyc, an ABC and its compiled subclasses
(TopicParser) would share one ABCMeta cache, so `issubclass(x, TopicParser)` being False for a
user's parser class would be remembered as False for ParserBase too.
"""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

__all__ = ["ParserBase"]


@mypyc_attr(allow_interpreted_subclasses=True)
class ParserBase:
    """`parse(data)` returns the parsed dict, or None to skip the data (it is then counted)."""

    def parse(self, data: Any) -> dict[str, Any] | None:
        """Parse one piece of data (a raw record, or a module's aggregated input); subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define parse(data)")
