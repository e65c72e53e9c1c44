"""``[planning]`` settings of ``chargegrid serve``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from csms.quantities import SettingsSection
from optimizer import PlannerConfig

__all__ = ["PlanningSettings"]


class PlanningSettings(SettingsSection):
    """The planner service (one loop per site). Times are in clock (virtual) seconds."""

    enabled: bool = Field(default=True, description="run the planner for every site")
    replan_interval_s: float = Field(
        default=300.0, gt=0, description="re-plan at least this often (events re-plan sooner)"
    )
    min_replan_gap_s: float = Field(
        default=10.0, ge=0, description="at most one event-driven re-plan per this many seconds"
    )
    step_s: float = Field(default=900.0, gt=0, description="planning step")
    horizon_s: float = Field(default=86_400.0, gt=0, description="planning horizon")
    deadband_w: float = Field(
        default=500.0,
        ge=0,
        description="send a new TxProfile only when an EVSE's limit moved by more than this "
        "(a decrease that a node needs is always sent)",
    )
    profile_validity_s: float = Field(
        default=900.0,
        gt=0,
        description="a TxProfile lasts this long, then the station falls back to its safe "
        "default; the planner renews it before it lapses",
    )
    profile_windows: int = Field(
        default=1,
        ge=1,
        description="a TxProfile reaches this many windows ahead (to a window's end) and "
        "carries the plan's steps until then to stations that take more than one period; "
        "if the CSMS is gone, stations follow the plan that long, then fall back to their "
        "safe defaults together",
    )
    meter_deviation_w: float = Field(
        default=3000.0,
        gt=0,
        description="re-plan when an EVSE draws this much less than allowed (EV tapering, full)",
    )
    finish_margin_s: float = Field(
        default=900.0,
        ge=0,
        description="share power so that each EV would finish this long before its "
        "departure (re-plans and meter values lag a little)",
    )
    rotation_hysteresis_s: float = Field(
        default=600.0,
        ge=0,
        description="where the limits do not reach every EV's minimum current, the EVs with "
        "the least laxity charge and the others wait (0 A); an EV charging keeps its turn "
        "until one waiting has this much less laxity",
    )
    expected_arrivals: bool = Field(
        default=True,
        description="plan with the sessions expected later today from the site's own "
        "history (the same weekday a week ago) as low-priority sessions, so that room, "
        "storage and the demand-charge peak are kept for them",
    )
    readings_max_age_s: float = Field(
        default=300.0,
        gt=0,
        description="PV readings older than this are not counted on, unless the site file "
        "gives the plant its own stale_after_s; a swap rack's metered draw older than this "
        "is counted at what the rack may draw (a storage unit is counted at its last "
        "reported charging power until it reports less)",
    )
    pv_count_pct: float = Field(
        default=90.0,
        ge=0,
        le=100,
        description="the share of the measured (or forecast) PV power the plan counts on; "
        "the rest absorbs changes between readings",
    )
    pv_hold_s: float = Field(
        default=900.0,
        ge=0,
        description="without a forecast, the measured PV power is counted on this long "
        "after the reading, then none",
    )
    noncompliance_tolerance_w: float = Field(
        default=300.0,
        ge=0,
        description="an EVSE drawing more than its confirmed limit plus this is non-compliant",
    )
    send_timeout_s: float = Field(
        default=10.0, gt=0, description="wall seconds to wait for a SetChargingProfile answer"
    )
    max_parallel_sends: int = Field(
        default=64, ge=1, description="SetChargingProfile calls in flight at once per site"
    )
    backend: Literal["direct", "pyomo"] = Field(
        default="direct", description="optimizer LP path: direct HiGHS or Pyomo"
    )
    solver_time_limit_s: float = Field(default=10.0, gt=0, description="LP time limit (wall)")
    laxity_tiebreak: bool = Field(
        default=False,
        description="among equally good plans, charge the EVs that leave sooner first (the "
        "earlier-is-better weight grows over each EV's own stay, not the horizon; more "
        "demands met, a slower LP at a thousand EVSEs)",
    )
    scarcity_tiebreak: Literal["off", "gated", "on"] = Field(
        default="off",
        description="among equally good plans, give a limit that binds for hours to the EVs "
        "that load it most, soonest-leaving first: 'gated' only while no demand charge is in "
        "force and after a plan that met every EV with arrivals ahead (decision 0430), 'on' "
        "always (decision 0424), 'off' per kWh",
    )
    optimize: bool = Field(
        default=True,
        description="run the optimizer and send TxProfiles; false: only the safe default "
        "profiles (an equal share of every limit, the fallback mode)",
    )
    swap_metered_soc: bool = Field(
        default=False,
        description="plan a swap rack from the packs' SoC its station meters per slot, when "
        "newer than its posted readings and swap sessions (off: those alone; the metered "
        "SoC is read and checked either way)",
    )
    storage_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="the storage controller's interval: each site's OCPP storage units get "
        "new setpoints this often (peak shaving, PV absorption, the plan's setpoints)",
    )
    storage_validity_intervals: int = Field(
        default=3,
        ge=2,
        le=100,
        description="a storage unit's CentralSetpoint schedule lasts this many intervals, "
        "then the unit falls back to Idle (if the controller stops)",
    )
    storage_deadband_w: float = Field(
        default=500.0,
        ge=0,
        le=1e9,
        description="send a storage unit a new setpoint only when it moved by more than this "
        "(or before the one in force runs out)",
    )
    storage_stale_after_s: float = Field(
        default=15.0,
        gt=0,
        le=86_400,
        description="a storage unit whose last reading is older than this is not counted on "
        "(the EV limits absorb what it would have done)",
    )
    storage_margin_w: float = Field(
        default=0.0,
        ge=0,
        le=1e9,
        description="kept free under the import limit by the storage controller",
    )
    storage_stack_level: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="stack level of the storage units' CentralSetpoint TxDefaultProfiles",
    )
    v2g: bool = Field(
        default=True,
        description="let bidirectional EVs whose drivers allow it (OCPP 2.1 needs with V2X "
        "parameters) give power back when the plan gains by it; they still leave with the "
        "energy they asked for",
    )
    v2g_cost_per_kwh: float = Field(
        default=0.02,
        ge=0,
        le=1e4,
        allow_inf_nan=False,
        description="battery wear of a kWh a V2G EV gives back (currency per kWh)",
    )
    default_profiles: bool = Field(
        default=True,
        description="send each station, at boot, TxDefaultProfiles that keep the site inside "
        "its limits with every EVSE charging at once",
    )

    def planner_config(self) -> PlannerConfig:
        """The optimizer's settings for a site's planning loop (``chargegrid serve`` and the
        ACN benchmark's ``chargegrid-csms`` row build it here)."""
        return PlannerConfig(
            backend=self.backend,
            time_limit_s=self.solver_time_limit_s,
            replan_interval_s=self.replan_interval_s,
            laxity_tiebreak=self.laxity_tiebreak,
            scarcity_tiebreak=self.scarcity_tiebreak,
        )
