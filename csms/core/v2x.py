"""Pure rules of OCPP 2.1 V2X (bidirectional) commands: what a V2X schedule and an allowed
energy transfer must be before any station sees them (decision 0909)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from csms.core.results import CommandResult
from csms.domain import OPERATION_MODES, ChargingLimit, V2XPeriod
from csms.quantities import MAX_POWER_W

__all__ = ["ENERGY_TRANSFER_MODES", "V2XLink", "limit_problems", "transfer_mode_problems"]

#: OCPP 2.1 EnergyTransferModeEnumType
ENERGY_TRANSFER_MODES = (
    "AC_single_phase", "AC_two_phase", "AC_three_phase", "DC", "AC_BPT", "AC_BPT_DER", "AC_DER",
    "DC_BPT", "DC_ACDP", "DC_ACDP_BPT", "WPT",
)  # fmt: skip


@runtime_checkable
class V2XLink(Protocol):
    """What an OCPP 2.1 adapter adds for V2X: NotifyAllowedEnergyTransfer; a link that has
    it also takes V2X schedules (:attr:`ChargingLimit.v2x`, setpoints, discharge)."""

    async def notify_allowed_energy_transfer(
        self, *, station_tx_id: str, modes: Sequence[str]
    ) -> CommandResult: ...


def _number(name: str, value: float | None, low: float, high: float) -> list[str]:
    if value is None:
        return []
    if not math.isfinite(value) or not low <= value <= high:
        return [f"{name} must be a finite number in [{low:g}, {high:g}], not {value!r}"]
    return []


def _period_problems(i: int, p: V2XPeriod) -> list[str]:
    where = f"v2x[{i}]"
    out: list[str] = []
    if p.mode not in OPERATION_MODES:
        out.append(f"{where}.mode {p.mode!r} is not an OCPP 2.1 operation mode")
    if p.mode == "CentralSetpoint" and p.setpoint is None:
        out.append(f"{where}: CentralSetpoint needs a setpoint")
    for name in ("setpoint", "setpoint_l2", "setpoint_l3"):
        out += _number(f"{where}.{name}", getattr(p, name), -MAX_POWER_W, MAX_POWER_W)
    out += _number(f"{where}.limit", p.limit, 0.0, MAX_POWER_W)
    out += _number(f"{where}.discharge_limit", p.discharge_limit, -MAX_POWER_W, 0.0)
    return out


def limit_problems(limit: ChargingLimit, *, bidirectional: bool) -> list[str]:
    """Why ``limit`` may not go to a station (empty: it may): a V2X schedule or a negative
    limit to a station that is not bidirectional (1.6 and 2.0.1 never get one), a period
    out of range or out of order."""
    out: list[str] = []
    if any(value < 0 for _, value, _ in limit.schedule):
        out.append("a charging limit is never negative (discharge needs a V2X schedule)")
    if not limit.v2x:
        return out
    if not bidirectional:
        out.append("V2X schedules need an OCPP 2.1 station")
    starts = [p.start_s for p in limit.v2x]
    if starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)):
        out.append("v2x periods must start at 0 and have increasing start_s")
    for i, period in enumerate(limit.v2x):
        out += _period_problems(i, period)
    return out


def transfer_mode_problems(modes: tuple[str, ...]) -> list[str]:
    """Why ``modes`` is not an allowed energy transfer (empty: it is)."""
    if not modes:
        return ["at least one energy transfer mode"]
    return [
        f"{m!r} is not an energy transfer mode" for m in modes if m not in ENERGY_TRANSFER_MODES
    ]
