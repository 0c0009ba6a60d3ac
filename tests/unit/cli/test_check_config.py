"""`d-a check-config`: what an operator sees for a good and a bad configuration."""

from __future__ import annotations

import re

import yaml

from d_a.cli import main
from d_a.config import load_config


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check-config", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_lists_13_input_and_9_output_topics_and_modules_in_order(capsys) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert "Topics (13 input + 9 module output)" in out
    config = load_config()
    for topic in config.topics:
        assert topic in out
    modules_table = out.split("Modules (9, in dependency order)", 1)[1].split("Kafka settings", 1)[0]
    module_rows = re.findall(r"│\s*(\d+)\s*│\s*(\S+)\s*│", modules_table)
    listed = [name for _, name in module_rows]
    assert listed == list(config.modules)
    position = {m: i for i, m in enumerate(listed)}
    for module, deps in config.module_dependencies.items():
        assert all(position[d] < position[module] for d in deps)
    assert "data_analysis_group" in out


def test_secrets_are_masked(tmp_path, capsys) -> None:
    path = tmp_path / "secure.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": ["broker:9093"],
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "PLAIN",
                    "sasl_plain_username": "svc-da",
                    "sasl_plain_password": "Very-Secret-1",
                    "ssl_password": "Key-Pass-2",
                }
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, str(path))
    assert code == 0
    assert "Very-Secret-1" not in out + err and "Key-Pass-2" not in out + err
    assert "***" in out and "svc-da" in out and "SASL_SSL" in out


def test_invalid_config_prints_each_problem_and_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"group_id": "g"},
                "module_dependencies": {
                    "load_prediction": ["operation_optimization"],
                    "operation_optimization": ["load_prediction"],
                },
                "topics": {"SITE-X": {"window_size": 0}},
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, str(path))
    assert code == 2
    assert out == ""
    assert "invalid configuration" in err
    assert "kafka.bootstrap_servers: missing" in err
    assert "topics.SITE-X.window_size" in err


def test_cycle_is_printed(tmp_path, capsys) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(
        "module_dependencies:\n  load_prediction: [operation_optimization]\n"
        "  operation_optimization: [load_prediction]\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert re.search(r"dependency cycle (load_prediction|operation_optimization) -> \w+ -> \1", err), err


def test_missing_file(capsys) -> None:
    code, _, err = run(capsys, "/nonexistent/d_a.yaml")
    assert code == 2
    assert "config file not found: /nonexistent/d_a.yaml" in err


def shared_rows(out: str) -> list[tuple[str, str, str, list[str]]]:
    """The shared-names table as (module, names, flat name from, [also given by])."""
    table = out.split("Shared input names", 1)[1].split("Kafka settings", 1)[0]
    rows: list[tuple[str, str, str, list[str]]] = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 4 or cells[3] == "":
            continue
        if cells[0]:
            rows.append((cells[0], cells[1], cells[2], [cells[3]]))
        else:
            rows[-1][3].append(cells[3])
    return rows


def test_shared_input_names_are_listed_with_the_topic_owning_each(capsys) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert "_topics[topic]" in out
    rows = {(module, names): (owner, others) for module, names, owner, others in shared_rows(out)}
    assert rows[("operation_optimization", "gunNo")] == (
        "SCHEDULE-STATION-REALTIME-DATA",
        ["SCHEDULE-DEVICE-GUN", "SCHEDULE-CAR-ORDER"],
    )
    assert rows[("operation_optimization", "hostCode, hostCode_window")] == (
        "SCHEDULE-STATION-PARAM",
        [
            "SCHEDULE-STATION-REALTIME-DATA",
            "SCHEDULE-DEVICE-GUN",
            "SCHEDULE-CAR-ORDER",
            "SCHEDULE-DEVICE-HOST-DCDC",
            "SCHEDULE-DEVICE-HOST-ACDC",
        ],
    )
    assert rows[("operation_optimization", "meterId, meterId_window")] == (
        "SCHEDULE-STATION-PARAM",
        ["SCHEDULE-DEVICE-METER"],
    )
    config = load_config()
    assert len(rows) == len(config.shared_names)
    assert all(module in config.modules for module, _ in rows)
