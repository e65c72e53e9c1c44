"""What the planner knows about one site, kept up to date from domain events (sans-I/O).

Per EVSE: the active transaction, the EV's needs, the energy register and measured power,
what limit was sent and what the station confirmed, compliance. Per station: online, the
quirks in force. :meth:`SiteState.apply` takes a domain event and returns the reasons to
re-plan it gives (empty: none).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from chargegrid.measurands import Measurand
from csms.domain import (
    ConnectorStatus,
    EVChargingNeeds,
    PvReading,
    StorageReading,
    Transaction,
)
from csms.events import (
    BatterySwapUpdated,
    DomainEvent,
    EVChargingNeedsReceived,
    MeterValuesReceived,
    SiteReadingsReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionChanged,
)
from csms.planning.swap import RackState, racks_of
from csms.sites.model import Site, SiteEvse, SiteStation, StationQuirks
from csms.storage_units import DER_EVENTS, LiveMeter, LivePv, LiveUnits

__all__ = ["AckState", "EvseState", "SiteState", "StationState"]

logger = logging.getLogger(__name__)

AckState = Literal["pending", "accepted", "rejected", "failed"]

_POWER = Measurand.POWER_ACTIVE_IMPORT
_ENERGY = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
_EXPORT = Measurand.ENERGY_ACTIVE_EXPORT_REGISTER
_GIVING = Measurand.POWER_ACTIVE_EXPORT
_SOC = Measurand.SOC


@dataclass(frozen=True, slots=True)
class Lease:
    """A TxProfile whose raised part counts on storage discharge until ``to`` (0626): the
    end of the first lent part still committed to (0930)."""

    to: datetime
    #: the schedule (start, W) with the storage discharge counted on
    raised: tuple[tuple[datetime, float], ...]
    #: the schedule without it
    free: tuple[tuple[datetime, float], ...]
    #: per unit, the part (start, W) of ``raised`` its discharge carries; each part lasts
    #: as long as its unit's commitment (decision 0930)
    lent: tuple[tuple[str, tuple[tuple[datetime, float], ...]], ...] = ()


@dataclass(slots=True)
class Sent:
    """The last limit sent to an EVSE and what became of it. ``limit_w`` is the first
    period's; ``periods`` (start, W), when given, is the whole schedule from ``at`` on."""

    limit_w: float
    purpose: str
    at: datetime
    state: AckState = "pending"
    valid_to: datetime | None = None
    transaction_id: int | None = None
    periods: tuple[tuple[datetime, float], ...] = ()
    #: A V2G EV's planned giving within the schedule and the renewal after it, as (start,
    #: end, W < 0): its renewals carry them as ``CentralSetpoint`` periods (decision 0920).
    gives: tuple[tuple[datetime, datetime, float], ...] = ()
    #: the raised part counts on storage discharge until the lease's end (decision 0626)
    lease: Lease | None = None

    @property
    def unanswered(self) -> bool:
        """Whether the station may be on this schedule without having said so: its answer
        has not come yet, or did not come in time (a late answer took it all the same)."""
        return self.state in ("pending", "failed")

    @property
    def peak_w(self) -> float:
        """The highest limit of the schedule."""
        return max([self.limit_w, *(w for _, w in self.periods)])

    def value_at(self, at: datetime | None) -> float:
        """The limit the schedule sets at ``at`` (the first period's before it starts)."""
        value = self.limit_w
        if at is None:
            return value
        for start, w in self.periods:
            if start <= at:
                value = w
            else:
                break
        return value


@dataclass(slots=True)
class EvseState:
    station: SiteStation
    evse: SiteEvse
    node_id: str
    tx: Transaction | None = None
    needs: EVChargingNeeds | None = None
    needs_delivered_wh: float = 0.0  # energy delivered when the needs arrived
    early_needs: EVChargingNeeds | None = None  # needs sent before the transaction started
    register_wh: float | None = None
    start_wh: float | None = None  # first register reading of the session (no meterStart)
    power_w: float = 0.0
    power_at: datetime | None = None
    default_w: float | None = None  # the safe TxDefaultProfile limit confirmed
    sent: Sent | None = None  # the last TxProfile
    accepted_tx: tuple[int, float] | None = None  # (transaction id, limit W) last accepted
    accepted_sent: Sent | None = None  # the TxProfile last accepted (its periods)
    confirmed_w: float | None = None  # the last limit the station accepted (any purpose)
    confirmed_at: datetime | None = None
    planned_w: float | None = None
    ev_max_w: float | None = None  # what the EV takes when the limit does not hold it back
    #: The EV's state of charge (%) last reported in meter values, and the session energy
    #: delivered (Wh) when it was.
    soc: tuple[float, float] | None = None
    non_compliant: bool = False
    violations: int = 0
    missed_reported: bool = False
    #: A TxProfile for this transaction was rejected; what to learn from it is decided at the
    #: next re-plan, once a StopTransaction that crossed it has arrived.
    rejected_tx: int | None = None
    #: What a V2G EV gave back (its export register, first reading of the session) and the
    #: transaction whose EV refused to give (decision 0910): planned charging only from then.
    export_wh: float | None = None
    export_start_wh: float | None = None
    v2x_refused_tx: int | None = None

    @property
    def key(self) -> str:
        return f"{self.station.id}/{self.evse.id}"

    @property
    def rated_w(self) -> float:
        """The most the EVSE can draw: its rating, within its station's."""
        rated = self.evse.max_power_w
        if self.station.max_power_w is not None:
            rated = min(rated, self.station.max_power_w)
        return rated

    @property
    def delivered_wh(self) -> float:
        return max(0.0, self.net_wh)

    @property
    def net_wh(self) -> float:
        """Energy into the EV this session less what it gave back (negative: it is below
        where it started)."""
        if self.tx is None or self.register_wh is None:
            return 0.0
        start = self.tx.meter_start_wh if self.tx.meter_start_wh is not None else self.start_wh
        if start is None:
            return 0.0
        given = 0.0
        if self.export_wh is not None and self.export_start_wh is not None:
            given = self.export_wh - self.export_start_wh
        return self.register_wh - start - given

    def limit_in_force_w(self, at: datetime | None = None) -> float | None:
        """The limit the station has confirmed for what it is doing (at ``at``: a schedule
        of several periods changes over time, and a TxProfile that has run out leaves the
        station on its TxDefaultProfile; None: its first period)."""
        tx = self.tx
        candidates: list[float] = []
        held = self._accepted_tx_w(at)
        if held is not None:
            candidates.append(held)
        elif self.default_w is not None:
            candidates.append(self.default_w)
        sent = self.sent
        pending = sent is not None and sent.unanswered
        if tx is not None and sent is not None and pending and sent.transaction_id == tx.id:
            candidates.append(sent.value_at(at))  # the station may be on the old or the new one
        return max(candidates) if candidates else None

    def _accepted_tx_w(self, at: datetime | None) -> float | None:
        """The accepted TxProfile's limit at ``at`` for the running transaction; None
        without one, or from its end on (``valid_to``: a renewal that came too late, or
        none, leaves the station on its default, which it is then held to)."""
        tx = self.tx
        if tx is None or self.accepted_tx is None or self.accepted_tx[0] != tx.id:
            return None
        accepted = self.accepted_sent
        if accepted is None or accepted.transaction_id != tx.id:
            return self.accepted_tx[1]
        if at is not None and accepted.valid_to is not None and at >= accepted.valid_to:
            return None
        return accepted.value_at(at)


@dataclass(slots=True)
class StationState:
    station: SiteStation
    online: bool = False
    seen: bool = False  # heard from since the planner started
    ocpp_version: str | None = None
    quirks: StationQuirks | None = None
    learned: dict[str, object] = field(default_factory=dict)
    defaults_sent: bool = False


class SiteState:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.stations: dict[str, StationState] = {}
        self.evses: dict[tuple[str, int], EvseState] = {}
        #: The PV plants' readings, metered by their stations or posted (0608, 0922).
        self.pv_plants = LivePv(site)
        self.storage: dict[str, StorageReading] = {}
        self.racks: dict[str, RackState] = {}
        #: The OCPP storage units (a station and EVSE in the site file): their readings
        #: arrive by MeterValues, not POST /readings (decision 0905).
        self.units = LiveUnits(site)
        #: The grid meter of a site with a ``[meter]`` (decision 0917).
        self.meter = LiveMeter(site)
        #: What the storage controller says the EV limits must take off now (0906).
        self.ev_reduction_w = 0.0
        self.reset_site(site)
        self.non_compliance_count = 0

    def reset_site(self, site: Site) -> None:
        """Take a new revision of the site, keeping what is known about stations that stay."""
        old_stations, old_evses = self.stations, self.evses
        self.site = site
        self.racks = racks_of(site, self.racks)
        self.units.reset_site(site)
        self.meter.reset_site(site)
        self.pv_plants.reset_site(site)
        self.stations, self.evses = {}, {}
        for station, evse, node in site.evses():
            assert node is not None  # a stored site is valid
            key = (station.id, evse.id)
            state = old_evses.get(key)
            if state is None:
                state = EvseState(station, evse, node)
            else:
                state.station, state.evse, state.node_id = station, evse, node
            self.evses[key] = state
        for station in site.stations:
            st = old_stations.get(station.id) or StationState(station)
            st.station = station
            st.quirks = site.quirks_for(station)
            self.stations[station.id] = st

    # -- events ---------------------------------------------------------------------------
    def evse_of(self, station_id: str, evse_id: int) -> EvseState | None:
        return self.evses.get((station_id, evse_id))

    def take_transaction(self, tx: Transaction) -> str | None:
        state = self.evse_of(tx.station_id, tx.evse_id)
        if state is None:
            return None
        if tx.active:
            new = state.tx is None or state.tx.id != tx.id
            if new:
                state.needs, state.needs_delivered_wh, state.missed_reported = (
                    state.early_needs,
                    0.0,
                    False,
                )
                state.early_needs = None
                state.start_wh, state.soc = None, None
                # the register as last read (this session's first reading may come first)
                state.export_start_wh = state.export_wh
                if tx.meter_start_wh is not None:
                    state.register_wh = tx.meter_start_wh
            state.tx = tx
            if tx.needs is not None and state.needs is None:
                state.needs, state.needs_delivered_wh = tx.needs, state.delivered_wh
                return "needs"
            return "arrival" if new else None
        if state.tx is not None and state.tx.id == tx.id:
            state.tx, state.needs, state.sent, state.planned_w = None, None, None, None
            state.ev_max_w, state.accepted_tx, state.accepted_sent = None, None, None
            state.non_compliant, state.violations = False, 0
            return "departure"
        return None

    def apply(self, event: DomainEvent, *, deviation_w: float, tolerance_w: float) -> list[str]:
        """Update from ``event``; the reasons it gives to re-plan."""
        if self.meter.apply(event):
            return []  # the grid meter's: the storage controller reads it every step
        if isinstance(event, DER_EVENTS):  # a unit's rating may change: re-plan (0918)
            return ["der control"] if self.units.apply(event) else []
        if self.units.apply(event):
            return []  # a storage unit's: the storage controller follows it every few seconds
        if isinstance(event, MeterValuesReceived):
            pv = self.pv_plants.take_metered(event, deviation_w=deviation_w)
            if pv is not None:
                return pv  # a PV plant's meter
            racks = [r for r in self.racks.values() if r.swap.station == event.station_id]
            if racks:  # a swap station's rack and slots (decision 0915)
                return sorted({reason for r in racks for reason in r.take_metered(event)})
        if isinstance(event, TransactionChanged):
            reason = self.take_transaction(event.transaction)
            return [reason] if reason else []
        if isinstance(event, EVChargingNeedsReceived):
            state = self.evse_of(event.station_id, event.evse_id)
            if state is None:
                return []
            if state.tx is None:
                state.early_needs = event.needs
                return []
            state.needs, state.needs_delivered_wh = event.needs, state.delivered_wh
            return ["needs"]
        if isinstance(event, StatusChanged):
            state = self.evse_of(event.report.station_id, event.report.evse_id)
            if state is None or state.tx is None:
                return []
            if event.report.status is ConnectorStatus.SUSPENDED_EV and state.ev_max_w != 0.0:
                state.ev_max_w = 0.0  # the EV is full or stopped: its share goes to others
                return ["ev suspended"]
            if event.report.status is ConnectorStatus.CHARGING and state.ev_max_w == 0.0:
                state.ev_max_w = None
                return ["ev charging"]
            return []
        if isinstance(event, MeterValuesReceived):
            return self._meter(event, deviation_w=deviation_w, tolerance_w=tolerance_w)
        if isinstance(event, SiteReadingsReceived):
            return self._readings(event, deviation_w=deviation_w)
        if isinstance(event, BatterySwapUpdated):
            return [
                reason
                for rack in self.racks.values()
                if rack.swap.station == event.station_id
                for reason in rack.take_battery_swap(event.swap, site_id=self.site.id)
            ]
        if isinstance(event, StationConnected | StationBooted):
            st = self.stations.get(event.station_id)
            if st is None:
                return []
            was_online = st.online
            st.online = st.seen = True
            if isinstance(event, StationConnected):
                st.ocpp_version = event.ocpp_version
            return [] if was_online else ["station online"]
        if isinstance(event, StationDisconnected):
            st = self.stations.get(event.station_id)
            if st is None or not st.online:
                return []
            st.online, st.defaults_sent = False, False
            return ["station offline"]
        return []

    def _meter(
        self, event: MeterValuesReceived, *, deviation_w: float, tolerance_w: float
    ) -> list[str]:
        state = self.evse_of(event.station_id, event.evse_id)
        if state is None:
            return []
        power: float | None = None
        at: datetime | None = None
        soc: float | None = None
        for sample in event.samples:
            if sample.phase is not None:
                continue
            if sample.measurand == _POWER:
                power, at = sample.value, sample.timestamp
            elif sample.measurand == _GIVING and sample.value > 0 and not power:
                power, at = -sample.value, sample.timestamp  # a V2G EV giving power back
            elif sample.measurand == _ENERGY:
                state.register_wh = sample.value
                if state.tx is not None and state.start_wh is None:
                    state.start_wh = sample.value
            elif sample.measurand == _EXPORT:
                state.export_wh = sample.value
                if state.tx is not None and state.export_start_wh is None:
                    state.export_start_wh = sample.value
            elif sample.measurand == _SOC and 0.0 <= sample.value <= 100.0:
                soc = sample.value
        if soc is not None and state.tx is not None:
            state.soc = (soc, state.delivered_wh)
        if power is None or at is None:
            return []
        state.power_w, state.power_at = power, at
        reasons: list[str] = []
        limit = state.limit_in_force_w(at)
        settled = state.confirmed_at is None or at - state.confirmed_at > timedelta(seconds=1)
        if limit is not None and settled and power > limit + tolerance_w:
            state.violations += 1  # consecutive: one may cross an answer in flight
            if not state.non_compliant and state.violations >= 2:
                state.non_compliant = True
                self.non_compliance_count += 1
                reasons.append("non-compliant")
        else:
            state.violations = 0
            if state.non_compliant and limit is not None and power <= limit + tolerance_w:
                state.non_compliant = False
                reasons.append("compliant again")
        if state.tx is not None and limit is not None and settled:
            # The EV takes less than it may: it is full, tapering or slow. Plan it at what it
            # takes (plus a margin to grow) and re-plan when that moved by more than the
            # threshold, so its share goes to the others.
            before = state.ev_max_w
            if 0 < power < limit - deviation_w:
                state.ev_max_w = power + deviation_w / 2
            elif power >= limit - tolerance_w and before is not None and limit >= before - 1:
                state.ev_max_w = None  # held at what it took before: it may take more now
            if before != state.ev_max_w and (
                before is None
                or state.ev_max_w is None
                or abs(before - state.ev_max_w) > deviation_w / 2
            ):
                reasons.append("meter deviation")
        return reasons

    def _readings(self, event: SiteReadingsReceived, *, deviation_w: float) -> list[str]:
        if event.site_id != self.site.id:
            return []
        reasons = self.pv_plants.take_posted(event, deviation_w=deviation_w)
        storage_ids = {a.id for a in self.site.storage}
        for unit in event.storage:
            if unit.storage_id not in storage_ids:
                continue
            old = self.storage.get(unit.storage_id)
            if old is not None and unit.at < old.at:
                continue
            self.storage[unit.storage_id] = unit
            if max(0.0, unit.power_w) - max(0.0, old.power_w if old else 0.0) > deviation_w / 2:
                reasons.append("storage")  # charging more: less for the EVs, at once
            elif old is not None and abs(unit.power_w - old.power_w) > deviation_w:
                reasons.append("storage")
        for rack in event.swap:
            if rack.swap_id in self.racks:
                reasons += self.racks[rack.swap_id].take(rack, site_id=self.site.id)
        return sorted(set(reasons))

    # -- views ----------------------------------------------------------------------------
    @property
    def pv(self) -> dict[str, PvReading]:
        """The PV plants' newest readings, fresh or not (:meth:`LivePv.counted`: fresh)."""
        return self.pv_plants.readings

    def controllable(self, state: EvseState) -> bool:
        """Whether the planner may count on this EVSE obeying what it is sent."""
        st = self.stations[state.station.id]
        if not st.online or state.non_compliant:
            return False
        # A station that refused its TxProfile is planned around; one whose answer did not
        # come in time is sent its TxProfile again at the next re-plan (a late answer may
        # have taken the failed one: it counts, as one unanswered, until then).
        return not (state.sent is not None and state.sent.state == "rejected")

    def worst_case_w(self, state: EvseState) -> float:
        """What an EVSE the planner cannot steer may draw: its measured draw if it ignores
        its limit, else its last confirmed limit, else its rating."""
        if state.non_compliant:
            return max(state.power_w, state.limit_in_force_w() or 0.0)
        st = self.stations[state.station.id]
        if not st.seen and state.tx is None:
            return 0.0  # never heard of since start and nothing running: nothing to count
        confirmed = state.limit_in_force_w()
        if confirmed is None:
            return state.rated_w
        # A schedule of several periods may rise later on: its highest limit.
        for sent in (state.accepted_sent, state.sent):
            ours = sent is not None and state.tx is not None and sent.transaction_id == state.tx.id
            if ours and sent is not None and (sent is state.accepted_sent or sent.unanswered):
                confirmed = max(confirmed, sent.peak_w)
        return confirmed
