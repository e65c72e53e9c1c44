"""A connector (EVSE) of a simulated station: its rating, state, vehicle and session record."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from simulators.ev import EV, EVSpec
from simulators.messages import ChargingNeeds, ConnectorStatus, Transaction
from simulators.v2g import BidirectionalEV

__all__ = [
    "CHARGED_TOLERANCE",
    "CHARGED_TOLERANCE_WH",
    "Connector",
    "ConnectorSpec",
    "SessionRecord",
    "visit_outcome",
]


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """A connector's rating. AC power is ``max_current_a * voltage_v * phases``; a DC
    connector is rated by ``max_power_w`` and reports one current at ``voltage_v``."""

    max_current_a: float = 32.0
    phases: int = 3
    dc: bool = False
    voltage_v: float = 230.0
    max_power_w: float | None = None

    def __post_init__(self) -> None:
        if self.phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {self.phases}")
        if self.max_current_a <= 0 or self.voltage_v <= 0:
            raise ValueError("max_current_a and voltage_v must be positive")
        if self.dc and self.max_power_w is None:
            raise ValueError("a DC connector needs max_power_w")

    def rating_w(self, phases: int | None = None) -> float:
        if self.dc:
            assert self.max_power_w is not None
            return min(self.max_power_w, self.max_current_a * self.voltage_v)
        ac = self.max_current_a * self.voltage_v * (phases or self.phases)
        return ac if self.max_power_w is None else min(ac, self.max_power_w)


@dataclass(slots=True)
class SessionRecord:
    """One vehicle's visit, for the fleet summary."""

    station_id: str
    connector_id: int
    ev_id: str
    arrival: datetime | None
    departure: datetime | None
    requested_wh: float
    plugged_at: datetime | None = None
    left_at: datetime | None = None
    delivered_wh: float = 0.0
    soc_at_departure: float | None = None
    under_limit_s: float = 0.0
    outcome: str | None = None
    #: energy a V2G vehicle gave back, and how often it began to give less than asked
    discharged_wh: float = 0.0
    discharge_refusals: int = 0

    @classmethod
    def start(cls, station_id: str, connector_id: int, ev: EVSpec, now: datetime) -> SessionRecord:
        record = cls._visit(station_id, connector_id, ev)
        record.plugged_at = now
        return record

    @classmethod
    def missed(
        cls, station_id: str, connector_id: int, ev: EVSpec, *, outcome: str = "missed"
    ) -> SessionRecord:
        record = cls._visit(station_id, connector_id, ev)
        record.soc_at_departure = ev.initial_soc
        record.outcome = outcome
        return record

    @classmethod
    def _visit(cls, station_id: str, connector_id: int, ev: EVSpec) -> SessionRecord:
        """The record of ``ev``'s visit: what it asks for, from its spec."""
        return cls(
            station_id, connector_id, ev.ev_id, ev.arrival, ev.departure, ev.energy_request_wh
        )

    def finish(self, ev: EV, now: datetime, outcome: str) -> SessionRecord:
        self.left_at = now
        self.delivered_wh = round(ev.delivered_wh, 1)
        self.discharged_wh = round(self.discharged_wh, 1)
        self.soc_at_departure = round(ev.soc, 4)
        self.outcome = outcome
        return self


class Connector:
    """Mutable state of one connector; the :class:`~simulators.station.Station` drives it."""

    def __init__(self, connector_id: int, spec: ConnectorSpec) -> None:
        self.id = connector_id
        self.spec = spec
        self.status = ConnectorStatus.AVAILABLE
        self.operative = True
        self.faulted = False
        self.ev: EV | None = None
        self.tx: Transaction | None = None
        self.auth: str | None = None  # None, "pending", "accepted", "rejected"
        self.planned: deque[EVSpec] = deque()
        self.record: SessionRecord | None = None
        self.energy_wh = 0.0
        #: energy given back by a V2G vehicle (the export register), Wh
        self.export_wh = 0.0
        #: what a negative CentralSetpoint asks the vehicle to give (W, 0: no discharge asked)
        self.discharge_asked_w = 0.0
        self._refusing = False
        self.power_w = 0.0
        self.limited = False
        #: The numberPhases of the charging limit in force, when it allows fewer phases.
        self.phase_limit: int | None = None
        self.next_sample_at: datetime | None = None

    def phases_used(self) -> int:
        """Phases the current flows on: the fewest of the connector's, the vehicle's onboard
        charger's and the limit's; a DC connector counts as one (``W = A * V``)."""
        if self.spec.dc:
            return 1
        phases = self.spec.phases if self.ev is None else min(self.spec.phases, self.ev.spec.phases)
        return phases if self.phase_limit is None else min(phases, self.phase_limit)

    def acceptance_w(self) -> float:
        """What the vehicle takes here: on AC its onboard charger is rated per phase, so on
        fewer phases than it has it takes that share of its maximum (11 kW on three phases
        is 3.7 kW on one)."""
        if self.ev is None:
            return 0.0
        accept = self.ev.acceptance_w()
        if self.spec.dc:
            return accept
        return accept * min(1.0, self.phases_used() / self.ev.spec.phases)

    def charging_needs(self, now: datetime) -> ChargingNeeds:
        """What the plugged vehicle tells the central system it needs (2.0.1 and 2.1)."""
        assert self.ev is not None
        ev = self.ev
        phases = self.phases_used()
        if self.spec.dc:
            peak = ev.spec.max_dc_power_w
        else:  # the onboard charger's rating per phase, on the phases it gets here
            peak = ev.spec.max_ac_power_w * min(1.0, phases / ev.spec.phases)
        return ChargingNeeds(
            connector_id=self.id,
            at=now,
            energy_amount_wh=round(max(0.0, (ev.spec.target_soc - ev.soc) * ev.spec.capacity_wh)),
            departure=ev.spec.departure,
            max_current_a=round(peak / (self.spec.voltage_v * phases), 1),
            min_current_a=6.0,
            max_voltage_v=self.spec.voltage_v,
            dc=self.spec.dc,
            soc_pct=round(ev.soc * 100, 1),
            capacity_wh=ev.spec.capacity_wh,
            bulk_soc_pct=round(ev.spec.taper_soc * 100, 1),
            full_soc_pct=round(ev.spec.target_soc * 100, 1),
            phases=phases,
            v2x=ev.charging_needs() if isinstance(ev, BidirectionalEV) else None,
        )

    def tx_started(self) -> datetime | None:
        return None if self.tx is None else self.tx.started_at

    def advance(self, dt_s: float, now: datetime | None = None) -> float:
        """Deliver the current power for ``dt_s`` from ``now``; return the energy (Wh),
        negative for what a V2G vehicle gave."""
        if self.ev is None or self.tx is None:
            return 0.0
        if self.discharge_asked_w > 0:
            return self._discharge(dt_s, now)
        if self.power_w <= 0:
            return 0.0
        energy = self.ev.advance(self.power_w, dt_s)
        self.energy_wh += energy
        if self.limited and self.record is not None:
            self.record.under_limit_s += dt_s
        return energy

    def _discharge(self, dt_s: float, now: datetime | None) -> float:
        """The vehicle gives ``-power_w`` (what it could give when the power was set) within
        its limits; giving less than ``discharge_asked_w`` is counted once per shortfall.
        What it gave sets the power."""
        asked = self.discharge_asked_w
        given = 0.0
        if isinstance(self.ev, BidirectionalEV) and self.power_w < 0 and dt_s > 0:
            given = -self.ev.advance(self.power_w, dt_s, now=now)
        refused = given < asked * dt_s / 3600.0 - 1e-6
        if self.record is not None:
            self.record.discharged_wh += given
            if refused and not self._refusing:
                self.record.discharge_refusals += 1
        self._refusing = refused
        self.export_wh += given
        if dt_s > 0:
            self.power_w = -math.floor(given * 3600.0 / dt_s)
        return -given


#: "charged" means the EV got what it asked for, within this share of its request (meter
#: rounding, the last sample's timing) but at least ``CHARGED_TOLERANCE_WH``.
CHARGED_TOLERANCE = 0.01
CHARGED_TOLERANCE_WH = 50.0


def visit_outcome(delivered_wh: float, requested_wh: float) -> str:
    """How a visit that ended normally went: ``charged`` (got what it asked for), ``partly
    charged`` (got some; the summary's delivered/requested say how much) or ``idle``."""
    if delivered_wh <= 0:
        return "idle"
    short = requested_wh - delivered_wh
    if short <= max(CHARGED_TOLERANCE_WH, CHARGED_TOLERANCE * requested_wh):
        return "charged"
    return "partly charged"
