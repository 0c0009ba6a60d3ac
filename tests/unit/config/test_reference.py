"""The configuration reference: every key is described, and docs/CONFIGURATION.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from d_a.config.reference import SECTIONS, render_reference

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("section", SECTIONS, ids=lambda section: section.title)
def test_every_key_has_a_description(section) -> None:
    undescribed = [name for name, info in section.model.model_fields.items() if not (info.description or "").strip()]
    assert not undescribed, f"{section.title}: keys without a description: {undescribed}"


def test_the_reference_page_is_written_from_the_schema() -> None:
    page = (REPO / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    assert page == render_reference(), "docs/CONFIGURATION.md is out of date: run `make docs`"


def test_the_reference_lists_every_service_key_with_its_default() -> None:
    page = render_reference()
    assert "| `max_workers` | integer >= 1 | `32` |" in page
    assert '| `backlog_runs` | `newest` \\| `every_batch` | `"newest"` |' in page
    assert '| `group_id` | string or null | `"data_analysis_group"` |' in page  # d_a's default, not the library's
    assert "| `retries` | integer >= 0 or null | library's |" in page
