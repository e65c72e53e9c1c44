"""Smart charging end to end: the planner loop against simulated fleets.

Two parts, each printed and saved as JSON under ``benchmarks/results/``:

``depot``: a depot night with 40 EVSEs (20 mixed 1.6/2.0.1 simulated stations x 2) on a
150 kW site cap with a 60 kW feeder, run three times on the same scenario: uncontrolled (no
profiles), equal share (the safe default profiles only) and planned (the optimizer loop).
Site and feeder power come from the stations' own meter values. Reported per mode: energy
delivered, EVs that missed their target, peak site and feeder power, time above the limits;
the planned mode's ratios against the other two.

``scale``: 1,000 EVSEs from a lean OCPP 1.6 load generator (250 stations x 4, raw
WebSocket clients that answer profiles and send meter values); a cap is set and the time
to re-plan and dispatch to every EVSE is measured, with the OCPP round-trip p99 of the load
generator's MeterValues during the re-plan beside its p99 outside it.

    python benchmarks/smart_charging.py --help
    python benchmarks/smart_charging.py depot --speed 60 --hours 14
    python benchmarks/smart_charging.py scale --evses 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from chargegrid.clock import VirtualClock
from csms.app import Csms
from csms.config import ServerSettings, Settings
from csms.domain import IdToken
from csms.events import DomainEvent, PlanUpdated, TransactionStarted
from csms.planning import PlanningSettings
from csms.sites import NewConstraint, Site, SiteEvse, SiteNode, SiteStation
from csms.sites.model import FleetDefaults, NodeKind, StationQuirks
from csms.store import MemoryStore
from csms.telemetry.settings import TelemetrySettings
from simulators.fleet import version_for
from simulators.scenario import station_ids
from tests.integration.planning.harness import PowerLog, depot_site, make_fleet, wait_until

RESULTS = Path(__file__).resolve().parent / "results"
logger = logging.getLogger("smart_charging")


# -- depot ------------------------------------------------------------------------------
EVSE_MAX_W = 32.0 * 230.0 * 3  # the depot's EVSEs: 32 A, three-phase
MODES = ("uncontrolled", "equal-share", "planned", "planned-fleet-default")


def _van_fleets(scenario: Any, *, known: bool) -> tuple[FleetDefaults, ...]:
    """The session needs the CSMS has for vans that do not say them (AC: no state of charge):
    ``known``, one token entry per van with its real energy and departure (a fleet manager's
    schedule) and the van itself (battery, what it charges to, onboard charger; the taper
    above 80 % as the simulators' vehicles have it); else one depot-wide default, 50 kWh by
    06:00 (what a depot without schedules guesses)."""
    if not known:
        return (
            FleetDefaults(id="vans", token_prefix="TAG", energy_wh=50_000.0, departure=dtime(6)),
        )
    out = []
    for row in scenario.itertuples():
        departure = row.departure.to_pydatetime().astimezone(UTC)
        out.append(
            FleetDefaults(
                id=f"van-{row.id_tag}",
                id_tokens=(str(row.id_tag),),
                energy_wh=round(max(0.0, (row.target_soc - row.initial_soc) * row.capacity_wh)),
                departure=departure.time().replace(microsecond=0),
                max_power_w=float(row.max_ac_power_w),
                battery_wh=float(row.capacity_wh),
                charge_to_pct=100.0 * float(row.target_soc),
            )
        )
    return tuple(out)


def alone_wh(row: Any, *, evse_max_w: float = EVSE_MAX_W) -> float:
    """What the EV takes over its whole stay at its EVSE's full power, on its own: the
    simulator's own battery model (its charge limit and its taper above 80 %)."""
    from simulators.ev import EV, EVSpec

    spec = EVSpec(
        ev_id=str(row.ev_id),
        capacity_wh=float(row.capacity_wh),
        initial_soc=float(row.initial_soc),
        target_soc=float(row.target_soc),
        max_ac_power_w=float(row.max_ac_power_w),
        max_dc_power_w=float(row.max_dc_power_w),
        phases=int(row.phases),
    )
    return EV(spec).advance(evse_max_w, (row.departure - row.arrival).total_seconds())


def joint_servable(
    scenario: Any,
    nodes_of: Any,
    caps_w: dict[str, float],
    *,
    evse_max_w: float = EVSE_MAX_W,
    step_s: float = 300.0,
    tolerance_wh: float = 100.0,
) -> tuple[list[bool], str]:
    """The most EVs that can all get their energy together within the node caps (a MILP,
    one binary per EV), and which. Each EV charges at most min(its maximum, the EVSE's)
    within its stay, and above 80 % state of charge at most the straight line from its
    maximum at 80 % to its floor (10 %) at 100 %: the concave bound over the simulator's
    taper, so the answer is optimistic (an EV counted here might still just miss)."""
    import highspy
    import numpy as np

    t0 = scenario.arrival.min().to_pydatetime()
    t1 = scenario.departure.max().to_pydatetime()
    n = int((t1 - t0).total_seconds() // step_s) + 1
    dt_h = step_s / 3600.0
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", 120.0)
    inf = highspy.kHighsInf
    count = 0

    def col(lo: float, hi: float, cost: float = 0.0) -> int:
        nonlocal count
        h.addCol(cost, lo, hi, 0, np.array([], dtype=np.int32), np.array([]))
        count += 1
        return count - 1

    def row_(lo: float, hi: float, cols: list[int], vals: list[float]) -> None:
        h.addRow(lo, hi, len(cols), np.array(cols, dtype=np.int32), np.array(vals))

    at_node: dict[tuple[str, int], list[int]] = {}
    served: list[int] = []
    for r in scenario.itertuples():
        peak_kw = min(float(r.max_ac_power_w), evse_max_w) / 1000
        cap_kwh = float(r.capacity_wh) / 1000
        need = max(0.0, (r.target_soc - r.initial_soc) * cap_kwh - tolerance_wh / 1000)
        arrival, departure = r.arrival.to_pydatetime(), r.departure.to_pydatetime()
        y = col(0.0, 1.0, -1.0)
        served.append(y)
        before: int | None = None  # energy delivered before the step (kWh)
        for t in range(n):
            s = t0 + timedelta(seconds=t * step_s)
            present = (
                min(s + timedelta(seconds=step_s), departure) - max(s, arrival)
            ).total_seconds()
            if present <= 0:
                continue
            k = peak_kw * dt_h * present / step_s  # the most energy in the step
            q = col(0.0, k)
            slope = k * 0.9 / (0.2 * cap_kwh)
            rhs = k * (1 - (float(r.initial_soc) - 0.8) / 0.2 * 0.9)
            if before is None:
                row_(-inf, rhs, [q], [1.0])
            else:
                row_(-inf, rhs, [q, before], [1.0, slope])
            after = col(0.0, inf)
            row_(0.0, 0.0, [after, q] + ([before] if before is not None else []),
                 [1.0, -1.0] + ([-1.0] if before is not None else []))  # fmt: skip
            before = after
            for node in nodes_of(r):
                at_node.setdefault((node, t), []).append(q)
        if before is not None:
            row_(0.0, inf, [before, y], [1.0, -need])
        else:
            row_(-inf, 0.0, [y], [1.0])
    for (node, _t), qs in at_node.items():
        row_(-inf, caps_w[node] / 1000 * dt_h, qs, [1.0] * len(qs))
    h.changeColsIntegrality(
        len(served),
        np.array(served, dtype=np.int32),
        np.array([highspy.HighsVarType.kInteger] * len(served)),
    )
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value)
    return [bool(x[i] > 0.5) for i in served], status


def physical(
    scenario: Any, *, feeder_stations: set[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per EV: whether it could get its energy at all (on its own at full power), and whether
    the site's limits let every such EV get it together."""
    evs = []
    for r in scenario.itertuples():
        need = max(0.0, (r.target_soc - r.initial_soc) * r.capacity_wh)
        got = alone_wh(r)
        evs.append({"ev_id": str(r.ev_id), "need_wh": need, "alone_wh": round(got, 1),
                    "could": got >= need - 100.0})  # fmt: skip
    jointly, status = joint_servable(
        scenario,
        lambda r: ["grid", "feeder"] if r.station_id in feeder_stations else ["grid"],
        {"grid": 150_000.0, "feeder": 60_000.0},
    )
    for ev, ok in zip(evs, jointly, strict=True):
        ev["jointly"] = ok
    return evs, {
        "could_alone": sum(e["could"] for e in evs),
        "jointly_servable_max": sum(jointly),
        "joint_status": status,
    }


async def _depot_mode(
    mode: str,
    *,
    scenario: Any,
    start: datetime,
    hours: float,
    speed: float,
    stations: int,
    could: dict[str, bool],
) -> dict[str, Any]:
    clock = VirtualClock(start=start, speed=speed)
    store = MemoryStore()
    await store.open()
    for tag in scenario["id_tag"]:
        await store.put_id_token(IdToken(str(tag)))
    planning = PlanningSettings(
        enabled=mode != "uncontrolled",
        optimize=mode.startswith("planned"),
        horizon_s=16 * 3600,
    )
    # Each run its own telemetry store: modes run side by side must not share one file.
    scratch = Path(tempfile.mkdtemp(prefix="smart-charging-"))
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=planning,
        telemetry=TelemetrySettings(
            embedded_path=scratch / "telemetry.sqlite3",
            outbox_path=scratch / "telemetry-outbox.sqlite3",
        ),
    )
    fleets = _van_fleets(scenario, known=mode != "planned-fleet-default")
    site = depot_site(stations=stations, connectors=2, fleets=fleets)
    async with Csms(settings, clock=clock, store=store) as csms:
        await csms.sites.apply(site)
        log = PowerLog(site)
        csms.bus.subscribe(log)
        changes: list[datetime] = []
        started: set[datetime] = set()

        def change(e: DomainEvent) -> None:
            if isinstance(e, PlanUpdated) and e.limits_w:
                changes.append(e.at)
            elif isinstance(e, TransactionStarted):  # an arrival draws its default at once
                changes.append(e.transaction.started_at)
                started.add(e.transaction.started_at)

        csms.bus.subscribe(change)
        fleet = make_fleet(csms.url, scenario, clock, stations=stations, connectors=2)
        began = time.perf_counter()
        summary = await fleet.run(until=start + timedelta(hours=hours))
        wall_s = time.perf_counter() - began
        plans = csms.planning.loops["depot"].plans if "depot" in csms.planning.loops else 0
    shutil.rmtree(scratch, ignore_errors=True)
    over_site, worst_site = log.longest_excess_s(
        "grid", lambda t: 150_000.0, changes=changes, grace_s=60.0
    )
    over_feeder, worst_feeder = log.longest_excess_s(
        "feeder", lambda t: 60_000.0, changes=changes, grace_s=60.0
    )
    stretches = [
        {
            "node": node,
            "from": a.isoformat(),
            "to": b.isoformat(),
            "max_excess_kw": round(w / 1000, 2),
        }
        for node, cap in (("grid", 150_000.0), ("feeder", 60_000.0))
        for a, b, w in log.excess_stretches(
            node, lambda t, cap=cap: cap, changes=changes, grace_s=60.0
        )
    ]
    arrivals = sorted(t for t in changes if t in started)
    raw_site, _ = log.longest_excess_s("grid", lambda t: 150_000.0)
    raw_feeder, _ = log.longest_excess_s("feeder", lambda t: 60_000.0)
    reached = summary["delivered_wh"] >= summary["requested_wh"] - 100.0
    versions = {sid: version_for(i, "mixed") for i, sid in enumerate(station_ids(stations))}
    evs = []
    for row, ok in zip(summary.itertuples(), reached, strict=True):
        evs.append(
            {
                "ev_id": row.ev_id,
                "station_id": row.station_id,
                "ocpp": versions.get(row.station_id),
                "requested_kwh": round(row.requested_wh / 1000, 2),
                "delivered_kwh": round(row.delivered_wh / 1000, 2),
                "short": not ok,
                "outcome": row.outcome,
            }
        )
    short = [e for e in evs if e["short"]]
    return {
        "mode": mode,
        "wall_s": round(wall_s, 1),
        "plans": plans,
        "energy_kwh": round(float(summary["delivered_wh"].sum()) / 1000, 1),
        "requested_kwh": round(float(summary["requested_wh"].sum()) / 1000, 1),
        "evs": len(summary),
        "evs_short": len(short),
        "evs_short_could_not": sum(not could.get(e["ev_id"], True) for e in short),
        "evs_short_could_but_did_not": sum(could.get(e["ev_id"], True) for e in short),
        "evs_short_by_ocpp": {v: sum(e["ocpp"] == v for e in short) for v in ("1.6", "2.0.1")},
        "short_kwh": round(
            float((summary["requested_wh"] - summary["delivered_wh"]).clip(lower=0).sum()) / 1000,
            1,
        ),
        "peak_site_kw": round(log.peak_w("grid") / 1000, 1),
        "peak_feeder_kw": round(log.peak_w("feeder") / 1000, 1),
        "site_over_limit_s": raw_site,
        "feeder_over_limit_s": raw_feeder,
        "site_over_limit_unexcused_s": over_site,
        "feeder_over_limit_unexcused_s": over_feeder,
        "worst_transient_kw": round(max(worst_site, worst_feeder) / 1000, 1),
        "short_evs": short,
        # Each unexcused stretch over a cap, with the last arrival before it (an arrival
        # draws its default until the re-plan makes room).
        "excess": [
            {
                **x,
                "last_arrival": max(
                    (a.isoformat() for a in arrivals if a.isoformat() <= x["from"]), default=None
                ),
            }
            for x in stretches
        ],
    }


def _scenario(args: argparse.Namespace) -> tuple[Any, datetime]:
    from simulators.scenario import generate

    start = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    scenario = generate("depot", stations=args.stations, connectors=2, seed=args.seed, start=start)
    return scenario, start


async def _one_mode(args: argparse.Namespace, mode: str, could: dict[str, bool]) -> dict[str, Any]:
    scenario, start = _scenario(args)
    hours = args.hours
    if hours is None:  # until the last van has left
        last = scenario.departure.max().to_pydatetime()
        hours = (last - start).total_seconds() / 3600 + 0.25
    return await _depot_mode(
        mode,
        scenario=scenario,
        start=start,
        hours=hours,
        speed=args.speed,
        stations=args.stations,
        could=could,
    )


async def _in_subprocess(argv: list[str], mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mode.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "depot", *argv, "--modes", mode, "--mode-out", str(out)
        )
        if await proc.wait() != 0:
            raise RuntimeError(f"mode {mode} failed")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


async def depot(args: argparse.Namespace) -> dict[str, Any]:
    scenario, _ = _scenario(args)
    feeder = set(station_ids(args.stations)[:8])
    evs, bound = physical(scenario, feeder_stations=feeder)
    could = {e["ev_id"]: bool(e["could"]) for e in evs}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.mode_out:  # one mode for a parent run
        return await _one_mode(args, modes[0], could)
    print(json.dumps({"physical": bound}))
    if args.jobs > 1 and len(modes) > 1:
        argv = [
            "--stations", str(args.stations), "--speed", str(args.speed), "--seed", str(args.seed),
            *(["--hours", str(args.hours)] if args.hours is not None else []),
        ]  # fmt: skip
        sem = asyncio.Semaphore(args.jobs)

        async def run(mode: str) -> dict[str, Any]:
            async with sem:
                return await _in_subprocess(argv, mode)

        runs = list(await asyncio.gather(*(run(m) for m in modes)))
    else:
        runs = [await _one_mode(args, mode, could) for mode in modes]
    for result in runs:
        print(json.dumps({k: v for k, v in result.items() if k not in ("short_evs", "excess")}))
        for x in result["excess"]:
            print(f"  {result['mode']}: over {x['node']} {x['from']} .. {x['to']} by up to "
                  f"{x['max_excess_kw']} kW (last arrival {x['last_arrival']})")  # fmt: skip
    by = {r["mode"]: r for r in runs}
    ratios: dict[str, float] = {}
    p = by.get("planned")
    if p is not None:
        for other in ("uncontrolled", "equal-share", "planned-fleet-default"):
            if other in by:
                ratios[f"energy_planned_vs_{other}"] = round(
                    p["energy_kwh"] / max(by[other]["energy_kwh"], 1e-9), 3
                )
        if "uncontrolled" in by:
            ratios["peak_planned_vs_uncontrolled"] = round(
                p["peak_site_kw"] / max(by["uncontrolled"]["peak_site_kw"], 1e-9), 3
            )
        print(json.dumps(ratios))
    return {"physical": bound, "evs": evs, "runs": runs, "ratios": ratios}


# -- scale: a lean OCPP 1.6 load generator ----------------------------------------------
class LeanStation:
    """A minimal OCPP 1.6 station: boot, one transaction per connector, meter values;
    answers every call Accepted and follows the power limits it is sent."""

    def __init__(self, url: str, station_id: str, connectors: int, meter_s: float) -> None:
        self.url = url + station_id
        self.station_id = station_id
        self.connectors = connectors
        self.meter_s = meter_s
        self.limit_w = {c: 11_000.0 for c in range(1, connectors + 1)}
        self.energy_wh = {c: 0.0 for c in range(1, connectors + 1)}
        self.latencies: list[tuple[float, float]] = []  # (sent at, round trip s)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._n = 0

    async def _call(self, ws: Any, action: str, payload: dict[str, Any]) -> Any:
        self._n += 1
        msg_id = f"{self.station_id}-{self._n}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        sent = time.perf_counter()
        await ws.send(json.dumps([2, msg_id, action, payload]))
        result = await asyncio.wait_for(fut, 30)
        self.latencies.append((sent, time.perf_counter() - sent))
        return result

    async def _reader(self, ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == 3 and msg[1] in self._pending:
                self._pending.pop(msg[1]).set_result(msg[2])
            elif msg[0] == 4 and msg[1] in self._pending:
                self._pending.pop(msg[1]).set_exception(RuntimeError(str(msg[2:])))
            elif msg[0] == 2:
                action, payload = msg[2], msg[3]
                if action == "SetChargingProfile":
                    c = payload.get("connectorId", 0)
                    period = payload["csChargingProfiles"]["chargingSchedule"][
                        "chargingSchedulePeriod"
                    ][0]
                    unit = payload["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"]
                    value = float(period["limit"])
                    watts = value if unit == "W" else value * 230 * 3
                    if c in self.limit_w:
                        self.limit_w[c] = min(11_000.0, watts)
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                elif action == "GetConfiguration":
                    await ws.send(json.dumps([3, msg[1], {"configurationKey": []}]))
                else:
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))

    async def run(self, stop: asyncio.Event, started: asyncio.Event) -> None:
        import websockets

        async with websockets.connect(self.url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            reader = asyncio.create_task(self._reader(ws))
            now = datetime.now(UTC).isoformat()
            await self._call(
                ws, "BootNotification", {"chargePointVendor": "lean", "chargePointModel": "Lean"}
            )
            txs = {}
            for c in range(1, self.connectors + 1):
                await self._call(
                    ws,
                    "StatusNotification",
                    {"connectorId": c, "errorCode": "NoError", "status": "Charging"},
                )
                answer = await self._call(
                    ws,
                    "StartTransaction",
                    {"connectorId": c, "idTag": "LEAN", "meterStart": 0, "timestamp": now},
                )
                txs[c] = answer["transactionId"]
            started.set()
            # Spread the stations' meter values over the interval, as real ones are.
            await asyncio.sleep(random.uniform(0, self.meter_s))
            while not stop.is_set():
                for c, tx in txs.items():
                    power = self.limit_w[c]
                    self.energy_wh[c] += power * self.meter_s / 3600
                    stamp = datetime.now(UTC).isoformat()
                    await self._call(
                        ws,
                        "MeterValues",
                        {
                            "connectorId": c,
                            "transactionId": tx,
                            "meterValue": [
                                {
                                    "timestamp": stamp,
                                    "sampledValue": [
                                        {
                                            "value": f"{power:.0f}",
                                            "measurand": "Power.Active.Import",
                                            "unit": "W",
                                        },
                                        {
                                            "value": f"{self.energy_wh[c]:.0f}",
                                            "measurand": "Energy.Active.Import.Register",
                                            "unit": "Wh",
                                        },
                                    ],
                                }
                            ],
                        },
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.meter_s)
            reader.cancel()


def _p99(values: list[float]) -> float | None:
    if len(values) < 10:
        return None
    return statistics.quantiles(values, n=100)[98]


async def scale(args: argparse.Namespace) -> dict[str, Any]:
    n_stations = args.evses // args.connectors
    ids = [f"LEAN-{i:04d}" for i in range(1, n_stations + 1)]
    cap_w = args.evses * 11_000.0 * 0.5
    site = Site(
        id="big",
        nodes=(
            SiteNode(id="grid", kind=NodeKind.GRID_CONNECTION, max_import_w=cap_w),
            *(
                SiteNode(
                    id=f"feeder-{k}",
                    kind=NodeKind.FEEDER,
                    parent="grid",
                    max_import_w=cap_w / 8,
                )
                for k in range(10)
            ),
        ),
        quirks=(StationQuirks(model="Lean", unit="W"),),
        stations=tuple(
            SiteStation(
                id=sid,
                node=f"feeder-{i % 10}",
                model="Lean",
                evses=tuple(
                    SiteEvse(id=c, max_current_a=16.0) for c in range(1, args.connectors + 1)
                ),
            )
            for i, sid in enumerate(ids)
        ),
    )
    store = MemoryStore()
    await store.open()
    await store.put_id_token(IdToken("LEAN"))
    settings = Settings(
        server=ServerSettings(port=0, unknown_stations="accept"),
        planning=PlanningSettings(horizon_s=args.horizon_h * 3600, min_replan_gap_s=0),
    )
    from chargegrid.clock import WallClock

    events: list[tuple[float, DomainEvent]] = []
    async with Csms(settings, clock=WallClock(), store=store) as csms:
        await csms.sites.apply(site)
        csms.bus.subscribe(lambda e: events.append((time.perf_counter(), e)))
        stop = asyncio.Event()
        lean = [LeanStation(csms.url, sid, args.connectors, args.meter_s) for sid in ids]
        started = [asyncio.Event() for _ in lean]
        tasks = [asyncio.create_task(s.run(stop, e)) for s, e in zip(lean, started, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 120)
        # Let the arrivals settle into a plan, then measure a quiet window.
        await asyncio.sleep(args.settle_s)
        quiet_from = time.perf_counter()
        await asyncio.sleep(args.meter_s * 2)
        quiet_to = time.perf_counter()
        planner = csms.planning.loops["big"]
        plans_before = planner.plans
        began = time.perf_counter()
        now = datetime.now(UTC)
        await csms.sites.create_constraint(
            "big",
            NewConstraint(
                node_id="grid", start=now, end=now + timedelta(hours=1), max_import_w=cap_w * 0.6
            ),
        )
        await wait_until(
            lambda: any(isinstance(e, PlanUpdated) and t >= began for t, e in events),
            timeout_s=120.0,
            every_s=0.01,
        )
        done = next(t for t, e in events if isinstance(e, PlanUpdated) and t >= began)
        dispatched = next(e for t, e in events if isinstance(e, PlanUpdated) and t >= began)
        await asyncio.sleep(args.meter_s)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        solve_s = planner.last_solve_s
        assert planner.plans > plans_before
    replan_s = done - began
    # Calls in flight at any moment of the re-plan (sent before it ended, answered after it began).
    during = [lat for s in lean for at, lat in s.latencies if at <= done and at + lat >= began]
    quiet = [lat for s in lean for at, lat in s.latencies if quiet_from <= at <= quiet_to]
    result = {
        "evses": args.evses,
        "stations": n_stations,
        "horizon_h": args.horizon_h,
        "replan_and_dispatch_s": round(replan_s, 3),
        "solve_s": round(solve_s or 0.0, 3),
        "profiles_sent": len(dispatched.limits_w) if isinstance(dispatched, PlanUpdated) else 0,
        "ocpp_p99_during_replan_ms": None
        if _p99(during) is None
        else round(_p99(during) * 1000, 1),  # type: ignore[operator]
        "ocpp_p99_quiet_ms": None if _p99(quiet) is None else round(_p99(quiet) * 1000, 1),  # type: ignore[operator]
        "calls_during_replan": len(during),
        "calls_quiet": len(quiet),
    }
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("depot", help="uncontrolled vs equal share vs planned, 40 EVSEs")
    p.add_argument("--stations", type=int, default=20, help="stations of 2 EVSEs (default 20)")
    p.add_argument("--speed", type=float, default=60.0, help="virtual seconds per second")
    p.add_argument(
        "--hours",
        type=float,
        default=None,
        help="simulated hours from 17:00 (default: until the last van has left)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--modes",
        default="uncontrolled,equal-share,planned,planned-fleet-default",
        help=f"comma-separated, of {', '.join(MODES)}",
    )
    p.add_argument("--jobs", type=int, default=1, help="modes run at once (own processes)")
    p.add_argument("--mode-out", default=None, help=argparse.SUPPRESS)
    p = sub.add_parser("scale", help="1,000 EVSEs from a lean load generator")
    p.add_argument("--evses", type=int, default=1000)
    p.add_argument("--connectors", type=int, default=4)
    p.add_argument("--meter-s", type=float, default=10.0, help="meter interval (wall s)")
    p.add_argument("--horizon-h", type=float, default=24.0)
    p.add_argument("--settle-s", type=float, default=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("csms.core.service").setLevel(logging.ERROR)
    result = asyncio.run(depot(args) if args.part == "depot" else scale(args))
    RESULTS.mkdir(exist_ok=True)
    if getattr(args, "mode_out", None):
        Path(args.mode_out).write_text(json.dumps(result))
        return 0
    out = RESULTS / f"smart_charging_{args.part}.json"
    out.write_text(json.dumps({"args": vars(args), "result": result}, indent=2, default=str))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
