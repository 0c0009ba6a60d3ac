"""Where configuration comes from, and what is derived from it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

import d_a.config
from d_a.config import Config, default_document, get_config, load_config
from d_a.errors import ConfigError

INPUT_TOPICS = {
    "SCHEDULE-STATION-PARAM",
    "SCHEDULE-STATION-REALTIME-DATA",
    "SCHEDULE-ENVIRONMENT-CALENDAR",
    "SCHEDULE-ENVIRONMENT-WEATHER",
    "SCHEDULE-DEVICE-METER",
    "SCHEDULE-DEVICE-GUN",
    "SCHEDULE-CAR-ORDER",
    "SCHEDULE-CAR-PRICE",
    "SCHEDULE-DEVICE-ERROR",
    "SCHEDULE-DEVICE-HOST-DCDC",
    "SCHEDULE-DEVICE-HOST-ACDC",
    "SCHEDULE-DEVICE-STORAGE",
    "SCHEDULE-DEVICE-PV",
}
MODULES = {
    "load_prediction",
    "pv_prediction",
    "evaluation_model",
    "SOH_model",
    "electricity_price",
    "operation_optimization",
    "station_guidance",
    "thermal_management",
    "customer_mining",
}


def test_default_has_the_spec_topics_modules_and_window_sizes() -> None:
    config = load_config()
    assert set(config.input_topics) == INPUT_TOPICS
    assert set(config.modules) == MODULES
    assert config.output_topics == [f"MODULE-OUTPUT-{m.upper()}" for m in config.modules]
    sizes = {name: config.topics[name].window_size for name in INPUT_TOPICS}
    assert sizes["SCHEDULE-CAR-ORDER"] == 7 * 24 * 60 * 60
    assert sizes["SCHEDULE-DEVICE-GUN"] == sizes["SCHEDULE-DEVICE-STORAGE"] == 7 * 24 * 60 * 4
    assert sizes["SCHEDULE-DEVICE-METER"] == 7 * 24 * 12
    assert sizes["SCHEDULE-STATION-REALTIME-DATA"] == 7 * 24
    assert config.topics["SCHEDULE-ENVIRONMENT-CALENDAR"].scope == "global"
    assert config.topics["SCHEDULE-DEVICE-STORAGE"].device_key == "storageId"


def test_modules_come_after_their_dependencies() -> None:
    config = load_config()
    position = {m: i for i, m in enumerate(config.modules)}
    assert config.module_dependencies["electricity_price"] == [
        "pv_prediction",
        "evaluation_model",
        "SOH_model",
    ]
    for module, deps in config.module_dependencies.items():
        for dep in deps:
            assert position[dep] < position[module], f"{dep} must come before {module}"


def test_every_output_topic_is_a_window_1_topic_read_by_its_dependents() -> None:
    config = load_config()
    load_out = config.topics["MODULE-OUTPUT-LOAD_PREDICTION"]
    assert load_out.window_size == 1
    assert set(load_out.modules) == {"operation_optimization", "station_guidance", "thermal_management"}
    assert "MODULE-OUTPUT-LOAD_PREDICTION" in config.module_to_topics["operation_optimization"]
    assert config.topics["MODULE-OUTPUT-CUSTOMER_MINING"].modules == []
    assert config.topics_for("thermal_management")[-2:] == [
        "MODULE-OUTPUT-LOAD_PREDICTION",
        "MODULE-OUTPUT-OPERATION_OPTIMIZATION",
    ]


def test_topic_to_modules_and_module_to_topics_agree() -> None:
    config = load_config()
    for topic, modules in config.topic_to_modules.items():
        for module in modules:
            assert topic in config.module_to_topics[module]
    assert sum(map(len, config.topic_to_modules.values())) == sum(map(len, config.module_to_topics.values()))


def test_seed_module_level_names_stay_importable() -> None:
    from d_a.config import (  # noqa: F401 - importing them is the test
        KAFKA_CONFIG,
        MODULE_DEPENDENCIES,
        MODULE_OUTPUT_TOPIC_PREFIX,
        MODULE_OUTPUT_TOPICS,
        MODULE_TO_TOPICS,
        OFFSET_COMMIT_CONFIG,
        TOPIC_DETAIL,
        TOPIC_TO_MODULES,
    )

    assert KAFKA_CONFIG["bootstrap_servers"] == ["localhost:9092"]
    assert KAFKA_CONFIG["consumer"]["group_id"] == "data_analysis_group"
    assert TOPIC_DETAIL["SCHEDULE-DEVICE-METER"]["window_size"] == 2016
    assert MODULE_OUTPUT_TOPICS["SOH_model"] == "MODULE-OUTPUT-SOH_MODEL"
    assert MODULE_OUTPUT_TOPIC_PREFIX == "MODULE-OUTPUT-"
    assert OFFSET_COMMIT_CONFIG == {
        "commit_interval_seconds": 5.0,
        "commit_batch_size": 100,
        "max_commit_retries": 3,
        "commit_retry_delay": 1.0,
    }
    assert "MODULE-OUTPUT-LOAD_PREDICTION" in TOPIC_DETAIL
    assert TOPIC_TO_MODULES["SCHEDULE-DEVICE-GUN"] == ["operation_optimization"]
    assert "SCHEDULE-DEVICE-GUN" in MODULE_TO_TOPICS["operation_optimization"]
    assert "TOPIC_DETAIL" in dir(d_a.config)
    with pytest.raises(AttributeError):
        d_a.config.NOT_A_CONFIG_NAME  # noqa: B018


def test_legacy_view_loads_back_to_the_same_config() -> None:
    config = load_config()
    again = load_config(config.legacy())
    assert again.topics == config.topics
    assert again.kafka.consumer == config.kafka.consumer
    assert again.modules == config.modules


def test_yaml_file_changes_only_the_sections_it_has(tmp_path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        yaml.safe_dump({"kafka": {"bootstrap_servers": "kafka-a:9092,kafka-b:9092", "group_id": "site-7"}}),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.kafka.bootstrap_servers == ["kafka-a:9092", "kafka-b:9092"]
    assert config.kafka.consumer["group_id"] == "site-7"
    assert set(config.input_topics) == INPUT_TOPICS
    assert config.source == str(path)


def test_environment_variable_then_local_file_then_default(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config().source == "packaged default"

    (tmp_path / "config.yaml").write_text("kafka:\n  bootstrap_servers: local:9092\n", encoding="utf-8")
    assert load_config().kafka.bootstrap_servers == ["local:9092"]

    env_file = tmp_path / "env.yaml"
    env_file.write_text("kafka:\n  bootstrap_servers: [env:9092]\n", encoding="utf-8")
    monkeypatch.setenv("DATA_ANALYSIS_CONFIG_PATH", str(env_file))
    assert load_config().kafka.bootstrap_servers == ["env:9092"]
    assert get_config().kafka.bootstrap_servers == ["env:9092"]


def test_python_module_file_with_seed_names(tmp_path) -> None:
    path = tmp_path / "config.py"
    path.write_text(
        textwrap.dedent(
            """
            KAFKA_CONFIG = {"bootstrap_servers": ["py:9092"], "group_id": "from-python"}
            MODULE_DEPENDENCIES = {"operation_optimization": ["load_prediction"]}
            UNRELATED_HELPER = 42
            """
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.kafka.consumer["group_id"] == "from-python"
    assert config.module_dependencies["operation_optimization"] == ["load_prediction"]
    assert config.module_dependencies["electricity_price"] == []


def test_dict_with_a_new_topic_and_module() -> None:
    config = load_config(
        {
            "topics": {
                "SITE-WIND-SPEED": {
                    "fields": ["windSpeed"],
                    "interval_seconds": 60,
                    "window_size": 1440,
                    "modules": ["wind_forecast"],
                }
            },
            "module_dependencies": {},
        }
    )
    assert config.module_to_topics["wind_forecast"] == ["SITE-WIND-SPEED"]
    assert config.module_output_topics["wind_forecast"] == "MODULE-OUTPUT-WIND_FORECAST"
    assert config.topics["SITE-WIND-SPEED"].kind == "append"


@pytest.mark.parametrize(
    ("content", "expected"),
    [("kafka: [unclosed", "not valid YAML"), ("- just\n- a list\n", "expected a mapping")],
)
def test_unreadable_files_are_config_errors(tmp_path, content, expected) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*nowhere.yaml"):
        load_config(tmp_path / "nowhere.yaml")


def test_default_document_is_a_fresh_copy() -> None:
    first = default_document()
    first["topics"].clear()
    assert default_document()["topics"]


def test_config_object_is_returned_as_is() -> None:
    config = load_config()
    assert load_config(config) is config
    assert isinstance(config, Config)


def test_importing_d_a_reads_no_config_and_touches_no_logging(tmp_path) -> None:
    script = (
        "import logging, os, d_a, d_a.config\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
        "print('ok')\n"
    )
    env = {"DATA_ANALYSIS_CONFIG_PATH": str(tmp_path / "does-not-exist.yaml"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_output_topic_prefix_alone_renames_every_output_topic() -> None:
    config = load_config({"module_output_topic_prefix": "SITE7-OUT-"})
    assert config.module_output_topics["load_prediction"] == "SITE7-OUT-LOAD_PREDICTION"
    assert "SITE7-OUT-LOAD_PREDICTION" in config.module_to_topics["operation_optimization"]
    assert not any(t.startswith("MODULE-OUTPUT-") for t in config.topics)


def test_slow_topics_outlive_the_default_idle_expiry() -> None:
    topics = load_config().topics
    assert topics["SCHEDULE-STATION-REALTIME-DATA"].expire_seconds >= 3600
    assert topics["SCHEDULE-STATION-PARAM"].expire_seconds >= 86400
    assert topics["SCHEDULE-CAR-PRICE"].expire_seconds >= 31 * 86400


def test_a_config_py_next_to_the_package_comes_before_config_yaml(tmp_path, monkeypatch) -> None:
    """The seeds mount their config.py at <package>/config.py (Docker, Kubernetes)."""
    import d_a.config.loader as loader

    mounted = tmp_path / "mounted.py"
    mounted.write_text("OFFSET_COMMIT_CONFIG = {'commit_batch_size': 7}\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text("offset_commit: {commit_batch_size: 8}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config().offset_commit.commit_batch_size == 8
    monkeypatch.setattr(loader, "PACKAGE_MOUNT", mounted)
    assert load_config().offset_commit.commit_batch_size == 7
    monkeypatch.setenv("DATA_ANALYSIS_CONFIG_PATH", str(tmp_path / "config.yaml"))
    assert load_config().offset_commit.commit_batch_size == 8


def test_the_config_package_itself_as_a_source_reads_the_default_sources_again(tmp_path, monkeypatch) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("service: {data_expire_seconds: 7200}\n", encoding="utf-8")
    monkeypatch.setenv("DATA_ANALYSIS_CONFIG_PATH", str(path))
    assert load_config(d_a.config).service.data_expire_seconds == 7200


def test_a_config_module_is_imported_again_on_reread(tmp_path, monkeypatch) -> None:
    import importlib

    from d_a.config import reread

    (tmp_path / "site_settings.py").write_text("OFFSET_COMMIT_CONFIG = {'commit_batch_size': 7}\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("site_settings")
    assert load_config(module).offset_commit.commit_batch_size == 7
    (tmp_path / "site_settings.py").write_text("OFFSET_COMMIT_CONFIG = {'commit_batch_size': 9}\n", "utf-8")
    importlib.invalidate_caches()
    assert load_config(reread(module)).offset_commit.commit_batch_size == 9


def test_with_module_registers_a_module_the_configuration_does_not_list() -> None:
    config = load_config().with_module("test_module", ["SCHEDULE-DEVICE-METER", "SCHEDULE-CAR-PRICE"])
    assert config.topics_for("test_module") == ["SCHEDULE-DEVICE-METER", "SCHEDULE-CAR-PRICE"]
    assert config.module_output_topics["test_module"] == "MODULE-OUTPUT-TEST_MODULE"
    assert "MODULE-OUTPUT-TEST_MODULE" in config.topics and config.modules[-1] == "test_module"
    with pytest.raises(ConfigError, match="NOPE"):
        load_config().with_module("x", ["NOPE"])


def test_an_ellipsis_placeholder_is_named() -> None:
    with pytest.raises(ConfigError, match=r"topics\.X\.fields\.1: `\.\.\.` is a placeholder"):
        load_config({"topics": {"X": {"fields": ["a", ...]}}})
