"""OCPP 2.1 DER control messages to and from :mod:`csms.der.model` (pure).

A 2.1 SetDERControl carries the control's setting under the field of its kind
(``curve``, ``fixedPFAbsorb``, ...); a ReportDERControl lists the station's controls per
kind, each wrapped with its id and flags. The setting's own keys are the schema's, in
snake_case inside the central system.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from csms.der.model import DerControl, DerControlType, check_setting
from csms.ocpp.casing import to_camel

__all__ = ["FIELD_OF_SETTING", "reported_controls", "set_der_control_payload"]

#: the 2.1 field of each setting kind (the library's casing would spell ``fixedPfAbsorb``)
FIELD_OF_SETTING = {
    "curve": "curve",
    "enter_service": "enterService",
    "fixed_pf_absorb": "fixedPFAbsorb",
    "fixed_pf_inject": "fixedPFInject",
    "fixed_var": "fixedVar",
    "freq_droop": "freqDroop",
    "gradient": "gradient",
    "limit_max_discharge": "limitMaxDischarge",
}

_T = DerControlType
#: ReportDERControl (snake_case keys, as handlers get them): list field -> (the key of the
#: setting inside each entry, the control type; None: the entry names it in ``curve_type``)
_REPORTED: dict[str, tuple[str, DerControlType | None]] = {
    "curve": ("curve", None),
    "enter_service": ("enter_service", _T.ENTER_SERVICE),
    "fixed_pf_absorb": ("fixed_pf", _T.FIXED_PF_ABSORB),
    "fixed_pf_inject": ("fixed_pf", _T.FIXED_PF_INJECT),
    "fixed_var": ("fixed_var", _T.FIXED_VAR),
    "freq_droop": ("freq_droop", _T.FREQ_DROOP),
    "gradient": ("gradient", _T.GRADIENTS),
    "limit_max_discharge": ("limit_max_discharge", _T.LIMIT_MAX_DISCHARGE),
}


def set_der_control_payload(control: DerControl) -> dict[str, Any]:
    """The SetDERControl request (camelCase) for ``control``."""
    return {
        "isDefault": control.is_default,
        "controlId": control.control_id,
        "controlType": control.control_type.value,
        FIELD_OF_SETTING[control.setting_kind]: to_camel(dict(control.setting)),
    }


def reported_controls(payload: Mapping[str, Any]) -> list[DerControl]:
    """The controls of a ReportDERControl (snake_case payload), each checked
    (:class:`~csms.der.model.InvalidDerControl` naming the first unfit one)."""
    controls: list[DerControl] = []
    for field, (inner, control_type) in _REPORTED.items():
        for entry in payload.get(field) or ():
            kind = control_type or DerControlType(entry["curve_type"])
            control = DerControl(
                control_id=entry["id"],
                control_type=kind,
                is_default=bool(entry.get("is_default", False)),
                setting=dict(entry[inner]),
                superseded=bool(entry.get("is_superseded", False)),
            )
            controls.append(check_setting(control))
    return controls
