"""`service.backlog_runs` is checked when a service is made. (How stations run while a backlog is
read is tested on both transports in tests/service/test_scheduling.py.)"""

from __future__ import annotations

import pytest

from d_a import AsyncDataAnalysisService
from d_a.errors import ConfigError
from d_a.kafka import InMemoryBroker, MemoryTransport

SEQ = "SITE-SEQ"


def config(**service: object) -> dict:
    topic = {"fields": ["seq"], "types": {"seq": "integer"}, "modules": ["seq_model"], "window_size": 10_000}
    return {"topics": {SEQ: topic}, "module_dependencies": {}, "service": service}


def test_an_unknown_mode_names_the_key() -> None:
    with pytest.raises(ConfigError, match="backlog_runs"):
        AsyncDataAnalysisService(
            "seq_model", transport=MemoryTransport(InMemoryBroker()), config=config(backlog_runs="each")
        )
