"""The sites' bodies of the API (pydantic): apply results, node limits, constraints and
their acknowledgements, plans, PV and storage readings, site power."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, model_validator

from csms.api.models import Body
from csms.quantities import Percent
from csms.sites import GridConstraint, InvalidStoredConstraint

__all__ = [
    "AckOut",
    "ApplyOut",
    "ConstraintCreated",
    "ConstraintOut",
    "ConstraintStatus",
    "EvsePowerOut",
    "NodeLimitOut",
    "NodePowerOut",
    "PlanEvseOut",
    "PlanNodeOut",
    "PlanOut",
    "PlanStepOut",
    "PlanStorageOut",
    "PlanSwapRackOut",
    "PvForecastIn",
    "PvReadingIn",
    "RackSwapIn",
    "ReadingsIn",
    "ReadingsOut",
    "SitePowerOut",
    "StorageReadingIn",
    "SwapRackReadingIn",
]


class ApplyOut(BaseModel):
    revision: int
    changes: list[str] = Field(description="e.g. '~ node grid: max_import_w: 150000.0 -> 1e5'")
    warnings: list[str]


class NodeLimitOut(BaseModel):
    node_id: str
    max_import_w: float | None
    max_export_w: float | None
    max_phase_current_a: float | None
    binding: list[str] = Field(description="ids of the constraints that set these limits")


class AckOut(BaseModel):
    station_id: str
    evse_id: int
    accepted: bool
    at: datetime
    unit: str
    limit: float | None


class ConstraintCreated(BaseModel):
    constraint: GridConstraint
    warnings: list[str] = Field(
        description="e.g. a limit below the minimum charging power of the EVSEs under it"
    )
    limits: list[NodeLimitOut] = Field(description="every node's limits in force now")
    delivery_bound_s: float | None = Field(
        description="new limits reach the stations within this many seconds; null: no "
        "planner sends limits on a change (planning disabled or not optimizing)"
    )


class ConstraintOut(BaseModel):
    """A stored constraint as listed. A row that does not validate (written by an earlier
    version: a NULL or non-finite value) is listed with ``invalid: true`` and its
    ``problems``; the planner ignores it and ``DELETE`` removes it."""

    id: str
    site_id: str
    node_id: str | None
    kind: str | None
    start: datetime | None
    end: datetime | None
    source: str | None = None
    priority: int | None = None
    max_import_w: float | None = None
    max_export_w: float | None = None
    max_phase_current_a: float | None = None
    reduce_to_w: float | None = None
    reduce_by_pct: float | None = None
    import_price_per_kwh: float | None = None
    created_at: datetime | None = None
    cancelled_at: datetime | None = None
    invalid: bool = False
    problems: list[str] = Field(default_factory=list, description="why it is invalid")

    @classmethod
    def of(cls, constraint: GridConstraint | InvalidStoredConstraint) -> ConstraintOut:
        if isinstance(constraint, GridConstraint):
            return cls.model_validate(constraint.model_dump())
        fields = {k: v for k, v in constraint.values.items() if k in cls.model_fields}
        try:
            out = cls.model_validate({**fields, "id": constraint.id, "site_id": constraint.site_id})
        except ValueError:  # stored values of the wrong type: only the ids are shown
            out = cls(
                id=constraint.id,
                site_id=constraint.site_id,
                node_id=None,
                kind=None,
                start=None,
                end=None,
            )
        return out.model_copy(update={"invalid": True, "problems": list(constraint.problems)})


class ConstraintStatus(BaseModel):
    constraint: ConstraintOut
    acknowledged: list[AckOut] = Field(
        description="limits sent to the site's stations since the constraint last changed"
    )
    delivery_bound_s: float | None = Field(
        description="as in the answer to the creation; null: no planner sends limits"
    )


class PlanEvseOut(BaseModel):
    station_id: str
    evse_id: int
    online: bool | None = None
    transaction_id: int | None = None
    planned_w: float | None = Field(description="the plan's first-step limit")
    sent_w: float | None = Field(default=None, description="the limit last sent")
    ack: str | None = Field(
        default=None, description="pending, accepted, rejected, failed; null = nothing sent"
    )
    confirmed_w: float | None = Field(default=None, description="the limit the station confirmed")
    default_w: float | None = Field(default=None, description="its safe default profile")
    measured_w: float | None = None
    non_compliant: bool = False
    power_w: list[float] = Field(default_factory=list, description="planned power per step")


class PlanStepOut(BaseModel):
    start: datetime
    duration_s: float


class PlanStorageOut(BaseModel):
    storage_id: str
    power_w: list[float] = Field(description="per step; charge positive")
    soc_wh: list[float] = Field(description="at the end of each step")


class PlanSwapRackOut(BaseModel):
    swap_id: str
    station_id: str
    power_w: list[float] = Field(description="the rack's planned power per step")
    planned_w: float | None = Field(description="the first step's rack power")
    sent_w: float | None = Field(description="the rack limit last sent (station level)")
    ack: str | None
    packs_ready: int | None = Field(description="packs at the threshold as last reported")
    swaps_seen: int
    no_ready_pack_count: int = Field(description="swaps that found no ready pack")
    last_no_ready_pack_at: datetime | None
    unready_swaps_expected: list[datetime] = Field(
        description="forecast swaps the plan cannot ready a pack for"
    )


class PlanNodeOut(BaseModel):
    node_id: str
    power_w: list[float] = Field(description="planned net import per step")
    max_import_w: list[float | None]
    binding: list[str | None] = Field(
        description="per step, the limit that binds: import, export, L1, L2, L3 or null"
    )
    constraint_ids: list[list[str]] = Field(
        default_factory=list,
        description="per step, the grid constraints that set the node's limits at the step's "
        "start (empty: its own limits)",
    )


class PlanOut(BaseModel):
    site_id: str
    planned_at: datetime | None
    status: str | None = Field(description="optimal, fallback, default; null before a plan")
    solve_s: float | None = None
    non_compliance_count: int = 0
    steps: list[PlanStepOut] = Field(default_factory=list)
    evses: list[PlanEvseOut]
    storage: list[PlanStorageOut] = Field(default_factory=list)
    nodes: list[PlanNodeOut] = Field(default_factory=list)
    swap_racks: list[PlanSwapRackOut] = Field(default_factory=list)
    limits: list[NodeLimitOut] = Field(
        description="limits in force now, with the grid constraints that bind"
    )


# -- site readings (PV and storage, from the site's energy management) -------------------
Watts = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
ProducedW = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
AssetId = Annotated[str, Field(min_length=1, max_length=255)]


_Checked = TypeVar("_Checked", bound=BaseModel)


def _aware_fields(model: BaseModel, *names: str) -> None:
    for name in names:
        value = getattr(model, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must include a time zone offset")


def _aware_after(*names: str) -> Any:
    """A model's check, after its fields, that the times ``names`` carry a time zone."""

    def check(model: _Checked) -> _Checked:
        _aware_fields(model, *names)
        return model

    return model_validator(mode="after")(check)


class PvForecastIn(Body):
    start: datetime
    end: datetime
    power_w: ProducedW

    @model_validator(mode="after")
    def _window(self) -> PvForecastIn:
        _aware_fields(self, "start", "end")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class PvReadingIn(Body):
    pv_id: AssetId
    power_w: ProducedW = Field(description="AC power the plant produces now")
    at: datetime | None = Field(default=None, description="when it was measured; null: now")
    forecast: list[PvForecastIn] = Field(
        default_factory=list,
        max_length=1000,
        description="power expected ahead, in windows that do not overlap",
    )

    @model_validator(mode="after")
    def _forecast(self) -> PvReadingIn:
        _aware_fields(self, "at")
        windows = sorted(self.forecast, key=lambda f: f.start)
        for a, b in itertools.pairwise(windows):
            if b.start < a.end:
                raise ValueError(f"forecast windows overlap at {b.start.isoformat()}")
        self.forecast = windows
        return self


class StorageReadingIn(Body):
    storage_id: AssetId
    power_w: Watts = Field(description="AC power: positive charging (drawn from the site)")
    soc_pct: Percent | None = None
    at: datetime | None = Field(default=None, description="when it was measured; null: now")

    _at = _aware_after("at")


class RackSwapIn(Body):
    at: datetime
    pack_out_soc_pct: Percent | None = Field(
        description="SoC of the pack handed out; null: the station had none to hand out"
    )

    _at = _aware_after("at")


class SwapRackReadingIn(Body):
    swap_id: AssetId = Field(description="the site's [[swap]] station")
    pack_soc_pct: list[Percent] = Field(max_length=1000, description="SoC of each pack in the rack")
    pack_ids: list[AssetId] = Field(default_factory=list, max_length=1000)
    swaps: list[RackSwapIn] = Field(
        default_factory=list, max_length=1000, description="swaps since the last reading"
    )
    at: datetime | None = Field(default=None, description="when it was measured; null: now")

    @model_validator(mode="after")
    def _at(self) -> SwapRackReadingIn:
        _aware_fields(self, "at")
        if self.pack_ids and len(self.pack_ids) != len(self.pack_soc_pct):
            raise ValueError("pack_ids needs one id per pack_soc_pct")
        return self


class GridMeterReadingIn(Body):
    import_w: ProducedW = Field(description="power imported at the grid connection")
    export_w: ProducedW = Field(default=0.0, description="power exported there")
    at: datetime | None = Field(default=None, description="when it was measured; null: now")

    _at = _aware_after("at")


class ReadingsIn(Body):
    pv: list[PvReadingIn] = Field(default_factory=list, max_length=1000)
    storage: list[StorageReadingIn] = Field(default_factory=list, max_length=1000)
    swap: list[SwapRackReadingIn] = Field(default_factory=list, max_length=1000)
    meter: GridMeterReadingIn | None = Field(
        default=None, description="the grid meter's reading, for a site with a [meter]"
    )


class ReadingsOut(BaseModel):
    pv: int = Field(description="PV readings taken")
    storage: int = Field(description="storage readings taken")
    swap: int = Field(default=0, description="swap rack readings taken")
    meter: int = Field(default=0, description="grid meter readings taken (0 or 1)")
    at: datetime


class EvsePowerOut(BaseModel):
    station_id: str
    evse_id: int
    power_w: float | None = Field(description="latest Power.Active.Import; null: none yet")
    at: datetime | None


class NodePowerOut(BaseModel):
    node_id: str
    power_w: float = Field(description="sum of the latest EVSE readings under the node")
    max_import_w: float | None = Field(description="the limit in force now")


class SitePowerOut(BaseModel):
    site_id: str
    nodes: list[NodePowerOut]
    evses: list[EvsePowerOut]
