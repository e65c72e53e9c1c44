"""Per-station quirks found where the protocol tells them (sans-I/O).

The site file's ``[[quirks]]`` for a station model are authoritative; what the station reports
(1.6 GetConfiguration, 2.0.1 GetVariables) and what it rejects fills in the rest:

- ``ChargingScheduleAllowedChargingRateUnit`` (1.6) / ``SmartChargingCtrlr.RateUnit`` (2.0.1):
  only ``Current`` -> profiles in A, only ``Power`` -> in W;
- ``ChargeProfileMaxStackLevel`` / ``SmartChargingCtrlr.ProfileStackLevel``: the stack limit;
- ``SmartChargingCtrlr.PeriodsPerSchedule`` = 1: one period per schedule;
- a rejected TxProfile in one unit: try the other unit next (unless the site file fixed it).
"""

from __future__ import annotations

from csms.sites.model import StationQuirks

__all__ = ["CONFIG_KEYS_16", "VARIABLES_201", "after_rejection", "detected_quirks"]

CONFIG_KEYS_16 = ("ChargingScheduleAllowedChargingRateUnit", "ChargeProfileMaxStackLevel")
VARIABLES_201 = (
    ("SmartChargingCtrlr", "RateUnit"),
    ("SmartChargingCtrlr", "ProfileStackLevel"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule"),
)


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def detected_quirks(
    model: str, values: dict[str, str | None], configured: StationQuirks | None
) -> StationQuirks:
    """Quirks from reported values (keyed by variable name), under the configured ones."""
    fields: dict[str, object] = {}
    units = values.get("ChargingScheduleAllowedChargingRateUnit") or values.get("RateUnit")
    if units:
        given = {u.strip().lower() for u in units.replace(";", ",").split(",")}
        if given <= {"current", "a"}:
            fields["unit"] = "A"
        elif given <= {"power", "w"}:
            fields["unit"] = "W"
    stack = _int(values.get("ChargeProfileMaxStackLevel") or values.get("ProfileStackLevel"))
    if stack is not None and stack >= 0:
        fields["max_stack_level"] = stack
    if _int(values.get("PeriodsPerSchedule")) == 1:
        fields["single_period"] = True
    if configured is not None:
        explicit = configured.model_dump(exclude_unset=True)
        fields.update({k: v for k, v in explicit.items() if k != "model"})
        base = configured.model_dump()
        base.update(fields)
        base["model"] = model
        return StationQuirks.model_validate(base)
    return StationQuirks.model_validate({"model": model or "unknown", **fields})


def after_rejection(
    quirks: StationQuirks | None, configured: StationQuirks | None
) -> StationQuirks:
    """What to try after a TxProfile was rejected: the other rate unit, unless configured."""
    current = quirks or StationQuirks(model=configured.model if configured else "unknown")
    if configured is not None and "unit" in configured.model_fields_set:
        return current
    other = "W" if current.unit in (None, "A") else "A"
    return current.model_copy(update={"unit": other})
