"""The site model: the limit tree, stations and EVSEs placed in it, PV, storage, tariff and the
session defaults, as frozen pydantic models (the HTTP API can use them as bodies as they are).

Units are W, Wh, A, V; the site file writes kW and kWh (see :mod:`csms.sites.tomlfile`).
Rules that need the whole site (a cycle, an EVSE on no node, a phase that does not exist) are
checked by :func:`csms.sites.validation.check_site`, not here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime, time
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from csms.ids import EntityId, StationId
from csms.quantities import (
    CurrentA,
    DurationS,
    Efficiency,
    EnergyWh,
    Percent,
    PositivePowerW,
    PowerW,
    PricePerKw,
    PricePerKwh,
    VoltageV,
)

__all__ = [
    "PV_PEAK_TOLERANCE",
    "EvsePhase",
    "FleetDefaults",
    "GridMeter",
    "NodeKind",
    "PvAsset",
    "SessionDefaults",
    "Site",
    "SiteEvse",
    "SiteNode",
    "SiteStation",
    "StationQuirks",
    "StorageAsset",
    "SwapStation",
    "Tariff",
    "TouPeriod",
]

PhaseName = Literal["L1", "L2", "L3"]
#: How an EVSE is connected: one phase or all three.
EvsePhase = Literal["L1", "L2", "L3", "L1L2L3"]


class NodeKind(enum.StrEnum):
    GRID_CONNECTION = "grid_connection"
    TRANSFORMER = "transformer"
    FEEDER = "feeder"
    PANEL = "panel"
    STATION_GROUP = "station_group"
    STATION = "station"
    #: one EVSE's own limits: a leaf that at most one EVSE hangs on (``SiteEvse.node``)
    EVSE = "evse"


class _Model(BaseModel):
    # Every float is finite (NaN and ±inf refused) whatever its type says (see
    # :mod:`csms.quantities` for the ranges).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SiteNode(_Model):
    """A node of the limit tree. ``None`` limits mean unlimited; ``phases`` are the phases
    present at the node (a single-phase panel has one)."""

    id: EntityId
    kind: NodeKind = NodeKind.PANEL
    parent: EntityId | None = None
    max_import_w: PowerW | None = None
    max_export_w: PowerW | None = None
    max_phase_current_a: CurrentA | None = None
    phases: tuple[PhaseName, ...] = ("L1", "L2", "L3")
    voltage_v: VoltageV = 230.0


class SiteEvse(_Model):
    """An EVSE of a station (OCPP 1.6 connectorId / 2.0.1 evseId). ``node`` defaults to the
    station's node."""

    id: int = Field(ge=1, le=1000)
    node: EntityId | None = None
    phase: EvsePhase = "L1L2L3"
    max_current_a: CurrentA = Field(default=32.0, gt=0)
    min_current_a: CurrentA = 6.0
    voltage_v: VoltageV = 230.0

    @property
    def n_phases(self) -> int:
        return 3 if self.phase == "L1L2L3" else 1

    @property
    def max_power_w(self) -> float:
        return self.max_current_a * self.voltage_v * self.n_phases

    @property
    def min_power_w(self) -> float:
        return self.min_current_a * self.voltage_v * self.n_phases


class SiteStation(_Model):
    """A charging station placed in the tree; ``model`` selects its :class:`StationQuirks`."""

    id: StationId
    node: EntityId | None = None
    model: str = ""
    max_power_w: PowerW | None = Field(default=None, gt=0)
    evses: tuple[SiteEvse, ...] = ()


#: A PV reading above a plant's peak by more than this share is a fault (a wrong unit, a
#: wrong plant): refused, logged and counted (decision 0922).
PV_PEAK_TOLERANCE = 0.25


class PvAsset(_Model):
    """A PV plant under ``node``. With ``station`` its meter speaks OCPP: MeterValues on
    that station's EVSE ``evse`` (0: the station's main meter), ``Power.Active.Export`` less
    ``Power.Active.Import`` being what it produces; without, its readings arrive by
    ``POST /sites/{id}/readings`` (both are taken, the newest wins). A reading older than
    ``stale_after_s`` (None: ``[planning] readings_max_age_s``) is not counted on."""

    id: EntityId
    node: EntityId
    peak_w: PowerW = Field(gt=0)
    station: StationId | None = None
    evse: int = Field(default=0, ge=0, le=1000)
    stale_after_s: float | None = Field(default=None, gt=0, le=3600)

    @property
    def max_reading_w(self) -> float:
        """The most a sound reading of the plant may say."""
        return self.peak_w * (1.0 + PV_PEAK_TOLERANCE)


class StorageAsset(_Model):
    """A stationary battery under ``node``. With ``station`` it speaks OCPP 2.1 (a station of
    the site with one bidirectional EVSE, ``evse``, not listed among the charging EVSEs): its
    readings arrive by MeterValues and it is dispatched with ``CentralSetpoint`` schedules.
    Without, its readings arrive by ``POST /sites/{id}/readings`` and nothing steers it."""

    id: EntityId
    node: EntityId
    capacity_wh: EnergyWh = Field(gt=0)
    max_charge_w: PowerW
    max_discharge_w: PowerW
    min_soc_pct: Percent = 0.0
    max_soc_pct: Percent = 100.0
    charge_efficiency: Efficiency = 0.95
    discharge_efficiency: Efficiency = 0.95
    #: Largest change of power per second; None: the unit steps at once.
    ramp_w_per_s: PositivePowerW | None = None
    station: StationId | None = None
    evse: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="after")
    def _soc_bounds(self) -> Self:
        if self.min_soc_pct > self.max_soc_pct:
            raise ValueError(
                f"min_soc_pct {self.min_soc_pct:g} is above max_soc_pct {self.max_soc_pct:g}"
            )
        return self

    @property
    def min_soc_wh(self) -> float:
        return self.capacity_wh * self.min_soc_pct / 100.0

    @property
    def max_soc_wh(self) -> float:
        return self.capacity_wh * self.max_soc_pct / 100.0


class GridMeter(_Model):
    """The meter at the site's grid connection (``[meter]``; decision 0917). With
    ``station`` it reports by MeterValues on that station's EVSE ``evse`` (0: the station's
    main meter), ``Power.Active.Import`` less ``Power.Active.Export`` being the site's net
    import; without, through ``POST /sites/{id}/readings``. A reading older than
    ``stale_after_s`` is stale: the storage controller then falls back to its estimate."""

    station: StationId | None = None
    evse: int = Field(default=0, ge=0, le=1000)
    stale_after_s: float = Field(default=15.0, gt=0, le=3600)


class SwapStation(_Model):
    """A battery-swap station (OCPP id ``station``): a rack of ``rack_size`` packs charged as
    flexible load so that every forecast swap finds a pack at ``ready_soc_pct`` or more. The
    forecast: expected swaps per hour of the day (24 values, site local time, fractions
    allowed) and/or swaps at explicit local times of day (see :mod:`csms.sites.swap`)."""

    id: EntityId
    station: StationId
    node: EntityId
    rack_size: int = Field(ge=1, le=1000)
    pack_capacity_wh: EnergyWh = Field(gt=0)
    max_pack_power_w: PowerW = Field(gt=0)
    max_rack_power_w: PowerW = Field(gt=0)
    ready_soc_pct: Percent = 90.0
    arrival_soc_pct: Percent = 20.0
    efficiency: float = Field(default=0.95, gt=0, le=1)
    swaps_per_hour: tuple[Annotated[float, Field(ge=0, le=3600)], ...] = ()
    swap_times: tuple[time, ...] = ()

    @field_validator("swaps_per_hour")
    @classmethod
    def _one_per_hour(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if value and len(value) != 24:
            raise ValueError(f"needs 24 values (one per hour of the day), got {len(value)}")
        return value


class TouPeriod(_Model):
    """From ``start`` (site local time of day) until the next period's start."""

    start: time
    import_price_per_kwh: PricePerKwh


class Tariff(_Model):
    """Time-of-use import price, export price, demand charge."""

    currency: str = "EUR"
    periods: tuple[TouPeriod, ...] = (TouPeriod(start=time(0), import_price_per_kwh=0.25),)
    export_price_per_kwh: PricePerKwh = 0.0
    demand_charge_per_kw: PricePerKw = 0.0

    def import_price_at(self, local: time) -> float:
        ordered = sorted(self.periods, key=lambda p: p.start)
        price = ordered[
            -1
        ].import_price_per_kwh  # before the first start: wraps from the day before
        for period in ordered:
            if period.start <= local:
                price = period.import_price_per_kwh
        return price


class SessionDefaults(_Model):
    """What a session needs when neither the EV nor its token/fleet says: ``energy_wh`` by
    ``departure`` (next occurrence of that local time) or after ``dwell_s``.

    The vehicles, where they are known (a fleet's vans): ``max_power_w`` is what their
    onboard charger takes, and ``battery_wh`` their usable capacity. With a capacity the
    planner models the taper: above ``taper_soc_pct`` an EV takes linearly less (none at
    full), but never less than ``taper_floor_pct`` of its maximum. Where the EV reports no
    state of charge (AC), the session's energy is taken to end at ``charge_to_pct``.
    """

    energy_wh: EnergyWh = 20_000.0
    departure: time | None = None
    dwell_s: DurationS = 8 * 3600.0
    max_power_w: PowerW | None = Field(default=None, gt=0)
    battery_wh: EnergyWh | None = Field(default=None, gt=0)
    charge_to_pct: Percent = Field(default=100.0, gt=0)
    taper_soc_pct: Percent = Field(default=80.0, lt=100)
    taper_floor_pct: Percent = 10.0


class FleetDefaults(SessionDefaults):
    """Session needs of a fleet's vehicles, matched by id token (exact, prefix or group)."""

    id: EntityId
    id_tokens: tuple[str, ...] = ()
    token_prefix: str | None = None
    group: str | None = None

    def matches(self, token: str | None, group: str | None = None) -> bool:
        if token is not None and token in self.id_tokens:
            return True
        if token is not None and self.token_prefix and token.startswith(self.token_prefix):
            return True
        return group is not None and self.group is not None and group == self.group


class StationQuirks(_Model):
    """What a station model can not do, applied when its profiles are built."""

    model: str = Field(min_length=1)
    unit: Literal["A", "W"] | None = None
    min_current_a: CurrentA | None = None
    #: The only currents (A per phase) the model's pilot takes, e.g. [8, 16, 24, 32]; 0 (off)
    #: is always allowed. Empty: any current from the minimum up.
    allowed_currents_a: tuple[CurrentA, ...] = ()
    tx_profile_outside_transaction: bool = True
    max_stack_level: int | None = Field(default=None, ge=0, le=1000)
    single_period: bool = False

    @field_validator("allowed_currents_a")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(a <= 0 for a in value):
            raise ValueError("every allowed current must be above 0 A (0 is always allowed)")
        if list(value) != sorted(set(value)):
            raise ValueError("allowed currents must be strictly increasing")
        return value


class Site(_Model):
    id: EntityId
    name: str = ""
    timezone: str = "UTC"
    nodes: tuple[SiteNode, ...] = ()
    stations: tuple[SiteStation, ...] = ()
    pv: tuple[PvAsset, ...] = ()
    storage: tuple[StorageAsset, ...] = ()
    swap: tuple[SwapStation, ...] = ()
    meter: GridMeter | None = None
    tariff: Tariff = Tariff()
    defaults: SessionDefaults = SessionDefaults()
    fleets: tuple[FleetDefaults, ...] = ()
    quirks: tuple[StationQuirks, ...] = ()

    # --- lookups -------------------------------------------------------------------------
    def node(self, node_id: str) -> SiteNode | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    @property
    def root(self) -> SiteNode | None:
        roots = [n for n in self.nodes if n.parent is None]
        return roots[0] if len(roots) == 1 else None

    def ancestors(self, node_id: str) -> list[str]:
        """``node_id`` and its ancestors up to the root (stops on a cycle)."""
        by_id = {n.id: n for n in self.nodes}
        out: list[str] = []
        current: str | None = node_id
        while current is not None and current in by_id and current not in out:
            out.append(current)
            current = by_id[current].parent
        return out

    def station(self, station_id: str) -> SiteStation | None:
        for station in self.stations:
            if station.id == station_id:
                return station
        return None

    def evses(self) -> Iterator[tuple[SiteStation, SiteEvse, str | None]]:
        """Every EVSE with its station and the node it hangs on."""
        for station in self.stations:
            for evse in station.evses:
                yield station, evse, evse.node or station.node

    def evses_under(self, node_id: str) -> list[tuple[SiteStation, SiteEvse]]:
        return [
            (station, evse)
            for station, evse, node in self.evses()
            if node is not None and node_id in self.ancestors(node)
        ]

    def quirks_for(self, station: SiteStation) -> StationQuirks | None:
        for quirks in self.quirks:
            if quirks.model == station.model:
                return quirks
        return None

    def local_time(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.timezone))
