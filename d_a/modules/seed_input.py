"""The original d_a's form of a module's aggregated data, for module parsers written as their developer
guide shows (a ParserBase whose `parse(all_topics_data)` builds the input itself).

`{topic: [records, oldest first], dependency_module: its latest output ({} before it has one)}`;
the parser's result gets `_data_quality` when it is a dict without one, as every input does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Config
from ..inputs.assembly import data_quality
from ..parser_base import ParserBase
from ..windows import Window

__all__ = ["seed_module_input"]


def seed_module_input(
    config: Config, module: str, parser: ParserBase, window_of: Callable[[str], Window | None]
) -> Any:
    """`parser.parse` of the original d_a's form of `module`'s data for one station."""
    outputs = {config.module_output_topics[d]: d for d in config.module_dependencies.get(module, [])}
    data: dict[str, Any] = {}
    available = []
    for topic in config.module_to_topics[module]:
        window = window_of(topic)
        records = window.records() if window is not None else []
        if records:
            available.append(topic)
        if topic in outputs:
            data[outputs[topic]] = records[-1] if records else {}
        else:
            data[topic] = records
    result = parser.parse(data)
    if isinstance(result, dict) and "_data_quality" not in result:
        result["_data_quality"] = data_quality(config.module_to_topics[module], available)
    return result
