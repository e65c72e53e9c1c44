"""A plan as OCPP SetChargingProfile payloads (wire format, camelCase) for 1.6J and 2.0.1.

:func:`to_charging_profiles` gives a TxProfile per EVSE with an active session, following the
plan step by step. :func:`to_fallback_profiles` gives the safe defaults a station keeps if the
CSMS goes away: a TxDefaultProfile per EVSE and a ChargePointMaxProfile (1.6) /
ChargingStationMaxProfile (2.0.1) per station, sized so that every EVSE of the site drawing at
once stays under every node limit for the whole horizon. Limits are in A (per phase) or W.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from optimizer.compiled import compile_problem
from optimizer.exceptions import InvalidProblem
from optimizer.fallback import proportional_share
from optimizer.inputs import Evse, Session
from optimizer.plan import Plan
from optimizer.problem import Problem
from optimizer.rounding import round_down_current

__all__ = ["ProfileRequest", "safe_evse_limits_w", "to_charging_profiles", "to_fallback_profiles"]

OcppVersion = Literal["1.6", "2.0.1"]
RateUnit = Literal["A", "W"]


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """One SetChargingProfile request for ``station_id``: ``payload`` is its wire body."""

    station_id: str
    evse_id: int  # 1.6 connectorId / 2.0.1 evseId; 0 = the whole station
    purpose: str
    payload: dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _limit(evse: Evse, power_w: float, unit: RateUnit) -> float:
    """The executable limit at or below ``power_w`` (allowed currents, minimum current)."""
    power_w = evse.power_w(round_down_current(evse, evse.current_a(power_w) + 1e-9))
    if unit == "W":
        return float(math.floor(power_w))  # whole watts, never above the plan
    return math.floor(evse.current_a(power_w) * 10.0 + 1e-9) / 10.0  # 0.1 A, rounded down


def _periods(
    values: list[float], offsets_s: tuple[float, ...], phases: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value, offset in zip(values, offsets_s, strict=True):
        if out and out[-1]["limit"] == value:
            continue
        out.append({"startPeriod": int(offset), "limit": value, "numberPhases": phases})
    return out


def _check(version: str, unit: str) -> None:
    if version not in ("1.6", "2.0.1"):
        raise InvalidProblem("ocpp_version", f"must be '1.6' or '2.0.1', got {version!r}")
    if unit not in ("A", "W"):
        raise InvalidProblem("unit", f"must be 'A' or 'W', got {unit!r}")


def _payload(
    version: OcppVersion,
    *,
    evse_id: int,
    profile_id: int,
    stack_level: int,
    purpose: str,
    unit: RateUnit,
    periods: list[dict[str, Any]],
    start: datetime,
    duration_s: int | None,
    transaction_id: str | None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "startSchedule": _iso(start),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    if duration_s is not None:
        schedule["duration"] = duration_s
    if version == "1.6":
        profile: dict[str, Any] = {
            "chargingProfileId": profile_id,
            "stackLevel": stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": schedule,
        }
        if transaction_id is not None and transaction_id.isdigit():
            profile["transactionId"] = int(transaction_id)
        return {"connectorId": evse_id, "csChargingProfiles": profile}
    schedule["id"] = profile_id
    profile = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id[:36]
    return {"evseId": evse_id, "chargingProfile": profile}


def to_charging_profiles(
    plan: Plan,
    problem: Problem,
    *,
    ocpp_version: OcppVersion,
    unit: RateUnit = "A",
    first_profile_id: int = 1,
    stack_level: int = 1,
) -> list[ProfileRequest]:
    """A TxProfile per EVSE with a session in the plan's first step."""
    _check(ocpp_version, unit)
    sessions = {s.session_id: s for s in problem.sessions}
    grid = plan.grid
    out: list[ProfileRequest] = []
    for evse in problem.evses:
        evse_plan = plan.evses[evse.evse_id]
        session_id = evse_plan.session_ids[0]
        if session_id is None:
            continue
        session: Session = sessions[session_id]
        # follow the plan while this session is plugged in
        end = next(
            (i for i, sid in enumerate(evse_plan.session_ids) if sid not in (None, session_id)),
            grid.n_steps,
        )
        values = [_limit(evse, w, unit) for w in evse_plan.power_w[:end]]
        duration = int(sum(grid.step_durations_s[:end]))
        out.append(
            ProfileRequest(
                station_id=evse.station_id,
                evse_id=evse.ocpp_evse_id,
                purpose="TxProfile",
                payload=_payload(
                    ocpp_version,
                    evse_id=evse.ocpp_evse_id,
                    profile_id=first_profile_id + len(out),
                    stack_level=stack_level,
                    purpose="TxProfile",
                    unit=unit,
                    periods=_periods(values, grid.offsets_s[:end], evse.phase.n_phases),
                    start=grid.start,
                    duration_s=duration,
                    transaction_id=session.transaction_id,
                ),
            )
        )
    return out


def safe_evse_limits_w(problem: Problem) -> dict[str, float]:
    """Per EVSE, the power it may always draw with every EVSE of the site drawing at once.

    Proportional share of every node limit (power and phase currents) with each EVSE
    asking for its full power, at the strictest step of the horizon."""
    grid = problem.grid
    far = grid.end + timedelta(days=1)
    sessions = tuple(
        Session(
            session_id=f"safe:{evse.evse_id}",
            evse_id=evse.evse_id,
            arrival=grid.start - timedelta(seconds=1),
            departure=far,
            energy_requested_wh=evse.max_power_w * (far - grid.start).total_seconds() / 3600.0,
        )
        for evse in problem.evses
    )
    everyone = dataclasses.replace(problem, sessions=sessions, flexible_loads=())
    cp = compile_problem(everyone)
    alloc = proportional_share(cp)
    return {
        evse.evse_id: float(alloc[i].min(initial=math.inf)) * 1000.0
        for i, evse in enumerate(problem.evses)
    }


def to_fallback_profiles(
    problem: Problem,
    *,
    ocpp_version: OcppVersion,
    unit: RateUnit = "A",
    first_profile_id: int = 1,
    stack_level: int = 0,
) -> list[ProfileRequest]:
    """TxDefaultProfile per EVSE and a station max profile per station, always safe."""
    _check(ocpp_version, unit)
    safe = safe_evse_limits_w(problem)
    start = problem.grid.start
    out: list[ProfileRequest] = []
    stations: dict[str, list[Evse]] = {}
    for evse in problem.evses:
        stations.setdefault(evse.station_id, []).append(evse)
        value = _limit(evse, safe[evse.evse_id], unit)
        out.append(
            ProfileRequest(
                station_id=evse.station_id,
                evse_id=evse.ocpp_evse_id,
                purpose="TxDefaultProfile",
                payload=_payload(
                    ocpp_version,
                    evse_id=evse.ocpp_evse_id,
                    profile_id=first_profile_id + len(out),
                    stack_level=stack_level,
                    purpose="TxDefaultProfile",
                    unit=unit,
                    periods=[
                        {"startPeriod": 0, "limit": value, "numberPhases": evse.phase.n_phases}
                    ],
                    start=start,
                    duration_s=None,
                    transaction_id=None,
                ),
            )
        )
    purpose = "ChargePointMaxProfile" if ocpp_version == "1.6" else "ChargingStationMaxProfile"
    for station_id, evses in stations.items():
        if unit == "W":
            value = float(math.floor(sum(safe[e.evse_id] for e in evses)))
        else:  # the busiest phase of the station
            per_phase = [0.0, 0.0, 0.0]
            for e in evses:
                amps = e.current_a(safe[e.evse_id])
                for ph in range(3):
                    if e.phase.n_phases == 3 or e.phase.value == f"L{ph + 1}":
                        per_phase[ph] += amps
            value = math.floor(max(per_phase) * 10.0 + 1e-9) / 10.0
        out.append(
            ProfileRequest(
                station_id=station_id,
                evse_id=0,
                purpose=purpose,
                payload=_payload(
                    ocpp_version,
                    evse_id=0,
                    profile_id=first_profile_id + len(out),
                    stack_level=stack_level,
                    purpose=purpose,
                    unit=unit,
                    periods=[{"startPeriod": 0, "limit": value, "numberPhases": 3}],
                    start=start,
                    duration_s=None,
                    transaction_id=None,
                ),
            )
        )
    return out
