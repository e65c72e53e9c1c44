"""A station model's allowed pilot currents: above 0 A, finite, strictly increasing."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from csms.sites import StationQuirks


def test_allowed_currents_are_checked_at_the_boundary() -> None:
    assert StationQuirks(model="cc", allowed_currents_a=(8, 16, 24, 32)).allowed_currents_a == (
        8.0,
        16.0,
        24.0,
        32.0,
    )
    for bad in ((16.0, 8.0), (8.0, 8.0), (0.0, 8.0), (-8.0,), (math.inf,), (math.nan,)):
        with pytest.raises(ValidationError) as info:
            StationQuirks(model="cc", allowed_currents_a=bad)
        assert "allowed_currents_a" in str(info.value)
