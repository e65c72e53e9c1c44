"""One simulated site day: the real central system (in this process, or a subprocess for the
kill run) with the simulators on one virtual clock, metered by the harness.

The harness is the site's meter and its energy management: every ``sample_s`` of the
virtual clock it reads each simulated device's power (the EVs' draw, the storage units', the
swap rack's) and the PV model's, and books them (:class:`~benchmarks.site_day_books.SiteBooks`);
every ``meter_s`` it reports the PV to the central system as its site readings. At the end
it steps every device model to the same instant, so that the meter's books and the devices'
registers cover the same time, and checks them against each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from benchmarks.site_day_books import Books, Checks, DeviceTotals, SiteBooks, checks
from benchmarks.site_day_causes import Probe, episodes, seconds_by_cause
from benchmarks.site_day_world import (
    DAY,
    METER_ID,
    SITE_ID,
    DayShape,
    cap_constraint,
    ev_scenario,
    make_site,
    swap_arrivals,
)
from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken, PvReading
from csms.events import DomainEvent, PlanComputed, SiteReadingsReceived, StorageDispatched
from csms.planning import PlanningSettings
from csms.planning.dispatch import current_w
from csms.store import MemoryStore, Store
from csms.swaps import BatteryPack
from csms.telemetry.settings import TelemetrySettings
from simulators import Fleet, FleetConfig
from simulators.connector import Connector
from simulators.meter_station import SiteMeterSpec
from simulators.runner import StationRunner
from simulators.swap import SwapArrival

__all__ = ["DayOptions", "DayResult", "RunSpec", "ev_draw_w", "run_day"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of the matrix (or a failure run: ``failure`` names it)."""

    name: str
    storage_control: bool = True
    v2g: bool = False
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class DayOptions:
    shape: DayShape = field(default_factory=DayShape)
    start_h: float = 0.0
    hours: float = 24.0
    speed: float = 600.0
    #: the storage controller's interval, and the one control interval of the cap check
    control_s: float = 30.0
    meter_s: float = 30.0
    sample_s: float = 10.0
    v2g_share: float = 0.3
    #: the first minutes (stations booting, no profile sent yet) are not held to the cap
    warmup_s: float = 900.0
    #: the site's grid meter reports this often (virtual s; None: the site has none and the
    #: controller steps on its estimate, as before decision 0931)
    grid_meter_s: float | None = 5.0
    #: plan the swap rack on its slots' metered SoC (``[planning] swap_metered_soc``;
    #: None: the central system's default)
    swap_metered_soc: bool | None = None

    @property
    def meter_stale_s(self) -> float | None:
        """A grid meter reading older than four of its intervals is stale (0917)."""
        return None if self.grid_meter_s is None else 4 * self.grid_meter_s

    @property
    def start(self) -> datetime:
        return DAY + timedelta(hours=self.start_h)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


@dataclass(slots=True)
class DayResult:
    spec: RunSpec
    books: Books
    totals: DeviceTotals
    checks: Checks
    evs_requested_wh: float
    wall_s: float
    meter: Any = None  # the meter's registers
    notes: list[str] = field(default_factory=list)
    control_s: float = 30.0
    sample_s: float = 10.0
    #: the central system's counters (re-plans, EV cuts, controller steps)
    counters: dict[str, int] = field(default_factory=dict)
    #: every stretch over the limit with its causes (benchmarks/site_day_causes.py)
    episodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def longest_less_stall_s(self) -> float:
        """The longest stretch over the limit less the time the event loop stalled in it."""
        return max((e["seconds"] - e["stalled_s"] for e in self.episodes), default=0.0)

    @property
    def cap_held_less_stall(self) -> bool:
        """The cap check (one control interval and a sample) on the stretches less the
        stalls in them: what the system took, the machine's stalls left out."""
        return self.longest_less_stall_s <= self.control_s + self.sample_s

    def figures(self) -> dict[str, Any]:
        b, t, c = self.books, self.totals, self.checks
        return {
            "run": self.spec.name,
            "storage_control": self.spec.storage_control,
            "v2g": self.spec.v2g,
            "failure": self.spec.failure,
            "import_peak_kw": round(b.import_peak_w / 1000, 2),
            "ev_energy_kwh": round(t.ev_charged_wh / 1000, 2),
            "ev_requested_kwh": round(self.evs_requested_wh / 1000, 2),
            "v2g_given_kwh": round(t.v2g_given_wh / 1000, 2),
            "storage_in_kwh": round(t.storage_in_wh / 1000, 2),
            "storage_out_kwh": round(t.storage_out_wh / 1000, 2),
            "rack_kwh": round(t.rack_wh / 1000, 2),
            "swaps": t.swaps,
            "swaps_no_ready_pack": t.swaps_no_ready_pack,
            "swaps_no_ready_pack_promised": t.swaps_no_ready_pack_promised,
            "cost": round(b.cost, 2),
            "seconds_over_cap": round(b.seconds_over_cap, 1),
            "longest_over_cap_s": round(c.longest_over_cap_s, 1),
            "worst_over_cap_kw": round(
                max((s.worst_w for s in b.stretches), default=0.0) / 1000, 2
            ),
            "balance_error_pct": round(100 * c.balance_error, 3),
            "grid_import_kwh": round(self.meter.import_wh / 1000, 2),
            "grid_export_kwh": round(self.meter.export_wh / 1000, 2),
            "pv_kwh": round(self.meter.pv_wh / 1000, 2),
            "samples": b.samples,
            "longest_sample_gap_s": round(b.longest_gap_s, 1),
            "storage_balance_error_pct": round(100 * c.storage_balance_error, 3),
            "soc_seen_pct": {u: [round(lo, 2), round(hi, 2)] for u, (lo, hi) in b.soc_seen.items()},
            "cap_held": c.cap_held,
            "limit_held": b.seconds_over_cap == 0.0,
            "energy_conserved": c.energy_conserved,
            "soc_in_bounds": c.soc_in_bounds,
            "swaps_served": c.swaps_served,
            "passed": c.passed,
            "wall_s": round(self.wall_s, 1),
            "stretches_over_cap": [
                [f"{s.start:%H:%M:%S}", round(s.seconds), round(s.worst_w / 1000, 2)]
                for s in sorted(b.stretches, key=lambda s: -s.seconds)[:5]
            ],
            "longest_over_cap_less_stall_s": round(self.longest_less_stall_s, 1),
            "cap_held_less_stall": self.cap_held_less_stall,
            "over_cap_s_by_cause": seconds_by_cause(self.episodes),
            "counters": self.counters,
            "episodes_over_cap": self.episodes,
            "notes": self.notes,
        }


def ev_draw_w(c: Connector) -> float:
    """What a simulated EVSE draws now (negative: a V2G EV giving): nothing without a
    session, nothing once the EV is full, else the power set within what the EV takes."""
    ev = c.ev
    if ev is None or c.tx is None:
        return 0.0
    if c.power_w < 0:
        return c.power_w
    return min(c.power_w, ev.acceptance_w())


class PlanWatch:
    """The forecast swaps the newest plan could not ready a pack for, and when the storage
    controller last stepped, from the bus."""

    def __init__(self) -> None:
        self.unready: list[tuple[datetime, tuple[datetime, ...]]] = []
        self.last_step: StorageDispatched | None = None

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, PlanComputed) and event.site_id == SITE_ID:
            racks = event.plan.swap_racks.values()
            self.unready.append((event.at, tuple(t for r in racks for t in r.unready_swaps)))
        elif isinstance(event, StorageDispatched) and event.site_id == SITE_ID:
            self.last_step = event

    def expected_unready(self, moment: datetime, before: datetime) -> bool:
        plans = [u for at, u in self.unready if at <= before]
        return bool(plans) and any(abs((t - moment).total_seconds()) < 60 for t in plans[-1])


def settings(opt: DayOptions) -> Settings:
    swap = {} if opt.swap_metered_soc is None else {"swap_metered_soc": opt.swap_metered_soc}
    return Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(
            horizon_s=8 * 3600,
            step_s=900,
            min_replan_gap_s=60,
            storage_interval_s=opt.control_s,
            storage_stale_after_s=4 * opt.meter_s,
            readings_max_age_s=4 * opt.meter_s,
            pv_hold_s=4 * opt.meter_s,
            **swap,
        ),
        telemetry=TelemetrySettings(enabled=False),
    )


def scenario(opt: DayOptions) -> pd.DataFrame:
    """The day's vehicles that are there at some time of the run."""
    frame = ev_scenario(opt.shape)
    start, end = pd.Timestamp(opt.start), pd.Timestamp(opt.end)
    return frame[(frame["departure"] > start) & (frame["arrival"] < end)].reset_index(drop=True)


def fleet_for(url: str, run: RunSpec, opt: DayOptions, clock: VirtualClock) -> Fleet:
    shape = opt.shape
    config = FleetConfig(
        url=url,
        stations=shape.stations,
        ocpp="all",
        connectors=2,
        max_current_a=32.0,
        meter_interval_s=opt.meter_s,
        heartbeat_interval_s=3600.0,
        prefix="SIM",
        seed=shape.seed,
        response_timeout_s=30.0,
        storage=shape.storage_specs(),
        swaps=(shape.swap_spec(),),
        swap_arrivals_per_hour=0.0,  # the day's own, from its start (run_day adds them)
        v2g_share=opt.v2g_share if run.v2g else 0.0,
        site_meter=(
            None
            if opt.grid_meter_s is None
            else SiteMeterSpec(METER_ID, seed=shape.seed, interval_s=opt.grid_meter_s)
        ),
    )
    fleet = Fleet(config, scenario(opt), clock=clock)
    for m in fleet.meter_runners:  # it reads the devices as the harness does (at the instant)
        m.device.devices_w = lambda at: read_devices(fleet, at)
        m.device.pv_w = opt.shape.pv().power_w
    return fleet


async def prepare(
    csms: Csms, store: Store, arrivals: list[SwapArrival], run: RunSpec, opt: DayOptions
) -> None:
    """Tokens, packs, the site file and the afternoon cap."""
    for tag in scenario(opt)["id_tag"]:
        await store.put_id_token(IdToken(str(tag)))
    for a in arrivals:
        if a.id_token:
            await store.put_id_token(IdToken(a.id_token))
    rack = opt.shape.swap_spec()
    for pack in (*rack.packs, *(a.pack for a in arrivals)):
        await csms.central.swaps.repo.put_pack(
            BatteryPack(pack.serial, capacity_wh=pack.capacity_wh)
        )
    site = make_site(
        opt.shape, arrivals, storage=run.storage_control, meter_stale_s=opt.meter_stale_s
    )
    await csms.sites.apply(site)
    await csms.sites.create_constraint(SITE_ID, cap_constraint(opt.shape))


def report_pv(csms: Csms, at: datetime, pv_w: float) -> None:
    """The site's energy management reports its PV to the central system."""
    csms.bus.publish(SiteReadingsReceived(SITE_ID, (PvReading("roof", at, pv_w),), (), at))


class Central(Protocol):
    """The central system a day runs against: in this process, or a subprocess."""

    url: str
    watch: PlanWatch

    async def setup(self, arrivals: list[SwapArrival]) -> None: ...

    def report_pv(self, at: datetime, pv_w: float) -> None: ...

    def probe(self, base: Probe, devices_w: dict[str, float]) -> Probe:
        """``base`` (what the harness sees) with the central system's side of it."""
        ...

    def counters(self) -> dict[str, int]:
        """The central system's counters of the run (empty: not known here)."""
        ...


@dataclass
class InProcess:
    csms: Csms
    store: Store
    run: RunSpec
    opt: DayOptions
    watch: PlanWatch = field(default_factory=PlanWatch)

    @property
    def url(self) -> str:
        return self.csms.url

    async def setup(self, arrivals: list[SwapArrival]) -> None:
        self.csms.bus.subscribe(self.watch)
        await prepare(self.csms, self.store, arrivals, self.run, self.opt)

    def report_pv(self, at: datetime, pv_w: float) -> None:
        report_pv(self.csms, at, pv_w)

    def counters(self) -> dict[str, int]:
        """How often the site loop re-planned, cut the EVs at once (0927) and the storage
        controller stepped (poked by a reading, 0926)."""
        loop = self.csms.planning.loops.get(SITE_ID)
        if loop is None:
            return {}
        ctl = loop.storage
        return {
            "replans": loop.plans,
            "ev_cuts": loop.sender.cuts,
            "controller_steps": 0 if ctl is None else ctl.steps,
            "poked_steps": 0 if ctl is None else ctl.poked_steps,
            "meter_pokes": 0 if ctl is None else ctl.meter_pokes,
            "meter_fallbacks": 0 if ctl is None else sum(ctl.meter_fallbacks.values()),
        }

    def probe(self, base: Probe, devices_w: dict[str, float]) -> Probe:
        """The EVs' draw against the limits sent, the units' against their setpoints, and
        the storage controller's last step."""
        loop = self.csms.planning.loops.get(SITE_ID)
        if loop is None:
            return base
        at = base.at
        ev_over = math.fsum(
            max(0.0, devices_w.get(f"{ev.station.id}/{ev.evse.id}", 0.0) - current_w(ev, at))
            for ev in loop.state.evses.values()
        )
        ctl, step = loop.storage, self.watch.last_step
        if ctl is None or ctl.last is None or step is None:
            return replace(base, ev_over_sent_w=ev_over)
        short, expired = 0.0, 0
        for unit_id, sent in ctl.sent.items():
            station = ctl.units.units[unit_id].asset.station
            setpoint = 0.0 if sent.setpoint_w is None else sent.setpoint_w
            if setpoint < 0 and station is not None:
                short += max(0.0, devices_w.get(station, 0.0) - setpoint)
            if sent.valid_to <= at and unit_id not in ctl.last.excluded:
                expired += 1
        return replace(
            base,
            ev_over_sent_w=ev_over,
            unit_short_w=short,
            units_expired=expired,
            step_age_s=(at - step.at).total_seconds(),
            expected_w=ctl.last.expected_import_w,
            ceiling_w=self.opt.shape.cap_at(step.at) - ctl.settings.margin_w,
            ev_reduction_w=ctl.last.ev_reduction_w,
        )


@contextlib.asynccontextmanager
async def in_process(
    run: RunSpec, opt: DayOptions, clock: VirtualClock
) -> AsyncIterator[InProcess]:
    store = MemoryStore()
    await store.open()
    try:
        async with Csms(settings(opt), clock=clock, store=store) as csms:
            yield InProcess(csms, store, run, opt)
    finally:
        await store.close()


def bring_to(fleet: Fleet, at: datetime) -> None:
    """Step the storage units and the swap rack to ``at`` before they are read: their models
    follow a new setpoint or limit from the moment it is set, but the power they show is
    the one of their last step, which may be a whole meter interval old (what they say on
    the way is sent as their own steps would)."""
    runners: list[StationRunner] = [*fleet.storage_runners, *fleet.swap_runners]
    for runner in runners:
        runner.submit(runner.step_model(at))


def read_devices(fleet: Fleet, at: datetime) -> dict[str, float]:
    """What every device draws at ``at`` (W; negative: gives): each EVSE within what its EV
    takes, each storage unit and swap rack stepped to ``at`` first (:func:`bring_to`)."""
    bring_to(fleet, at)
    devices: dict[str, float] = {}
    for r in fleet.runners:
        for c in r.station.connectors.values():
            devices[f"{r.station_id}/{c.id}"] = ev_draw_w(c)
    for s in fleet.storage_runners:
        devices[s.station_id] = s.device.unit.power_w
    for w in fleet.swap_runners:
        devices[w.station_id] = w.device.swap.power_w
    return devices


def sample(
    fleet: Fleet,
    books: SiteBooks,
    opt: DayOptions,
    at: datetime,
    *,
    probes: list[Probe] | None = None,
    gap_s: float = 0.0,
    central: Central | None = None,
) -> None:
    """Read every device at ``at`` and book it; a sample over the limit in force adds its
    :class:`Probe` to ``probes``."""
    devices = read_devices(fleet, at)
    shape = opt.shape
    cap_w = shape.cap_at(at) if at >= opt.start + timedelta(seconds=opt.warmup_s) else math.inf
    net_w = books.record(
        at,
        devices_w=devices,
        pv_w=shape.pv().power_w(at),
        cap_w=cap_w,
        price_per_kwh=shape.price_at(at),
        soc_pct={s.station_id: s.device.unit.soc_pct for s in fleet.storage_runners},
    )
    if probes is None or net_w - cap_w <= books.tolerance_w:
        return
    units = {s.station_id for s in fleet.storage_runners}
    base = Probe(
        at=at,
        net_w=net_w,
        cap_w=cap_w,
        gap_s=gap_s,
        ev_w=math.fsum(w for k, w in devices.items() if "/" in k),
        units_w=math.fsum(devices[u] for u in units),
    )
    probes.append(base if central is None else central.probe(base, devices))


async def meter(
    fleet: Fleet,
    books: SiteBooks,
    opt: DayOptions,
    clock: VirtualClock,
    central: Central,
    probes: list[Probe],
    gaps: list[tuple[datetime, float]],
) -> None:
    """Sample every ``sample_s``; report the PV every ``meter_s``; every sample's wait since
    the one before goes to ``gaps``."""
    pv = opt.shape.pv()
    reported: datetime | None = None
    last: datetime | None = None
    while True:
        now = clock.now()
        gap_s = 0.0 if last is None else (now - last).total_seconds()
        sample(fleet, books, opt, now, probes=probes, gap_s=gap_s, central=central)
        gaps.append((now, gap_s))
        last = now
        if reported is None or (now - reported).total_seconds() >= opt.meter_s:
            central.report_pv(now, pv.power_w(now))
            reported = now
        await clock.sleep(opt.sample_s)


def settle(fleet: Fleet, books: SiteBooks, opt: DayOptions, at: datetime) -> Books:
    """Step every device model to ``at`` (what they say now is dropped: the run is over) and
    close the books there."""
    for r in fleet.runners:
        r.station.step(at)
    for s in fleet.storage_runners:
        s.device.step(at)
    for w in fleet.swap_runners:
        w.device.step(at)
    sample(fleet, books, opt, at)
    return books.close(at)


def totals(
    fleet: Fleet,
    opt: DayOptions,
    watch: PlanWatch,
    arrivals: Sequence[SwapArrival],
    summary: pd.DataFrame,
) -> DeviceTotals:
    specs = {s.unit_id: s for s in opt.shape.storage_specs()}
    units = [s.device.unit for s in fleet.storage_runners]
    stored = math.fsum(u.soc_wh - u.spec.initial_soc * u.spec.capacity_wh for u in units)
    racks = [w.device.swap for w in fleet.swap_runners]
    records = [rec for rack in racks for rec in rack.totals.records]
    booked = {a.vehicle_id: a.at for k, a in enumerate(arrivals, 1) if k % opt.shape.walk_in_every}
    missed = [r for r in records if r.outcome == "no_ready_pack"]
    promised = [
        r
        for r in missed
        if r.vehicle_id in booked
        and not watch.expected_unready(
            booked[r.vehicle_id].replace(second=0, microsecond=0), r.arrived
        )
    ]
    return DeviceTotals(
        ev_charged_wh=float(summary["delivered_wh"].sum()),
        v2g_given_wh=float(summary["discharged_wh"].sum()),
        storage_in_wh=math.fsum(u.totals.energy_in_wh for u in units),
        storage_out_wh=math.fsum(u.totals.energy_out_wh for u in units),
        storage_stored_wh=stored,
        storage_losses_wh=math.fsum(
            u.totals.conversion_losses_wh + u.totals.self_discharge_wh for u in units
        ),
        rack_wh=math.fsum(rack.totals.energy_wh for rack in racks),
        soc_bounds_pct={u: (s.min_soc * 100, s.max_soc * 100) for u, s in specs.items()},
        swaps=sum(r.outcome == "swapped" for r in records),
        swaps_no_ready_pack=len(missed),
        swaps_no_ready_pack_promised=len(promised),
    )


Fault = Callable[[Any, Fleet, VirtualClock, list[str]], Any]
CentralFactory = Callable[
    [RunSpec, DayOptions, VirtualClock], contextlib.AbstractAsyncContextManager[Any]
]


async def run_day(
    run: RunSpec,
    opt: DayOptions,
    *,
    fault: Fault | None = None,
    central: CentralFactory = in_process,
    progress: Callable[[str], None] | None = None,
) -> DayResult:
    """One site day against ``central`` (default: the central system in this process);
    ``fault`` (a coroutine function taking the central, the fleet, the clock and a list of
    notes) runs beside it to break something on the way, noting what it did."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    clock = VirtualClock(start=opt.start, speed=opt.speed)
    books = SiteBooks(export_price=opt.shape.export_price)
    notes: list[str] = []
    async with central(run, opt, clock) as site_central:
        arrivals = swap_arrivals(opt.shape, opt.start)
        await site_central.setup(arrivals)
        watch = site_central.watch
        fleet = fleet_for(site_central.url, run, opt, clock)
        for w in fleet.swap_runners:
            w.device.swap.add_arrivals([a for a in arrivals if a.at >= w.device.swap.now])
        probes: list[Probe] = []
        gaps: list[tuple[datetime, float]] = []
        tasks = [asyncio.create_task(meter(fleet, books, opt, clock, site_central, probes, gaps))]
        if fault is not None:
            tasks.append(asyncio.create_task(fault(site_central, fleet, clock, notes)))

        def tick(p: Any) -> None:
            if progress is not None:
                progress(f"{run.name}: {p.line()}")

        try:
            summary_frame = await fleet.run(until=opt.end, on_progress=tick, progress_every_s=5.0)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        at = clock.now()
        counted = site_central.counters()
        closed = settle(fleet, books, opt, at)
        summary_frame = fleet.summary()
    device_totals = totals(fleet, opt, watch, arrivals, summary_frame)
    return DayResult(
        spec=run,
        books=closed,
        totals=device_totals,
        checks=checks(
            closed,
            books.meter,
            device_totals,
            control_interval_s=opt.control_s,
            sample_s=opt.sample_s,
        ),
        evs_requested_wh=float(summary_frame["requested_wh"].sum()),
        wall_s=loop.time() - began,
        meter=books.meter.registers,
        notes=notes,
        control_s=opt.control_s,
        sample_s=opt.sample_s,
        counters=counted,
        episodes=episodes(
            closed.stretches,
            probes,
            gaps,
            falls=[opt.shape.cap_start],
            window_s=settings(opt).planning.profile_validity_s,
            control_s=opt.control_s,
            sample_s=opt.sample_s,
        ),
    )
