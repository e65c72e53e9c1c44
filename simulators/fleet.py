"""A fleet of simulated stations in one process, on one clock, against one central system.

:func:`build_runner` wires one station (model, OCPP adapter, runner); :class:`Fleet` builds
``SIM-0001`` ... from a scenario, runs them until the last vehicle has left (or a deadline),
reports :class:`FleetProgress` on the way and a per-vehicle summary at the end. Storage units
(``FleetConfig.storage``), swap stations (``FleetConfig.swaps``, with seeded arrivals) and PV
plants (``FleetConfig.pv``) run beside them as OCPP 2.1 stations
(:mod:`simulators.storage_runner`, :mod:`simulators.swap_runner`,
:mod:`simulators.pv_station`) and have summaries of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from chargegrid.clock import Clock
from simulators.certificates import StationCertificates
from simulators.config import OCPP_VERSIONS
from simulators.connector import ConnectorSpec, SessionRecord
from simulators.draining import DRAIN_S, drain, undelivered, until_next_tick
from simulators.ev import EVSpec
from simulators.fleet_control import StationSwitch
from simulators.fleet_devices import (
    SiteDevices,
    meter_station,
    pv_summary,
    storage_summary,
    swap_station,
    swap_summary,
    with_v2g,
)
from simulators.messages import ConnectorStatus
from simulators.meter_runner import MeterRunner
from simulators.meter_station import SiteMeterSpec
from simulators.ocpp16 import V16Adapter
from simulators.ocpp21 import V21Adapter
from simulators.ocpp201 import V201Adapter
from simulators.pv_station import PvRunner, PvSpec, PvStation
from simulators.runner import FAULT_KINDS, Adapter, StationRunner
from simulators.scenario import sessions_by_station, station_ids
from simulators.station import Station, StationSpec
from simulators.storage import StorageSpec, StorageUnit
from simulators.storage_runner import StorageRunner
from simulators.storage_station import StorageStation
from simulators.swap import SwapStationSpec
from simulators.swap_ocpp import SwapOcppStation
from simulators.swap_runner import SwapRunner
from simulators.tls import StationTls
from simulators.v2g import V2XSpec

__all__ = [
    "OCPP_MIXES",
    "SUMMARY_COLUMNS",
    "Fleet",
    "FleetConfig",
    "FleetProgress",
    "build_runner",
    "version_for",
]

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "ev_id",
    "station_id",
    "connector_id",
    "arrival",
    "departure",
    "requested_wh",
    "delivered_wh",
    "soc_at_departure",
    "under_limit_s",
    "outcome",
    "discharged_wh",
    "discharge_refusals",
)

#: ``FleetConfig.ocpp`` values besides a single version: the versions they cycle through.
OCPP_MIXES = {"mixed": ("1.6", "2.0.1"), "all": OCPP_VERSIONS}


def version_for(index: int, mode: str) -> str:
    """The OCPP version of the ``index``-th station (0-based): ``mixed`` alternates 1.6 and
    2.0.1, ``all`` cycles through 1.6, 2.0.1 and 2.1."""
    cycle = OCPP_MIXES.get(mode)
    if cycle is not None:
        return cycle[index % len(cycle)]
    if mode not in OCPP_VERSIONS:
        choices = ", ".join((*OCPP_VERSIONS, *OCPP_MIXES))
        raise ValueError(f"OCPP mode must be one of {choices}, got {mode!r}")
    return mode


def build_runner(
    spec: StationSpec,
    *,
    url: str,
    clock: Clock,
    sessions: list[tuple[int, EVSpec]] | None = None,
    password: str | None = None,
    rng: random.Random | None = None,
    response_timeout_s: float = 30.0,
    max_boot_rejections: int | None = None,
    tls: StationTls | None = None,
) -> StationRunner:
    """One station, ready to :meth:`~StationRunner.run` (over TLS with ``tls``)."""
    station = Station(spec, now=clock.now(), sessions=sessions or [])
    adapters: dict[str, type[Adapter]] = {
        "1.6": V16Adapter,
        "2.0.1": V201Adapter,
        "2.1": V21Adapter,
    }
    adapter = adapters[spec.ocpp_version]()
    return StationRunner(
        station,
        adapter,
        url=url,
        clock=clock,
        password=password,
        tls=tls,
        rng=rng,
        response_timeout_s=response_timeout_s,
        max_boot_rejections=max_boot_rejections,
    )


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to inject into one station ``after_s`` simulated seconds into the run."""

    kind: str
    station_id: str
    after_s: float
    connector_id: int = 1
    value: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND,STATION,HOURS[,CONNECTOR[,VALUE]]``, e.g. ``meter-jump,SIM-0002,1.5,1,5000``."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 3 or len(parts) > 5:
            raise ValueError(f"expected KIND,STATION,HOURS[,CONNECTOR[,VALUE]], got {text!r}")
        if parts[0] not in FAULT_KINDS:
            raise ValueError(f"unknown fault {parts[0]!r}; choose one of {', '.join(FAULT_KINDS)}")
        try:
            return cls(
                kind=parts[0],
                station_id=parts[1],
                after_s=float(parts[2]) * 3600,
                connector_id=int(parts[3]) if len(parts) > 3 else 1,
                value=float(parts[4]) if len(parts) > 4 else 0.0,
            )
        except ValueError as exc:
            raise ValueError(f"bad fault {text!r}: {exc}") from None


def station_tls(config: FleetConfig, station_id: str) -> StationTls | None:
    """The station's TLS files: the CA; its own certificate when it has one already."""
    if config.ca_file is None:
        return None
    if config.certificates_dir is not None:
        cert = config.certificates_dir / f"{station_id}.pem"
        key = config.certificates_dir / f"{station_id}.key"
        if cert.exists() and key.exists():
            return StationTls(ca_file=config.ca_file, cert_file=cert, key_file=key)
    return StationTls(ca_file=config.ca_file)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    url: str
    stations: int = 10
    ocpp: str = "1.6"
    password: str | None = None
    #: TLS: the central system's CA file (profile 2); with ``certificates_dir`` each station
    #: also keeps its key and certificate there (``<id>.pem``, ``<id>.key``) and presents
    #: them once it has one (profile 3; obtained through SignCertificate if missing)
    ca_file: Path | None = None
    certificates_dir: Path | None = None
    organization: str | None = None
    connectors: int = 1
    max_current_a: float = 32.0
    phases: int = 3
    meter_interval_s: float = 60.0
    #: DC stations of this power instead of AC ones (``max_current_a`` then applies at 400 V DC).
    dc_power_w: float | None = None
    heartbeat_interval_s: float = 300.0
    prefix: str = "SIM"
    seed: int = 0
    response_timeout_s: float = 30.0
    #: storage units run beside the stations as OCPP 2.1 stations, each at its ``unit_id``
    storage: tuple[StorageSpec, ...] = ()
    #: swap stations run beside them as OCPP 2.1 stations, each at its ``station_id``
    swaps: tuple[SwapStationSpec, ...] = ()
    #: the swap stations' vehicles: seeded Poisson arrivals at this rate for a day
    swap_arrivals_per_hour: float = 4.0
    #: PV plants run beside them as OCPP 2.1 stations (their meters), each at its station_id
    pv: tuple[PvSpec, ...] = ()
    #: this share of the vehicles (seeded) is V2G with these V2X parameters; at OCPP 2.1
    #: stations they may discharge, at 1.6 and 2.0.1 ones they only charge
    v2g_share: float = 0.0
    v2x: V2XSpec = field(default_factory=V2XSpec)
    #: the site's grid meter as an OCPP 2.1 station reporting on EVSE 0 (None: no meter)
    site_meter: SiteMeterSpec | None = None


@dataclass(frozen=True, slots=True)
class FleetProgress:
    sim_time: datetime
    stations: int
    online: int
    charging: int
    sessions_done: int
    sessions_total: int
    energy_wh: float
    power_w: float
    calls_sent: int
    call_errors: int
    offline_queued: int

    def line(self) -> str:
        return (
            f"{self.sim_time:%Y-%m-%d %H:%M} | online {self.online}/{self.stations} | "
            f"charging {self.charging} | sessions {self.sessions_done}/{self.sessions_total} | "
            f"{self.energy_wh / 1000:.1f} kWh | {self.power_w / 1000:.1f} kW | "
            f"msgs {self.calls_sent} | errors {self.call_errors}"
        )


class Fleet(StationSwitch):
    """The stations of a scenario, run together (one may be stopped and restarted:
    :class:`~simulators.fleet_control.StationSwitch`)."""

    def __init__(self, config: FleetConfig, scenario: pd.DataFrame, *, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.scenario = scenario
        ids = station_ids(config.stations, prefix=config.prefix)
        plan = sessions_by_station(scenario, ids, connectors=config.connectors)
        plan = with_v2g(plan, config.v2g_share, config.v2x, seed=config.seed)
        if config.dc_power_w is not None:
            connector = ConnectorSpec(
                max_current_a=config.dc_power_w / 400.0 + 1,
                phases=1,
                dc=True,
                voltage_v=400.0,
                max_power_w=config.dc_power_w,
            )
        else:
            connector = ConnectorSpec(max_current_a=config.max_current_a, phases=config.phases)
        rng = random.Random(config.seed)
        self.runners: list[StationRunner] = []
        for i, station_id in enumerate(ids):
            spec = StationSpec(
                station_id=station_id,
                ocpp_version=version_for(i, config.ocpp),
                connectors=(connector,) * config.connectors,
                meter_interval_s=config.meter_interval_s,
                heartbeat_interval_s=config.heartbeat_interval_s,
            )
            runner = build_runner(
                spec,
                url=config.url,
                clock=clock,
                sessions=plan[station_id],
                password=config.password,
                rng=random.Random(rng.random()),
                response_timeout_s=config.response_timeout_s,
                tls=station_tls(config, station_id),
            )
            if config.certificates_dir is not None:
                runner.certificates = StationCertificates(
                    station_id, config.certificates_dir, organization=config.organization
                )
            self.runners.append(runner)

        self._device_runners(config, clock, rng)
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._unsent: dict[str, int] = {}
        #: When the stations stopped simulating (:meth:`stop`); the summary is taken then.
        self.stopped_at: datetime | None = None

    def _device_runners(self, config: FleetConfig, clock: Clock, rng: random.Random) -> None:
        """The storage units', swap stations', PV plants' and grid meter's runners."""

        def device(station_id: str) -> dict[str, Any]:
            """What every device's runner takes from the fleet."""
            return {
                "url": config.url,
                "clock": clock,
                "heartbeat_interval_s": config.heartbeat_interval_s,
                "password": config.password,
                "tls": station_tls(config, station_id),
                "rng": random.Random(rng.random()),
                "response_timeout_s": config.response_timeout_s,
            }

        interval = config.meter_interval_s
        self.storage_runners = [
            StorageRunner(
                StorageStation(StorageUnit(spec, start=clock.now()), meter_interval_s=interval),
                **device(spec.unit_id),
            )
            for spec in config.storage
        ]
        per_hour = config.swap_arrivals_per_hour
        self.swap_runners = [
            SwapRunner(
                SwapOcppStation(
                    swap_station(spec, per_hour, config.seed, clock.now()),
                    meter_interval_s=interval,
                ),
                **device(spec.station_id),
            )
            for spec in config.swaps
        ]
        self.pv_runners = [
            PvRunner(
                PvStation(spec, start=clock.now(), meter_interval_s=interval),
                **device(spec.station_id),
            )
            for spec in config.pv
        ]
        site = SiteDevices(self.runners, self.storage_runners, self.swap_runners, self.pv_runners)
        self.meter_runners = [
            MeterRunner(
                meter_station(
                    spec, site, start=clock.now(), interval_s=spec.interval_s or interval
                ),
                **device(spec.station_id),
            )
            for spec in ([config.site_meter] if config.site_meter is not None else [])
        ]

    def _every(self) -> list[StationRunner]:
        devices: list[StationRunner] = [*self.storage_runners, *self.swap_runners, *self.pv_runners]
        return [*self.runners, *devices, *self.meter_runners]

    @property
    def end(self) -> datetime | None:
        """Five minutes after the last planned departure."""
        if self.scenario.empty:
            return None
        last: datetime = self.scenario["departure"].max().to_pydatetime()
        return last + timedelta(minutes=5)

    def progress(self) -> FleetProgress:
        done = charging = 0
        energy = power = 0.0
        for r in self.runners:
            done += len(r.station.records)
            for c in r.station.connectors.values():
                energy += c.energy_wh
                power += c.power_w
                charging += c.status is ConnectorStatus.CHARGING
        return FleetProgress(
            sim_time=self.clock.now(),
            stations=len(self.runners),
            online=sum(r.online for r in self.runners),
            charging=charging,
            sessions_done=done,
            sessions_total=len(self.scenario),
            energy_wh=energy,
            power_w=power,
            calls_sent=sum(r.stats.calls_sent for r in self.runners),
            call_errors=sum(r.stats.call_errors for r in self.runners),
            offline_queued=sum(len(r.outbox) for r in self.runners if not r.online),
        )

    async def run(
        self,
        *,
        until: datetime | None = None,
        on_progress: Callable[[FleetProgress], None] | None = None,
        progress_every_s: float = 1.0,
        ramp_s: float = 0.0,
        faults: Sequence[Fault] = (),
        drain_s: float = DRAIN_S,
    ) -> pd.DataFrame:
        """Run every station until ``until`` (default :attr:`end`); return the summary.

        ``ramp_s`` spreads the first connections over that many real seconds. At ``until``
        the stations stop simulating and get up to ``drain_s`` real seconds to deliver
        what they had already decided to send (:meth:`stop`).
        """
        deadline = until or self.end
        self.check_faults(faults)
        by_id = {r.station_id: r for r in self.runners}
        for fault in faults:
            self._tasks.append(asyncio.create_task(self._inject(by_id[fault.station_id], fault)))
        every = self._every()
        for i, runner in enumerate(every):
            self._launch(runner, ramp_s * i / max(1, len(every)))
        ended_s = 0.0  # drained only at the end of the run, not when it is interrupted
        try:
            while deadline is None or self.clock.now() < deadline:
                await asyncio.sleep(until_next_tick(self.clock, deadline, progress_every_s))
                if on_progress is not None:
                    on_progress(self.progress())
            ended_s = drain_s
        finally:
            await self.stop(drain_s=ended_s)
        return self.summary()

    def check_faults(self, faults: Sequence[Fault]) -> None:
        """Raise ValueError for a fault aimed at a station or connector the fleet lacks."""
        by_id = {r.station_id: r for r in self.runners}
        for fault in faults:
            runner = by_id.get(fault.station_id)
            if runner is None:
                raise ValueError(
                    f"fault for unknown station {fault.station_id!r} "
                    f"(the fleet has {self.runners[0].station_id}..{self.runners[-1].station_id})"
                )
            if fault.connector_id not in runner.station.connectors:
                raise ValueError(
                    f"fault for connector {fault.connector_id} of {fault.station_id}, "
                    f"which has {len(runner.station.connectors)}"
                )

    async def _inject(self, runner: StationRunner, fault: Fault) -> None:
        await self.clock.sleep(fault.after_s)
        await runner.inject(fault.kind, connector_id=fault.connector_id, value=fault.value)

    def unsent(self) -> dict[str, int]:
        """Per station, the transaction messages (starts, meter values, ends) still queued:
        what the central system never got. Taken when the fleet stops."""
        return dict(self._unsent)

    def never_connected(self) -> list[str]:
        """Stations that never completed a WebSocket handshake (refused, e.g. 401)."""
        every = self._every()
        return [r.station_id for r in every if r.stats.connects == 0]

    async def stop(self, *, drain_s: float = 0.0) -> None:
        """Stop every station; with ``drain_s``, gracefully (:mod:`simulators.draining`)."""
        if self._tasks:
            every, self.stopped_at = self._every(), self.clock.now()
            await asyncio.gather(*(r.stop_simulating(at=self.stopped_at) for r in every))
            for r in every:  # what happened up to now is decided, and then delivered
                r.sync()
            if drain_s > 0:
                await drain(every, drain_s)
            self._unsent = {r.station_id: n for r in every if (n := undelivered(r))}
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._running.clear()

    def problems(self, *, limit: int = 10) -> list[str]:
        """What went wrong, most frequent first: one line per distinct error."""
        seen: dict[str, list[str]] = {}
        for r in self._every():
            for error in dict.fromkeys(r.stats.errors):
                seen.setdefault(error, []).append(r.station_id)
        ranked = sorted(seen.items(), key=lambda kv: -len(kv[1]))[:limit]
        return [f"{error} [{len(ids)} station(s), e.g. {ids[0]}]" for error, ids in ranked]

    def summary(self) -> pd.DataFrame:
        """Per vehicle: energy requested and delivered, SoC at departure, time under limit
        (at the fleet's stop, if it has stopped)."""
        now = self.stopped_at or self.clock.now()
        records: list[SessionRecord] = []
        for r in self.runners:
            records += r.station.finish(now)
        rows = [{k: v for k, v in asdict(rec).items() if k in SUMMARY_COLUMNS} for rec in records]
        frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        return frame.sort_values(["arrival", "ev_id"], kind="stable").reset_index(drop=True)

    def storage_summary(self) -> pd.DataFrame:
        """Per storage unit (:func:`~simulators.fleet_devices.storage_summary`)."""
        return storage_summary(self.storage_runners)

    def swap_summary(self) -> pd.DataFrame:
        """Per swap station (:func:`~simulators.fleet_devices.swap_summary`)."""
        return swap_summary(self.swap_runners)

    def pv_summary(self) -> pd.DataFrame:
        """Per PV plant (:func:`~simulators.fleet_devices.pv_summary`)."""
        return pv_summary(self.pv_runners)
