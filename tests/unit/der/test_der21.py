"""The 2.1 translation of DER controls: every control type encodes to a schema-valid
SetDERControl, and a ReportDERControl decodes to the same controls."""

from __future__ import annotations

from typing import Any

import pytest

from csms.der import SETTING_KEYS, DerControl, DerControlType, InvalidDerControl, check_setting
from csms.ocpp import validation
from csms.ocpp.casing import to_snake
from csms.ocpp.der21 import FIELD_OF_SETTING, reported_controls, set_der_control_payload

SAMPLES: dict[str, dict[str, Any]] = {
    "curve": {"priority": 1, "y_unit": "PctMaxW", "curve_data": [{"x": 50.0, "y": 100.0}]},
    "enter_service": {
        "priority": 0,
        "high_voltage": 105.0,
        "low_voltage": 91.7,
        "high_freq": 50.1,
        "low_freq": 49.9,
        "ramp_rate": 300.0,
    },
    "fixed_pf_absorb": {"priority": 1, "displacement": 0.9, "excitation": False},
    "fixed_pf_inject": {"priority": 1, "displacement": 0.95, "excitation": True},
    "fixed_var": {"priority": 2, "setpoint": 20.0, "unit": "PctMaxVar", "duration": 600.0},
    "freq_droop": {
        "priority": 1,
        "over_freq": 50.2,
        "under_freq": 49.8,
        "over_droop": 5.0,
        "under_droop": 5.0,
        "response_time": 2.0,
    },
    "gradient": {"priority": 1, "gradient": 10.0, "soft_gradient": 2.0},
    "limit_max_discharge": {"priority": 1, "pct_max_discharge_power": 50.0},
}


def sample(control_type: DerControlType) -> DerControl:
    kind = DerControl("c", control_type, False, {}).setting_kind
    return DerControl(f"c-{control_type.value}", control_type, False, SAMPLES[kind])


def test_every_kind_has_keys_a_field_and_a_sample() -> None:
    assert set(SETTING_KEYS) == set(FIELD_OF_SETTING) == set(SAMPLES)


@pytest.mark.parametrize("control_type", list(DerControlType))
def test_every_control_type_encodes_to_a_schema_valid_request(
    control_type: DerControlType,
) -> None:
    payload = set_der_control_payload(check_setting(sample(control_type)))
    validation.validate("2.1", "SetDERControl", validation.CALL, payload)
    assert payload["controlType"] == control_type.value


def test_a_report_decodes_to_the_controls_it_lists() -> None:
    curve = sample(DerControlType.VOLT_WATT)
    payload = {
        "requestId": 1,
        "curve": [
            {
                "id": curve.control_id,
                "curveType": "VoltWatt",
                "isDefault": False,
                "isSuperseded": True,
                "curve": set_der_control_payload(curve)["curve"],
            }
        ],
        "enterService": [
            {
                "id": "es",
                "enterService": set_der_control_payload(sample(DerControlType.ENTER_SERVICE))[
                    "enterService"
                ],
            }
        ],
    }
    validation.validate("2.1", "ReportDERControl", validation.CALL, payload)
    [decoded_curve, enter] = reported_controls(to_snake(payload))
    assert decoded_curve.setting == curve.setting and decoded_curve.superseded
    assert enter.control_type is DerControlType.ENTER_SERVICE
    assert enter.setting == SAMPLES["enter_service"]


def test_a_curve_entry_of_a_type_that_is_not_a_curve_is_refused() -> None:
    payload = {
        "curve": [
            {
                "id": "x",
                "curve_type": "FixedVar",
                "is_default": False,
                "is_superseded": False,
                "curve": SAMPLES["curve"],
            }
        ]
    }
    with pytest.raises(InvalidDerControl, match="fixed_var"):
        reported_controls(payload)
