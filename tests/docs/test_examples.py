"""Every example in README.md, README.zh-CN.md and docs/ runs as printed.

Python blocks run as scripts in a fresh process, on the in-memory transport (D_A_TRANSPORT=memory,
as the README says to try them without Kafka); YAML blocks that are d_a configurations must load.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from d_a import load_config
from d_a.config.model import SECTION_NAMES

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", REPO / "README.zh-CN.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^([ \t]*)```(\w+)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(2) == language:
                line = text.count("\n", 0, match.start()) + 1
                code = textwrap.dedent(match.group(3))
                found.append(pytest.param(code, id=f"{document.relative_to(REPO)}:{line}"))
    return found


def test_the_documents_exist() -> None:
    missing = [str(d.relative_to(REPO)) for d in DOCUMENTS if not d.is_file()]
    assert not missing
    assert {"MIGRATION.md", "ARCHITECTURE.md", "PERFORMANCE.md"} <= {d.name for d in DOCUMENTS}


def test_the_readme_stays_short() -> None:
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("code", blocks("python"))
def test_python_example_runs(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "D_A_TRANSPORT": "memory",
        "DATA_ANALYSIS_LOG": str(tmp_path / "example.log"),
    }
    env.pop("DATA_ANALYSIS_CONFIG_PATH", None)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"


@pytest.mark.parametrize("text", blocks("yaml"))
def test_yaml_configuration_example_loads(text: str) -> None:
    document = yaml.safe_load(text)
    sections = set(SECTION_NAMES) | set(SECTION_NAMES.values())
    if not isinstance(document, dict) or not set(document) <= sections:
        pytest.skip("not a d_a configuration")
    load_config(document)


def test_the_deployment_example_sets_every_field_of_the_schema() -> None:
    """An operator copies deploy/config.yaml.example: every setting d_a has is there, with its
    default and what it does, so none is found only in the code."""
    from d_a.config.schema import OffsetCommitConfig, ServiceConfig, TopicConfig

    example = yaml.safe_load((REPO / "deploy" / "config.yaml.example").read_text(encoding="utf-8"))
    topic_keys = set().union(*(set(topic) for topic in example["topics"].values()))
    missing = {
        "service": sorted(set(ServiceConfig.model_fields) - set(example["service"])),
        "offset_commit": sorted(set(OffsetCommitConfig.model_fields) - set(example["offset_commit"])),
        "topics.*": sorted(set(TopicConfig.model_fields) - topic_keys),
    }
    assert not any(missing.values()), missing
    load_config(REPO / "deploy" / "config.yaml.example")
