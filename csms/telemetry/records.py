"""The records telemetry stores besides domain events: plans, grid constraints, storage and
site readings given to :class:`~csms.telemetry.recorder.TelemetryRecorder` by the planner,
storage control and the API (plain data; :mod:`csms.telemetry.points` encodes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from csms.events import DomainEvent

__all__ = [
    "GridConstraintRecord",
    "PlanRecord",
    "PlanStep",
    "Record",
    "SiteRecord",
    "StorageRecord",
]


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of an optimizer plan for one asset."""

    start: datetime
    power_w: float
    constraint: str | None = None
    energy_wh: float | None = None
    soc_pct: float | None = None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """An optimizer plan for one asset: one ``plan`` point per step."""

    site: str
    asset_kind: str
    asset: str
    plan_id: str | None
    steps: tuple[PlanStep, ...]


@dataclass(frozen=True, slots=True)
class GridConstraintRecord:
    """A grid limit from outside the CSMS on a node of a site's limit tree."""

    site: str
    kind: str
    value: float
    unit: str
    at: datetime
    reason: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class StorageRecord:
    """A storage unit's state of charge, setpoint and measured power."""

    site: str
    storage: str
    at: datetime
    soc_pct: float | None = None
    setpoint_w: float | None = None
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """A site's import and export at the grid connection, PV production and load."""

    site: str
    at: datetime
    import_w: float | None = None
    export_w: float | None = None
    pv_w: float | None = None
    load_w: float | None = None


#: Everything the recorder buffers for the encoder.
Record = DomainEvent | PlanRecord | GridConstraintRecord | StorageRecord | SiteRecord
