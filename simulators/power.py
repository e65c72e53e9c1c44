"""How much power each connector of a simulated station draws, and its composite schedule.

Pure functions for :class:`~simulators.station.Station`: the power a connector draws is the
minimum of the connector rating, the limit in force of its TxProfile/TxDefaultProfile, the
vehicle's acceptance and its share of the station-wide maximum; a limit below the
schedule's ``minChargingRate`` suspends charging.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from simulators.charging_profiles import ChargingProfile, RateUnit
from simulators.composite import (
    CompositeSchedule,
    Limit,
    composite_schedule,
    limit_at,
    setpoint_at,
    to_unit,
)
from simulators.connector import Connector
from simulators.limits import ProfileStore, share_w
from simulators.messages import ConnectorStatus, Transaction
from simulators.v2g import BidirectionalEV

__all__ = ["STATION_VOLTAGE_V", "allocate", "composite", "discharge_refusal", "tx_ids"]

#: The supply voltage a station-wide limit in A is converted with.
STATION_VOLTAGE_V = 230.0


def tx_ids(tx: Transaction | None) -> tuple[str, ...] | None:
    """The ids a transaction is known by (the station's, and the central system's once it
    gave one); None without a transaction."""
    if tx is None:
        return None
    return (tx.local_id,) if tx.csms_id is None else (tx.local_id, str(tx.csms_id))


def _demand_w(c: Connector, profiles: ProfileStore, now: datetime) -> float:
    """What connector ``c`` (with a transaction and a vehicle) would draw alone: its rating,
    its limit in force and the vehicle's acceptance. Sets ``c.limited`` and ``c.phase_limit``."""
    assert c.tx is not None
    phases = c.phases_used()
    rating, accept = c.spec.rating_w(phases), c.acceptance_w()
    cap = rating
    found = limit_at(
        profiles.for_connector(c.id, tx_ids=tx_ids(c.tx)),
        now,
        unit=RateUnit.A,
        voltage_v=c.spec.voltage_v,
        phases=phases,
        tx_start=c.tx.started_at,
    )
    if found is not None:
        amps = found.limit
        if found.min_charging_rate is not None and amps < found.min_charging_rate:
            amps = 0.0
        if found.number_phases < phases:  # the limit allows fewer phases: use those
            c.phase_limit = found.number_phases
            phases = c.phases_used()
        cap = min(c.spec.rating_w(phases), amps * c.spec.voltage_v * phases)
    demand = min(cap, c.acceptance_w())
    c.limited = demand < min(rating, accept) - 1e-6
    return demand


def allocate(
    connectors: Mapping[int, Connector], profiles: ProfileStore, now: datetime
) -> list[tuple[Connector, ConnectorStatus]]:
    """Set every connector's power (W, whole) at ``now``; the charging connectors with the
    status their power gives them (Charging, SuspendedEV, SuspendedEVSE)."""
    demands: dict[int, float] = {}
    for c in connectors.values():
        c.power_w, c.limited, c.phase_limit = 0.0, False, None
        c.discharge_asked_w = 0.0
        if c.tx is None or c.ev is None:
            continue
        demands[c.id] = _demand_w(c, profiles, now)
    station = limit_at(profiles.station_wide(), now, unit=RateUnit.W, voltage_v=STATION_VOLTAGE_V)
    shares = share_w(demands, None if station is None else station.limit)
    if station is not None and station.source_unit is RateUnit.A:
        shares = _share_phase_current(connectors, shares, station)
    out: list[tuple[Connector, ConnectorStatus]] = []
    for cid, power in shares.items():
        c = connectors[cid]
        c.power_w = math.floor(power)
        c.limited = c.limited or power < demands[cid] - 1e-6
        assert c.ev is not None
        if _discharge(c, profiles, now):
            giving = c.power_w < 0
            out.append((c, ConnectorStatus.CHARGING if giving else ConnectorStatus.SUSPENDED_EV))
            continue
        if c.ev.acceptance_w() <= 0:
            status = ConnectorStatus.SUSPENDED_EV
        elif c.power_w <= 0:
            status = ConnectorStatus.SUSPENDED_EVSE
        else:
            status = ConnectorStatus.CHARGING
        out.append((c, status))
    return out


def _discharge(c: Connector, profiles: ProfileStore, now: datetime) -> bool:
    """A negative ``CentralSetpoint`` in force on ``c``'s transaction: ask its vehicle to give
    that much, up to the connector's rating; the power is what the vehicle can give now
    (nothing from a plain EV, nor from a V2G one that may not or is at its floor; the
    shortfall is counted by :meth:`Connector.advance`). True when a discharge is asked."""
    assert c.tx is not None
    setpoint = setpoint_at(
        profiles.for_connector(c.id, tx_ids=tx_ids(c.tx)),
        now,
        voltage_v=c.spec.voltage_v,
        phases=c.phases_used(),
        tx_start=c.tx.started_at,
    )
    if setpoint is None or setpoint >= 0.0:
        return False
    asked = min(-setpoint, c.spec.rating_w(c.phases_used()))
    c.discharge_asked_w = asked
    ev, possible = c.ev, 0.0
    if (
        isinstance(ev, BidirectionalEV)
        and ev.v2x.discharge_allowed
        and asked >= ev.v2x.min_discharge_w
        and ev.dischargeable_wh(now) > 1e-6
    ):
        possible = min(asked, ev.v2x.max_discharge_w)
    c.power_w = -math.floor(possible)
    c.limited = False
    return True


def discharge_refusal(c: Connector, profile: ChargingProfile) -> str | None:
    """Why connector ``c`` refuses a profile for its vehicle's session that asks it to give
    (a plain EV, or a driver who does not allow it), or None; a V2G vehicle's own limits
    apply as it goes."""
    if not any((p.setpoint or 0.0) < 0 for p in profile.schedule.periods):
        return None
    if not isinstance(c.ev, BidirectionalEV):
        return f"the vehicle on connector {c.id} cannot discharge"
    if not c.ev.v2x.discharge_allowed:
        return f"the driver on connector {c.id} does not allow discharging"
    return None


def _share_phase_current(
    connectors: Mapping[int, Connector], shares_w: dict[int, float], station: Limit
) -> dict[int, float]:
    """A station maximum set in A caps the current on each phase of the supply. Single-phase
    connectors all hang on L1 (no phase rotation), three-phase ones load every phase
    equally, so L1 carries the sum of every connector's per-phase current: water-fill that
    sum under the limit. A DC connector counts as a balanced three-phase load at 230 V."""
    cap_a = to_unit(
        station.limit,
        from_unit=RateUnit.W,
        to=RateUnit.A,
        number_phases=station.number_phases,
        voltage_v=STATION_VOLTAGE_V,
    )
    per_volt_amp: dict[int, float] = {}
    for cid in shares_w:
        c = connectors[cid]
        if c.spec.dc:
            per_volt_amp[cid] = STATION_VOLTAGE_V * 3
        else:
            per_volt_amp[cid] = c.spec.voltage_v * c.phases_used()
    amps = share_w({cid: w / per_volt_amp[cid] for cid, w in shares_w.items()}, cap_a)
    return {cid: a * per_volt_amp[cid] for cid, a in amps.items()}


def composite(
    connectors: Mapping[int, Connector],
    profiles: ProfileStore,
    connector: Connector | None,
    *,
    duration_s: int,
    unit: RateUnit,
    now: datetime,
) -> CompositeSchedule:
    """GetCompositeSchedule of ``connector``; None is connector 0, the station maximum
    alone. Where no profile applies, the rating (of the connector or the whole station)."""
    station = profiles.station_wide()
    if connector is None:
        rating = sum(c.spec.rating_w() for c in connectors.values())
        found = station
        voltage, phases = STATION_VOLTAGE_V, 3
    else:
        found = station + profiles.for_connector(connector.id, tx_ids=tx_ids(connector.tx))
        rating = connector.spec.rating_w()
        voltage, phases = (
            connector.spec.voltage_v,
            (1 if connector.spec.dc else connector.spec.phases),
        )
    default = rating if unit is RateUnit.W else rating / (voltage * phases)
    return composite_schedule(
        found,
        start=now,
        duration_s=duration_s,
        unit=unit,
        voltage_v=voltage,
        phases=phases,
        tx_start=None if connector is None else connector.tx_started(),
        default_limit=round(default, 3),
    )
