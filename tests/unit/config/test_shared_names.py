"""Input names that several topics of one module give: which topic's value the flat name holds."""

from __future__ import annotations

import logging

from d_a.config import load_config
from d_a.config.input_names import SharedName

PARAM, REALTIME, METER = "SCHEDULE-STATION-PARAM", "SCHEDULE-STATION-REALTIME-DATA", "SCHEDULE-DEVICE-METER"
GUN, ORDER = "SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-ORDER"
DCDC, ACDC = "SCHEDULE-DEVICE-HOST-DCDC", "SCHEDULE-DEVICE-HOST-ACDC"


def test_the_packaged_modules_share_gun_host_and_meter_ids() -> None:
    config = load_config()
    shared = [s for s in config.shared_names if s.module == "operation_optimization"]
    assert shared == [
        SharedName("operation_optimization", ("meterId", "meterId_window"), PARAM, (METER,)),
        SharedName(
            "operation_optimization", ("hostCode", "hostCode_window"), PARAM, (REALTIME, GUN, ORDER, DCDC, ACDC)
        ),
        SharedName("operation_optimization", ("gunNo",), REALTIME, (GUN, ORDER)),
    ]
    assert not any("stationId" in s.names for s in config.shared_names)  # a routing key, given once
    assert {s.module for s in config.shared_names} <= set(config.modules)
    assert config.notes == tuple(s.note() for s in config.shared_names)
    assert (
        "module operation_optimization: shared gunNo: flat from SCHEDULE-STATION-REALTIME-DATA; "
        "also SCHEDULE-DEVICE-GUN, SCHEDULE-CAR-ORDER (under _topics[topic])"
    ) in config.notes


def test_a_tables_key_order_is_shared_only_with_its_table() -> None:
    guns = {"fields": ["gunNo", "status"], "align_by": "gunNo", "aligned_fields": ["status"], "modules": ["m"]}
    config = load_config(
        {
            "topics": {
                "SITE-PLAIN": {"fields": ["status"], "modules": ["m"]},
                "SITE-GUNS-A": guns,
                "SITE-GUNS-B": guns,
            },
            "module_dependencies": {},
        }
    )
    by_names = {s.names: (s.owner, s.others) for s in config.shared_names}
    assert by_names[("status", "status_window")] == ("SITE-PLAIN", ("SITE-GUNS-A", "SITE-GUNS-B"))
    assert by_names[("status_gunNo",)] == (None, ("SITE-GUNS-A", "SITE-GUNS-B"))  # the tables are not flat
    assert by_names[("gunNo",)] == ("SITE-GUNS-A", ("SITE-GUNS-B",))
    assert "shared status_gunNo: flat from no topic" in " ".join(config.notes)


def test_loading_logs_the_shared_names_once(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="d_a.config"):
        config = load_config()
        load_config({"topics": {"SITE-A": {"fields": ["power"], "modules": ["m"]}}, "module_dependencies": {}})
    lines = [r.getMessage() for r in caplog.records if "shared by topics" in r.getMessage()]
    count = sum(len(s.names) for s in config.shared_names)
    assert len(lines) == 1
    assert f"{count} input names shared by topics of one module" in lines[0]
    assert "operation_optimization" in lines[0] and "d-a check-config" in lines[0]
