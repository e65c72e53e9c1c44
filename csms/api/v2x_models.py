"""The OCPP 2.1 V2X commands' bodies: a V2X charging schedule (an operation mode per period,
signed setpoints in W, per phase where given, discharge limits) and the energy transfer modes
allowed to a transaction (decision 0909). Every number finite and in range, else 422."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from csms import ids

__all__ = ["AllowedEnergyTransfer", "SetV2XProfile", "V2XPeriodIn", "check_starts"]

OperationMode = Literal[
    "Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint", "ExternalLimits",
    "CentralFrequency", "LocalFrequency", "LocalLoadBalancing",
]  # fmt: skip
TransferMode = Literal[
    "AC_single_phase", "AC_two_phase", "AC_three_phase", "DC", "AC_BPT", "AC_BPT_DER", "AC_DER",
    "DC_BPT", "DC_ACDP", "DC_ACDP_BPT", "WPT",
]  # fmt: skip
_MAX_W = 1e7


def check_starts(starts: list[int]) -> None:
    """A schedule's period starts: from 0, increasing."""
    if starts[0] != 0:
        raise ValueError("periods[0].start_s must be 0")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        raise ValueError("periods must have increasing start_s")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class V2XPeriodIn(_In):
    start_s: int = Field(ge=0, le=10 * 86400, description="offset from the schedule start")
    mode: OperationMode
    setpoint_w: float | None = Field(
        default=None, ge=-_MAX_W, le=_MAX_W, description="negative: discharge (L1 with L2/L3)"
    )
    setpoint_l2_w: float | None = Field(default=None, ge=-_MAX_W, le=_MAX_W)
    setpoint_l3_w: float | None = Field(default=None, ge=-_MAX_W, le=_MAX_W)
    limit_w: float | None = Field(default=None, ge=0, le=_MAX_W, description="most it charges")
    discharge_limit_w: float | None = Field(
        default=None, ge=-_MAX_W, le=0, description="most it gives, <= 0"
    )

    @model_validator(mode="after")
    def _setpoint(self) -> V2XPeriodIn:
        if self.mode == "CentralSetpoint" and self.setpoint_w is None:
            raise ValueError("a CentralSetpoint period needs setpoint_w")
        return self


class SetV2XProfile(_In):
    """A V2X TxProfile (with ``transaction_id``) or TxDefaultProfile in W to an OCPP 2.1
    EVSE."""

    command: Literal["set_v2x_profile"]
    station_id: ids.StationId
    evse_id: int = Field(ge=1, le=1000)
    periods: list[V2XPeriodIn] = Field(min_length=1, max_length=24)
    stack_level: int = Field(default=1, ge=0, le=100)
    profile_id: int = Field(default=1, ge=1, le=2**31 - 1)
    duration_s: int | None = Field(default=None, ge=1, le=10 * 86400)
    transaction_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _ordered(self) -> SetV2XProfile:
        check_starts([p.start_s for p in self.periods])
        return self


class AllowedEnergyTransfer(_In):
    """OCPP 2.1 NotifyAllowedEnergyTransfer for a (CSMS) transaction."""

    command: Literal["notify_allowed_energy_transfer"]
    station_id: ids.StationId
    transaction_id: int = Field(ge=1, le=2**31 - 1)
    modes: list[TransferMode] = Field(min_length=1, max_length=11)
