"""The V2X part of an EV's needs as the store keeps it (decision 0909): one JSON text that
reads back whole; a stored value that no longer reads is skipped and logged, never fatal."""

from __future__ import annotations

import pytest

from csms.domain import EVChargingNeeds, V2XParameters
from csms.store.mapping import v2x_fields, v2x_text


def test_the_v2x_part_reads_back_whole() -> None:
    needs = EVChargingNeeds(
        energy_transfer_mode="DC_BPT",
        v2x=V2XParameters(max_discharge_power_w=50_000.0, min_v2x_energy_wh=-20_000.0),
        available_energy_transfer=("DC", "DC_BPT"),
        control_mode="DynamicControl",
    )
    assert EVChargingNeeds(energy_transfer_mode="DC_BPT", **v2x_fields(v2x_text(needs))) == needs
    assert v2x_text(EVChargingNeeds(energy_requested_wh=1.0)) is None  # a 2.0.1 EV: nothing


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"v2x": {"no_such_field": 1}, "available": [], "control_mode": null}',
        '{"v2x": null}',
    ],
)
def test_a_stored_value_that_no_longer_reads_is_skipped(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert v2x_fields(text) == {}
    assert "stored V2X needs skipped" in caplog.text
