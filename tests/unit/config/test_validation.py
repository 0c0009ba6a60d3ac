"""Invalid configurations stop the start with a ConfigError that names the key."""

from __future__ import annotations

import pytest

from d_a.config import load_config
from d_a.errors import ConfigError


def problems_of(document: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(document)
    return info.value.problems


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"topics": {"SITE-X": {"window_size": 0}}},
            "topics.SITE-X.window_size: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"topics": {"SITE-X": {"window_size": "10"}}},
            "topics.SITE-X.window_size: Input should be a valid integer (got '10')",
        ),
        ({"topics": {"SITE-X": {"window_size": 2.5}}}, "topics.SITE-X.window_size"),
        (
            {"topics": {"SITE-X": {"windw_size": 3}}},
            "topics.SITE-X.windw_size: unknown key (did you mean 'window_size'?)",
        ),
        (
            {"topics": {"SITE-X": {"kind": "rolling"}}},
            "topics.SITE-X.kind: Input should be 'latest', 'append'",
        ),
        ({"topics": {"SITE-X": {"padding": "cubic"}}}, "topics.SITE-X.padding"),
        ({"topics": {"SITE-X": {"interval_seconds": -15}}}, "topics.SITE-X.interval_seconds"),
        (
            {"topics": {"SITE-X": {"fields": "meterPower"}}},
            "topics.SITE-X.fields: Input should be a valid list",
        ),
        (
            {"topics": {"SITE-X": {"kind": "per_device"}}},
            "topics.SITE-X.device_key: required for kind 'per_device'",
        ),
        ({"topics": {"SITE-X": {"scope": "global", "kind": "append"}}}, "topics.SITE-X.scope"),
        ({"TOPIC_DETAIL": {"SITE-X": {"window_size": 0}}}, "TOPIC_DETAIL.SITE-X.window_size"),
        ({"servce": {}}, "servce: unknown configuration section (did you mean 'service'?)"),
        ({"service": {"max_workers": 0}}, "service.max_workers"),
        ({"service": {"padding_strategy": "spline"}}, "service.padding_strategy"),
        ({"service": {"window_format": "arrow"}}, "service.window_format"),
        ({"offset_commit": {"commit_batch_size": "100"}}, "offset_commit.commit_batch_size"),
        (
            {"OFFSET_COMMIT_CONFIG": {"commit_intervall_seconds": 2}},
            "OFFSET_COMMIT_CONFIG.commit_intervall_seconds: unknown key (did you mean 'commit_interval_seconds'?)",
        ),
        ({"kafka": {"group_id": "g"}}, "kafka.bootstrap_servers: missing"),
        (
            {"kafka": {"consumer": {"group_id": "g"}, "producer": {"acks": "all"}}},
            "kafka.bootstrap_servers: missing",
        ),
        (
            {"kafka": {"bootstrap_servers": "k:9092", "max_poll_records": "many"}},
            "kafka.max_poll_records: Input should be a valid integer",
        ),
        (
            {"kafka": {"bootstrap_servers": "k:9092", "consumer": {"auto_offset_reset": "newest"}}},
            "kafka.consumer.auto_offset_reset",
        ),
        (
            {"kafka": {"bootstrap_servers": "k:9092", "producer": {"compression_type": "rar"}}},
            "kafka.producer.compression_type",
        ),
        ({"KAFKA_CONFIG": {"group_id": "g"}}, "KAFKA_CONFIG.bootstrap_servers: missing"),
        (
            {"module_dependencies": {"operation_optimization": ["laod_prediction"]}},
            "module_dependencies.operation_optimization[0]: unknown module 'laod_prediction' (did you mean 'load_prediction'?)",
        ),
        (
            {"module_dependencies": {"operation_optimization": "load_prediction"}},
            "module_dependencies.operation_optimization: Input should be a valid list",
        ),
        (
            {"topics": {"SITE-X": {"modules": ["load_predictoin"]}}},
            "topics.SITE-X.modules[0]: unknown module 'load_predictoin' (did you mean 'load_prediction'?)",
        ),
        (
            {"required_topics": {"load_prediction": ["SCHEDULE-DEVICE-METRE"]}},
            "required_topics.load_prediction[0]: topic 'SCHEDULE-DEVICE-METRE' is not configured (did you mean 'SCHEDULE-DEVICE-METER'?)",
        ),
        (
            {"required_topics": {"load_prediction": ["SCHEDULE-DEVICE-GUN"]}},
            "required_topics.load_prediction[0]: module 'load_prediction' does not read topic 'SCHEDULE-DEVICE-GUN'",
        ),
        ({"required_topics": {"no_such_module": []}}, "required_topics.no_such_module: unknown module"),
    ],
)
def test_each_problem_names_its_key(document: dict, expected: str) -> None:
    problems = problems_of(document)
    assert any(expected in p for p in problems), problems


def test_self_dependency_is_named_as_a_cycle() -> None:
    (problem,) = problems_of({"module_dependencies": {"load_prediction": ["load_prediction"]}})
    assert "dependency cycle load_prediction -> load_prediction" in problem


def test_longer_cycle_is_named_in_dependency_direction() -> None:
    (problem,) = problems_of(
        {
            "module_dependencies": {
                "operation_optimization": ["load_prediction"],
                "load_prediction": ["thermal_management"],
                "thermal_management": ["operation_optimization"],
            }
        }
    )
    cycle = problem.split("dependency cycle ", 1)[1].split(" (", 1)[0]
    hops = cycle.split(" -> ")
    assert hops[0] == hops[-1]
    assert set(hops) == {"operation_optimization", "load_prediction", "thermal_management"}
    deps = {
        "operation_optimization": "load_prediction",
        "load_prediction": "thermal_management",
        "thermal_management": "operation_optimization",
    }
    for module, dependency in zip(hops, hops[1:], strict=False):
        assert deps[module] == dependency, cycle


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(
        {
            "kafka": {"group_id": "g"},
            "topics": {"SITE-X": {"kind": "per_device"}},
            "module_dependencies": {"operation_optimization": ["laod_prediction"]},
        }
    )
    assert len(problems) == 3, problems
    text = str(ConfigError(problems))
    assert text.startswith("3 configuration problems:")


def test_valid_custom_topic_with_padding_and_expiry() -> None:
    config = load_config(
        {
            "topics": {
                "SITE-X": {
                    "fields": ["v"],
                    "interval_seconds": 15,
                    "padding": "linear",
                    "expire_seconds": 86400,
                }
            }
        }
    )
    topic = config.topics["SITE-X"]
    assert (topic.padding, topic.expire_seconds, topic.interval_seconds) == ("linear", 86400, 15)
