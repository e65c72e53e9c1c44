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
import statistics
import sys
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
from tests.integration.planning.harness import PowerLog, depot_site, make_fleet, wait_until

RESULTS = Path(__file__).resolve().parent / "results"
logger = logging.getLogger("smart_charging")


# -- depot ------------------------------------------------------------------------------
async def _depot_mode(
    mode: str, *, scenario: Any, start: datetime, hours: float, speed: float, stations: int
) -> dict[str, Any]:
    from simulators.scenario import generate  # noqa: F401  (the scenario is passed in)

    clock = VirtualClock(start=start, speed=speed)
    store = MemoryStore()
    await store.open()
    for tag in scenario["id_tag"]:
        await store.put_id_token(IdToken(str(tag)))
    planning = PlanningSettings(
        enabled=mode != "uncontrolled",
        optimize=mode == "planned",
        horizon_s=16 * 3600,
    )
    settings = Settings(server=ServerSettings(port=0, unknown_stations="accept"), planning=planning)
    # The depot's vans: 50 kWh by 06:00 unless the EV says otherwise (2.0.1 does).
    vans = FleetDefaults(id="vans", token_prefix="TAG", energy_wh=50_000.0, departure=dtime(6))
    site = depot_site(stations=stations, connectors=2, fleets=(vans,))
    async with Csms(settings, clock=clock, store=store) as csms:
        await csms.sites.apply(site)
        log = PowerLog(site)
        csms.bus.subscribe(log)
        changes: list[datetime] = []

        def change(e: DomainEvent) -> None:
            if isinstance(e, PlanUpdated) and e.limits_w:
                changes.append(e.at)
            elif isinstance(e, TransactionStarted):  # an arrival draws its default at once
                changes.append(e.transaction.started_at)

        csms.bus.subscribe(change)
        fleet = make_fleet(csms.url, scenario, clock, stations=stations, connectors=2)
        began = time.perf_counter()
        summary = await fleet.run(until=start + timedelta(hours=hours))
        wall_s = time.perf_counter() - began
        plans = csms.planner.planners["depot"].plans if "depot" in csms.planner.planners else 0
    over_site, worst_site = log.longest_excess_s(
        "grid", lambda t: 150_000.0, changes=changes, grace_s=60.0
    )
    over_feeder, worst_feeder = log.longest_excess_s(
        "feeder", lambda t: 60_000.0, changes=changes, grace_s=60.0
    )
    raw_site, _ = log.longest_excess_s("grid", lambda t: 150_000.0)
    reached = summary["delivered_wh"] >= summary["requested_wh"] - 100.0
    return {
        "mode": mode,
        "wall_s": round(wall_s, 1),
        "plans": plans,
        "energy_kwh": round(float(summary["delivered_wh"].sum()) / 1000, 1),
        "requested_kwh": round(float(summary["requested_wh"].sum()) / 1000, 1),
        "evs": len(summary),
        "evs_short": int((~reached).sum()),
        "short_kwh": round(
            float((summary["requested_wh"] - summary["delivered_wh"]).clip(lower=0).sum()) / 1000,
            1,
        ),
        "peak_site_kw": round(log.peak_w("grid") / 1000, 1),
        "peak_feeder_kw": round(log.peak_w("feeder") / 1000, 1),
        "site_over_limit_s": raw_site,
        "site_over_limit_unexcused_s": over_site,
        "feeder_over_limit_unexcused_s": over_feeder,
        "worst_transient_kw": round(max(worst_site, worst_feeder) / 1000, 1),
    }


async def depot(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.scenario import generate

    day = datetime(2026, 11, 26, tzinfo=UTC)
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=17)
    scenario = generate("depot", stations=args.stations, connectors=2, seed=args.seed, start=start)
    runs = []
    for mode in ("uncontrolled", "equal-share", "planned"):
        result = await _depot_mode(
            mode,
            scenario=scenario,
            start=start,
            hours=args.hours,
            speed=args.speed,
            stations=args.stations,
        )
        print(json.dumps(result))
        runs.append(result)
    by = {r["mode"]: r for r in runs}
    p = by["planned"]
    ratios = {
        "energy_planned_vs_uncontrolled": round(
            p["energy_kwh"] / max(by["uncontrolled"]["energy_kwh"], 1e-9), 3
        ),
        "energy_planned_vs_equal_share": round(
            p["energy_kwh"] / max(by["equal-share"]["energy_kwh"], 1e-9), 3
        ),
        "peak_planned_vs_uncontrolled": round(
            p["peak_site_kw"] / max(by["uncontrolled"]["peak_site_kw"], 1e-9), 3
        ),
    }
    print(json.dumps(ratios))
    return {"runs": runs, "ratios": ratios}


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
        planner = csms.planner.planners["big"]
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
    p.add_argument("--hours", type=float, default=14.0, help="simulated hours from 17:00")
    p.add_argument("--seed", type=int, default=1)
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
    out = RESULTS / f"smart_charging_{args.part}.json"
    out.write_text(json.dumps({"args": vars(args), "result": result}, indent=2, default=str))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
