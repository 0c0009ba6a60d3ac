"""check_field on lists of numbers (REALTIME-DATA's per-gun power): each element is checked."""

from __future__ import annotations

import pytest

from d_a.topics.bad_input import BadInput
from d_a.topics.fields import check_field


@pytest.mark.parametrize("value", [[1.5, 2, None, -0.0], [], [10**20]])
def test_numbers_accepts_ints_floats_and_gaps(value: list) -> None:
    check_field("outputPowerPerGunAvg", value, "numbers")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ([1.0, True], "wrong_type"),
        ([1.0, "2.0"], "wrong_type"),
        ([[1.0]], "wrong_type"),
        ([1.0, float("nan")], "non_finite"),
        ([float("-inf")], "non_finite"),
        ("1.0", "wrong_type"),
    ],
)
def test_numbers_names_the_first_bad_element(value: object, kind: str) -> None:
    with pytest.raises(BadInput) as raised:
        check_field("outputPowerPerGunAvg", value, "numbers")
    assert raised.value.kind == kind and "outputPowerPerGunAvg" in str(raised.value)
