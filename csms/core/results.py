"""What stations answer to commands, version-neutral: the status with the whole payload, a
composite schedule, configuration keys and component variables (re-exported by
:mod:`csms.core.commands`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from csms.domain import ChargingRateUnit

__all__ = ["CommandResult", "CompositeSchedule", "VariableResult"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The station's answer: ``status`` as it sent it, plus the whole payload."""

    status: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    evse_id: int
    unit: ChargingRateUnit
    start_at: datetime | None
    duration_s: int | None
    periods: tuple[tuple[int, float, int | None], ...]


@dataclass(frozen=True, slots=True)
class VariableResult:
    """One configuration key (1.6) or component variable (2.0.1)."""

    component: str | None
    variable: str
    value: str | None
    status: str
    readonly: bool | None = None
