"""A site, a mixed OCPP 1.6/2.0.1 simulated fleet and a CSMS with the planner, on one
virtual clock; what the stations' own meter values say about site and feeder power."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from chargegrid.clock import Clock
from csms.events import DomainEvent, MeterValuesReceived, TransactionEnded
from csms.sites import Site, SiteEvse, SiteNode, SiteStation
from csms.sites.model import FleetDefaults, NodeKind, SessionDefaults, StationQuirks
from simulators import Fleet, FleetConfig
from simulators.scenario import COLUMNS, station_ids

__all__ = ["PowerLog", "depot_scenario", "depot_site"]

START = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def depot_site(
    *,
    stations: int = 20,
    connectors: int = 2,
    feeder_stations: int = 8,
    site_kw: float = 150.0,
    feeder_kw: float = 60.0,
    prefix: str = "SIM",
    defaults: SessionDefaults | None = None,
    fleets: tuple[FleetDefaults, ...] = (),
) -> Site:
    """``stations`` x ``connectors`` EVSEs (32 A, 3-phase); the first ``feeder_stations``
    stations hang on a feeder inside the site cap."""
    ids = station_ids(stations, prefix=prefix)
    return Site(
        id="depot",
        name="depot",
        nodes=(
            SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=site_kw * 1000),
            SiteNode(
                id="feeder", kind=NodeKind.FEEDER, parent="grid", max_import_w=feeder_kw * 1000
            ),
        ),
        # The simulated 1.6 stations refuse decimal limits (the ocpp library hands them
        # Decimal values): whole watts avoid that.
        quirks=(StationQuirks(model="SimStation", unit="W"),),
        defaults=defaults or SessionDefaults(),
        fleets=fleets,
        stations=tuple(
            SiteStation(
                id=sid,
                model="SimStation",
                node="feeder" if i < feeder_stations else "grid",
                evses=tuple(
                    SiteEvse(id=c, max_current_a=32.0, min_current_a=0.0)
                    for c in range(1, connectors + 1)
                ),
            )
            for i, sid in enumerate(ids)
        ),
    )


def depot_scenario(
    *,
    stations: int = 20,
    connectors: int = 2,
    start: datetime = START,
    first_arrival_s: float = 60.0,
    arrivals_within_s: float = 900.0,
    dwell_s: float = 4 * 3600.0,
    capacity_wh: float = 60_000.0,
    initial_soc: float = 0.2,
    target_soc: float = 0.8,
    max_ac_power_w: float = 11_000.0,
    prefix: str = "SIM",
) -> pd.DataFrame:
    """One EV per connector, the first ``first_arrival_s`` after ``start`` (the stations
    booted by then: an EV that arrives at a station still offline is refused), the others
    spread over ``arrivals_within_s``, each staying ``dwell_s``."""
    rows: list[dict[str, Any]] = []
    n = stations * connectors
    for i, sid in enumerate(station_ids(stations, prefix=prefix)):
        for c in range(1, connectors + 1):
            k = i * connectors + (c - 1)
            arrival = start + timedelta(seconds=first_arrival_s + arrivals_within_s * k / max(1, n))
            rows.append(
                {
                    "ev_id": f"EV-{k:04d}",
                    "station_id": sid,
                    "connector_id": c,
                    "arrival": pd.Timestamp(arrival),
                    "departure": pd.Timestamp(arrival + timedelta(seconds=dwell_s)),
                    "capacity_wh": capacity_wh,
                    "initial_soc": initial_soc,
                    "target_soc": target_soc,
                    "max_ac_power_w": max_ac_power_w,
                    "max_dc_power_w": 50_000.0,
                    "phases": 3,
                    "id_tag": f"TAG{k:05d}",
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def make_fleet(
    url: str,
    scenario: pd.DataFrame,
    clock: Clock,
    *,
    stations: int,
    connectors: int,
    meter_interval_s: float = 60.0,
    prefix: str = "SIM",
) -> Fleet:
    return Fleet(
        FleetConfig(
            url=url,
            stations=stations,
            ocpp="mixed",
            connectors=connectors,
            max_current_a=32.0,
            meter_interval_s=meter_interval_s,
            heartbeat_interval_s=3600.0,
            prefix=prefix,
            response_timeout_s=10.0,
        ),
        scenario,
        clock=clock,
    )


@dataclass
class PowerLog:
    """Measured power per EVSE as a step function of the sample times (from the bus)."""

    site: Site
    samples: dict[tuple[str, int], list[tuple[datetime, float]]] = field(default_factory=dict)

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionEnded):  # the EV has left: nothing drawn from then on
            tx = event.transaction
            if tx.stopped_at is not None:
                series = self.samples.setdefault((tx.station_id, tx.evse_id), [])
                series.append((tx.stopped_at + timedelta(microseconds=1), 0.0))
                series.sort()
            return
        if not isinstance(event, MeterValuesReceived):
            return
        for s in event.samples:
            if s.measurand == "Power.Active.Import" and s.phase is None:
                series = self.samples.setdefault((event.station_id, event.evse_id), [])
                series.append((s.timestamp, s.value))
                series.sort()

    def power_at(self, at: datetime, node_id: str) -> float:
        total = 0.0
        for station, evse, node in self.site.evses():
            if node is None or node_id not in self.site.ancestors(node):
                continue
            series = self.samples.get((station.id, evse.id), [])
            i = bisect.bisect_right(series, (at, float("inf"))) - 1
            if i >= 0:
                total += series[i][1]
        return total

    def times(self) -> list[datetime]:
        return sorted({t for series in self.samples.values() for t, _ in series})

    def energy_wh(self) -> float:
        total = 0.0
        for series in self.samples.values():
            for (t0, p0), (t1, _) in itertools.pairwise(series):
                total += p0 * (t1 - t0).total_seconds() / 3600
        return total

    def peak_w(self, node_id: str) -> float:
        return max((self.power_at(t, node_id) for t in self.times()), default=0.0)

    def longest_excess_s(
        self,
        node_id: str,
        limit_w: Any,
        *,
        since: datetime | None = None,
        changes: list[datetime] | None = None,
        grace_s: float = 0.0,
    ) -> tuple[float, float]:
        """(longest stretch in s with the node's measured power above ``limit_w(t)``, the
        largest excess in W). With ``changes``, an excess within ``grace_s`` after a change
        (a new limit sent) is excused: the meter values have not all caught up yet."""
        marks = sorted(changes or [])
        longest = worst = 0.0
        began: datetime | None = None
        for t in self.times():
            if since is not None and t < since:
                continue
            excess = self.power_at(t, node_id) - limit_w(t)
            i = bisect.bisect_right(marks, t) - 1
            excused = i >= 0 and (t - marks[i]).total_seconds() <= grace_s
            if excess > 1.0:
                worst = max(worst, excess)
            if excess > 1.0 and not excused:
                began = began or t
                longest = max(longest, (t - began).total_seconds())
            else:
                if began is not None:
                    longest = max(longest, (t - began).total_seconds())
                began = None
        return longest, worst

    def excess_stretches(
        self,
        node_id: str,
        limit_w: Any,
        *,
        changes: list[datetime] | None = None,
        grace_s: float = 0.0,
    ) -> list[tuple[datetime, datetime, float]]:
        """Every stretch of samples with the node above ``limit_w(t)`` and not excused (see
        :meth:`longest_excess_s`): (first sample, last sample, largest excess W)."""
        marks = sorted(changes or [])
        out: list[tuple[datetime, datetime, float]] = []
        current: list[Any] | None = None
        for t in self.times():
            excess = self.power_at(t, node_id) - limit_w(t)
            i = bisect.bisect_right(marks, t) - 1
            excused = i >= 0 and (t - marks[i]).total_seconds() <= grace_s
            if excess > 1.0 and not excused:
                if current is None:
                    current = [t, t, excess]
                current[1], current[2] = t, max(current[2], excess)
            elif current is not None:
                out.append((current[0], current[1], current[2]))
                current = None
        if current is not None:
            out.append((current[0], current[1], current[2]))
        return out
