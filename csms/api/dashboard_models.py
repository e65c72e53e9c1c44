"""Response bodies of the resources the web dashboard reads (overview, site history,
reports, a station's recent OCPP messages, a session's meter curve). Units are in the names:
W, Wh, %, currency per kWh; times are ISO 8601 with an offset (UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "AlertOut",
    "EnergyReportOut",
    "EnergyReportRow",
    "HistoryOut",
    "HistorySeriesOut",
    "OcppMessageOut",
    "OverviewOut",
    "SessionSampleOut",
    "SiteOverviewOut",
    "StationCountsOut",
]


# -- overview ---------------------------------------------------------------------------
AlertKind = Literal[
    "station_faulted",
    "station_silent",
    "constraint_in_force",
    "telemetry_backlog",
    "departure_at_risk",
    "departure_missed",
    "station_non_compliant",
    "security_event",
]


class AlertOut(BaseModel):
    kind: AlertKind
    severity: Literal["critical", "warning", "info"]
    message: str = Field(description="one line for people")
    station_id: str | None = None
    evse_id: int | None = None
    transaction_id: int | None = None
    constraint_id: str | None = None
    at: datetime | None = None


class StationCountsOut(BaseModel):
    total: int
    online: int
    offline: int
    faulted: int = Field(description="stations with at least one connector Faulted")


class SiteOverviewOut(BaseModel):
    site_id: str
    name: str
    timezone: str
    currency: str
    evses: int
    stations: StationCountsOut | None = Field(
        description="null for roles that may not read stations"
    )
    active_sessions: int | None = Field(description="null for roles that may not read sessions")
    power_w: float = Field(description="sum of the latest measured EVSE power")
    limit_w: float | None = Field(description="the site's import limit in force now")
    energy_today_wh: float | None = Field(
        description="energy of the sessions started today (site's local day); null for roles "
        "that may not read sessions"
    )
    cost_today: float | None
    constraints_in_force: int
    plan_status: str | None
    alerts: list[AlertOut]
    alerts_total: int = Field(description="alerts before the list was cut")


class OverviewOut(BaseModel):
    at: datetime
    sites: list[SiteOverviewOut]


# -- site history -----------------------------------------------------------------------
class HistorySeriesOut(BaseModel):
    key: str = Field(description="EVSE as STATION/EVSE, or a node id when grouped by node")
    label: str
    values: list[float | None] = Field(description="one per time; null: no reading")


class HistoryOut(BaseModel):
    site_id: str
    timezone: str
    currency: str
    start: datetime
    stop: datetime
    window_s: int
    times: list[datetime] = Field(description="window starts")
    import_w: list[float | None] = Field(
        description="site import: EVSE power + storage charging - PV, each window's mean"
    )
    limit_w: list[float | None] = Field(description="the site's import limit in force")
    charging_w: list[float | None] = Field(description="all EVSEs, measured")
    planned_charging_w: list[float | None] = Field(
        description="all EVSEs, as planned (the newest plan for each window)"
    )
    evse_power_w: list[HistorySeriesOut] = Field(
        description="per EVSE (per node of the limit tree when the site has many)"
    )
    grouped_by: Literal["evse", "node"]
    pv_w: list[float | None]
    storage_power_w: list[float | None] = Field(description="positive = charging")
    storage_soc_pct: list[float | None]
    price_per_kwh: list[float | None]
    problems: list[str] = Field(description="series that could not be read, and why")


# -- reports ----------------------------------------------------------------------------
class EnergyReportRow(BaseModel):
    key: str = Field(description="the day (YYYY-MM-DD, site time), vehicle group or id token")
    sessions: int
    active_sessions: int = Field(description="sessions still charging (energy so far)")
    energy_wh: float
    cost: float | None
    currency: str | None


class EnergyReportOut(BaseModel):
    group_by: Literal["day", "vehicle_group", "id_token"]
    since: datetime
    until: datetime
    rows: list[EnergyReportRow]
    total_energy_wh: float
    total_sessions: int


# -- stations and sessions --------------------------------------------------------------
class OcppMessageOut(BaseModel):
    at: datetime
    direction: Literal["in", "out"] = Field(description="in = from the station")
    kind: Literal["CALL", "CALLRESULT", "CALLERROR", "invalid"]
    unique_id: str | None
    action: str | None
    error_code: str | None
    payload: Any


class SessionSampleOut(BaseModel):
    timestamp: datetime
    measurand: str
    value: float
    unit: str
    phase: str | None
