"""The planner against acnportal's baselines on ACN-Sim (Caltech and JPL networks).

The chargegrid planner is wrapped as an acnportal scheduling algorithm and run on the same
events, network (acnportal's Caltech / JPL models: line-to-line EVSEs behind delta-wye
transformers), 5-minute periods and tariff as acnportal's Uncontrolled, Round Robin, EDF and
LLF. Sessions come from a seeded generator matched to the published statistics of the
ACN-Data workplace sites (``benchmarks/acn_sessions.py``; acnportal ships no data offline):
a Tuesday, morning arrivals, working-day stays, a few EVs staying the night. In the same
run the perfect-foresight offline optimum of our own model is the bound.

The networks' constraints are limits on |Σ phasor currents|; the planner gets them as a
polygon of linear :class:`~optimizer.CurrentLimit` rows inscribed in each circle (32 sides: at
most 0.5 % of a limit is given up in the worst direction), so its schedules always pass
acnportal's exact check. Scenarios: congestion (transformer caps 20-150 kW), discrete EVSE
currents (the real AeroVironment / ClipperCreek pilot sets; the planner with reallocation vs
plain LP-then-truncate), cost with a demand charge (SCE TOU EV-4), grid-operator events (a
2-hour cap at 60 % of the transformer, 4.2 kW dimming of six EVSEs), PV + storage.
``chargegrid+history`` is the same online planner told the previous seeded day's sessions as
expected arrivals (low-priority future sessions, decision 0408); it never sees today's.

    python benchmarks/planner_acn.py            # every scenario (several minutes)
    python benchmarks/planner_acn.py --quick    # fewer caps, fewer algorithms
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.acn_sessions import DAY_PERIODS, PERIOD_MIN, RATE_KW, Ev, generate_sessions
from csms.config import load_settings
from csms.planning.config import PlanningSettings
from csms.planning.history import EXPECTED_PRIORITY
from optimizer import (
    CurrentLimit,
    DeviceDimming,
    Evse,
    LimitNode,
    NodeCap,
    Phase,
    Planner,
    PlannerConfig,
    Problem,
    PvPlant,
    Session,
    StorageUnit,
    Tariff,
    TimeGrid,
)

try:
    import pytz
    from acnportal import acnsim, algorithms
    from acnportal.acnsim import analysis
    from acnportal.acnsim.models.evse import get_evse_by_type
    from acnportal.signals.tariffs import TimeOfUseTariff
except ImportError:  # pragma: no cover
    sys.exit("this benchmark needs acnportal: pip install 'chargegrid[bench]'")

RESULTS = Path(__file__).resolve().parent / "results"
SIDES = 32  # polygon sides for |phasor sum| <= limit
TZ = pytz.timezone("America/Los_Angeles")
START = TZ.localize(datetime(2019, 3, 5))  # a Tuesday, SCE TOU EV-4 (March 2019)


# --------------------------------------------------------------------------- sessions
def _events(evs: list[Ev]) -> Any:
    queue = acnsim.EventQueue()
    for ev in evs:
        battery = acnsim.Battery(200.0, 0.0, 100.0)  # ideal: accepts any pilot
        model = acnsim.EV(ev.arrival, ev.departure, ev.energy_kwh, ev.station_id,
                          ev.session_id, battery)  # fmt: skip
        queue.add_event(acnsim.PluginEvent(ev.arrival, model))
    return queue


# --------------------------------------------------------------------------- scenario
@dataclass
class Scenario:
    name: str
    site: str = "caltech"
    cap_kw: float = 150.0
    discrete: bool = False
    tariff: bool = False
    event: tuple[int, int, float] | None = None  # (first period, end period, share of cap)
    dimmed: tuple[str, ...] = ()
    pv_storage: bool = False
    evse_type: str | None = None  # replace every EVSE, e.g. "ClipperCreek" (0/8/16/24/32 A)
    peak_so_far_kw: float = 0.0  # the billing period's peak carried in
    carry_peak: bool = False  # carry in the optimal peak of the previous (seeded) day
    peak_target_kw: float = 0.0  # the planner's expected billing-period peak (from history)

    def network(self) -> Any:
        if self.site == "caltech":
            net = acnsim.sites.caltech_acn(basic_evse=not self.discrete,
                                           transformer_cap=self.cap_kw)  # fmt: skip
        else:
            net = acnsim.sites.jpl_acn(basic_evse=not self.discrete,
                                       third_fourth_transformer_cap=self.cap_kw)  # fmt: skip
        if self.evse_type is not None:
            for station in net.station_ids:
                net._EVSEs[station] = get_evse_by_type(station, self.evse_type)
            net._update_info_store()  # acnportal caches the pilot limits per EVSE
        return net


def _at(period: float) -> datetime:
    return START + timedelta(minutes=PERIOD_MIN * period)


def pv_forecast_kw(period: int, scale_kw: float = 40.0) -> float:
    hour = period * PERIOD_MIN / 60
    return (
        max(0.0, scale_kw * math.sin(math.pi * (hour - 6.5) / 13.0)) if 6.5 < hour < 19.5 else 0.0
    )


def current_limits(network: Any, station_ids: list[str], *, focus: dict[int, float] | None = None,
                   start: datetime | None = None,
                   end: datetime | None = None) -> tuple[CurrentLimit, ...]:  # fmt: skip
    """Each |Σ a_j I_j e^{iθ_j}| <= c as the half-planes of a polygon inscribed in its circle:
    SIDES regular vertices, and with ``focus`` (constraint row -> phasor angle) a vertex
    every FOCUS_STEP within FOCUS_SPAN of that angle, so the polygon hugs the circle where
    the schedule operates. Optional window [start, end)."""
    index = {s: j for j, s in enumerate(network.station_ids)}
    angles = np.deg2rad(np.array([network.phase_angles[s] for s in network.station_ids]))
    out = []
    for r, (row, limit, name) in enumerate(zip(network.constraint_matrix, network.magnitudes,
                                               network.constraint_index, strict=True)):  # fmt: skip
        # the regular vertices half a side off 0, so the chords' normals are k x 2π/SIDES
        vertices = {round(2 * math.pi * (k + 0.5) / SIDES, 9) for k in range(SIDES)}
        if focus is not None and r in focus:
            n = int(FOCUS_SPAN / FOCUS_STEP)
            vertices |= {round((focus[r] + k * FOCUS_STEP) % (2 * math.pi), 9)
                         for k in range(-n, n + 1)}  # fmt: skip
        ordered = sorted(vertices)
        for k, a in enumerate(ordered):
            b = ordered[(k + 1) % len(ordered)] + (2 * math.pi if k + 1 == len(ordered) else 0)
            phi, half = (a + b) / 2, (b - a) / 2  # the chord from vertex a to vertex b
            coefs = []
            for s in station_ids:
                j = index[s]
                if row[j] != 0:
                    coefs.append((s, float(row[j] * math.cos(angles[j] - phi))))
            inscribed = float(limit) * math.cos(half) - 1e-6
            if any(abs(c) > 1e-12 for _, c in coefs):
                tag = "" if focus is None else "f"
                out.append(CurrentLimit(f"{name}/{tag}{k}", tuple(coefs), inscribed,
                                        start=start, end=end))  # fmt: skip
    return tuple(out)


#: First-step polygon refinement in the discrete scenarios: vertices every 1.4 degrees within
#: 45 degrees of the last schedule's phasor angle (chords within 0.01 % of the circle there).
FOCUS_STEP = math.pi / 128
FOCUS_SPAN = math.pi / 4


def phasor_angles(network: Any, rates: dict[str, float]) -> dict[int, float]:
    """Per constraint row, the angle of the phasor sum of the currents ``rates`` (A)."""
    angles = np.deg2rad(np.array([network.phase_angles[s] for s in network.station_ids]))
    current = np.array([rates.get(s, 0.0) for s in network.station_ids])
    sums = network.constraint_matrix @ (current * np.exp(1j * angles))
    return {r: float(np.angle(z)) % (2 * math.pi) for r, z in enumerate(sums) if abs(z) > 1e-6}


def _evse(network: Any, station: str, voltage: float, discrete: bool) -> Evse:
    evse_obj = network._EVSEs[station]
    allowed: tuple[float, ...] = ()
    if discrete and not evse_obj.is_continuous:
        allowed = tuple(sorted(float(a) for a in evse_obj.allowable_pilot_signals if a > 0))
    return Evse(station, "site", phase=Phase.L1, voltage_v=voltage,
                max_current_a=float(evse_obj.max_rate), allowed_currents_a=allowed,
                station_id=station)  # fmt: skip


def _site_extras(sc: Scenario, start_p: int, end_p: int, stations: list[str],
                 storage_soc_wh: float) -> dict[str, Any]:  # fmt: skip
    """Node caps, dimming, PV and storage for a window of periods [start_p, end_p)."""
    extras: dict[str, Any] = {"node_caps": (), "dimmings": (), "pv": (), "storage": ()}
    if sc.event is not None:
        first, end, share = sc.event
        if first < end_p and end > start_p:
            extras["node_caps"] = (NodeCap("site", _at(first), _at(end),
                                           max_import_w=share * sc.cap_kw * 1000.0),)  # fmt: skip
        extras["dimmings"] = tuple(DeviceDimming(s, _at(first), _at(end), max_power_w=0.0)
                                   for s in sc.dimmed if s in stations)  # fmt: skip
    return extras


def _grid(start_p: int, horizon_p: int, fine_p: int) -> tuple[TimeGrid, list[list[int]]]:
    """5-minute steps for ``fine_p`` periods, then 15-minute steps; the periods of each step."""
    fine = min(horizon_p, fine_p)
    groups = [[start_p + i] for i in range(fine)]
    p = start_p + fine
    while p < start_p + horizon_p:
        groups.append(list(range(p, min(p + 3, start_p + horizon_p))))
        p += 3
    durations = tuple(60.0 * PERIOD_MIN * len(g) for g in groups)
    return TimeGrid(start=_at(start_p), step_durations_s=durations), groups


def _tariff(sc: Scenario, groups: list[list[int]], peak_w: float, target_w: float = 0.0) -> Tariff:
    if not sc.tariff:
        return Tariff((0.0,) * len(groups))
    prices = TARIFF.get_tariffs(_at(groups[0][0]), groups[-1][-1] - groups[0][0] + 1, PERIOD_MIN)
    base = groups[0][0]
    per_step = tuple(float(np.mean([prices[p - base] for p in g])) for g in groups)
    return Tariff(per_step, demand_charge_per_kw=TARIFF.get_demand_charge(_at(base)),
                  peak_so_far_w=peak_w, peak_target_w=target_w)  # fmt: skip


TARIFF = TimeOfUseTariff("sce_tou_ev_4_march_2019")
# the battery starts the day at 50 kWh and must end the plan's horizon there (no end effects)
STORAGE = dict(capacity_wh=100e3, max_charge_w=30e3, max_discharge_w=30e3, min_soc_wh=10e3,
               degradation_cost_per_kwh=0.02, final_soc_min_wh=50e3)  # fmt: skip


def _panel(network: Any, station: str) -> tuple[Any, ...]:
    """What a station shares with others: the limits it is in and its phase angle."""
    j = network.station_ids.index(station)
    rows = tuple(int(r) for r in np.nonzero(network.constraint_matrix[:, j])[0])
    return (rows, float(network.phase_angles[station]))


def place_expected(network: Any, expected: list[Ev], now: int,
                   busy_until: dict[str, int], *, as_csms: bool = False) -> list[Ev]:  # fmt: skip
    """Expected sessions still to arrive, each on a station free for its whole stay: its own
    (from history) if free, else a free one on the same panel (same limits, same phase angle),
    else its own from when the EV plugged in there leaves; skipped if that is past its stay.
    ``as_csms``: the central system's rule (``csms.planning.history``): its own, else a free
    one under the same node (here the site: any station), else dropped."""
    taken: dict[str, list[tuple[int, int]]] = {s: [(now, d)] for s, d in busy_until.items()}
    by_panel: dict[tuple[Any, ...], list[str]] = {}
    for station in network.station_ids:
        key = () if as_csms else _panel(network, station)
        by_panel.setdefault(key, []).append(station)

    def free(station: str, a: int, d: int) -> bool:
        return all(d <= lo or a >= hi for lo, hi in taken.get(station, []))

    out = []
    for ev in sorted(expected, key=lambda e: (e.arrival, e.session_id)):
        if ev.arrival <= now:
            continue
        peers = by_panel[() if as_csms else _panel(network, ev.station_id)]
        choice = next((s for s in [ev.station_id, *peers] if free(s, ev.arrival, ev.departure)),
                      None)  # fmt: skip
        placed = replace(ev, station_id=choice) if choice else None
        if placed is None and as_csms:
            continue
        if placed is None:
            start = max(hi for _, hi in taken[ev.station_id])
            if start >= ev.departure:
                continue
            placed = replace(ev, arrival=start)
        taken.setdefault(placed.station_id, []).append((placed.arrival, placed.departure))
        out.append(placed)
    return out


def arrival_scale(history: list[Ev], now: int, arrived_kwh: float) -> float:
    """The expected sessions' energy corrected by what has arrived so far today: the day's
    total estimated from two samples, the history day (its total ``H``) and today's share so
    far (``A`` asked where the history had ``H_now`` by this time), each weighted by the
    inverse of its variance (the day's ratio seen through a share ``H_now / H`` of it):
    ``(A + H) / (H_now + H)``. 1 before any arrival in either."""
    total = sum(ev.energy_kwh for ev in history)
    so_far = sum(ev.energy_kwh for ev in history if ev.arrival <= now)
    return (arrived_kwh + total) / (so_far + total) if total > 0 else 1.0


# --------------------------------------------------------------------------- our algorithm
class ChargegridPlanner(algorithms.BaseAlgorithm):  # type: ignore[misc]
    """The rolling-horizon planner as an acnportal algorithm (re-plans every period).

    ``expected``: sessions from the operator's history (e.g. the previous day's), passed to
    every re-plan before their arrival as low-priority sessions on their EVSE (after the EV
    plugged in there leaves), so the plan keeps room for them; never charged, dropped once
    their arrival time has passed.
    """

    def __init__(self, sc: Scenario, config: PlannerConfig, expected: list[Ev] | None = None,
                 quantize: bool = False, as_csms: bool = False,
                 correct: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.sc = sc
        self.quantize = quantize
        self.as_csms = as_csms
        self.correct = correct
        self.arrived_kwh: dict[str, float] = {}  # today's sessions so far: energy asked
        self.expected = expected or []
        self.planner = Planner(config)
        self.max_recompute = 1
        self.solve_times: list[float] = []
        self.solve_cpu_times: list[float] = []
        self.peak_w = sc.peak_so_far_kw * 1000.0
        self.fallbacks = 0
        self.storage_soc_wh = 50e3
        self.grid_import_w: dict[int, float] = {}
        self._limits: dict[tuple[str, ...], tuple[CurrentLimit, ...]] = {}
        self.last_rates: dict[str, float] = {}

    def schedule(self, active_sessions: list[Any]) -> dict[str, list[float]]:
        if not active_sessions and not self.sc.pv_storage:
            return {}
        iface = self.interface
        now = iface.current_time
        network = iface._simulator.network
        busy_until = {s.station_id: s.departure for s in active_sessions}
        for s in active_sessions:
            self.arrived_kwh.setdefault(s.session_id, float(s.requested_energy))
        expected = place_expected(network, self.expected, now, busy_until,
                                  as_csms=self.as_csms)  # fmt: skip
        if self.correct and expected:
            scale = arrival_scale(self.expected, now, sum(self.arrived_kwh.values()))
            step_h = PERIOD_MIN / 60  # a period, in hours
            expected = [replace(ev, energy_kwh=min(ev.energy_kwh * scale,
                                                   (ev.departure - ev.arrival) * step_h * RATE_KW))
                        for ev in expected]  # fmt: skip
        horizon = max((s.departure for s in active_sessions), default=now + 1) - now
        if self.sc.pv_storage:  # the battery looks 12 h ahead even without EVs, past
            # midnight too: EVs stay the night, and a horizon ending at their departure
            # leaves no time to bring the battery back to its end-of-horizon target
            horizon = max(horizon, 144)
        if expected:
            horizon = max(horizon, max(ev.departure for ev in expected) - now)
        grid, groups = _grid(now, max(horizon, 1), 12)
        active_stations = {s.station_id for s in active_sessions}
        stations = sorted(active_stations | {ev.station_id for ev in expected})
        key = tuple(stations)
        if key not in self._limits:
            self._limits = {key: current_limits(network, stations)}
        limits = self._limits[key]
        if self.sc.discrete and self.last_rates:
            # The executed (rounded) step gets a polygon that hugs each circle around where
            # the last schedule operated; the later steps keep the regular one.
            first_end = _at(now + 1)
            limits = (
                *current_limits(network, stations, start=first_end,
                                end=_at(now + horizon + 1)),
                *current_limits(network, stations, focus=phasor_angles(network, self.last_rates),
                                start=_at(now), end=first_end),
            )  # fmt: skip
        evses = tuple(_evse(network, s, iface.evse_voltage(s), self.sc.discrete) for s in stations)
        sessions = tuple(
            Session(s.session_id, s.station_id, arrival=grid.start - timedelta(seconds=1),
                    departure=_at(s.departure), energy_requested_wh=s.remaining_demand * 1000.0)
            for s in active_sessions if s.remaining_demand > 1e-6
        ) + tuple(
            Session(f"expected-{ev.session_id}", ev.station_id, arrival=_at(ev.arrival),
                    departure=_at(ev.departure), energy_requested_wh=ev.energy_kwh * 1000.0,
                    priority=EXPECTED_PRIORITY)
            for ev in expected
        )  # fmt: skip
        extras = _site_extras(self.sc, now, now + horizon, stations, self.storage_soc_wh)
        root = LimitNode("site")
        if self.sc.pv_storage:
            root = LimitNode("site", max_import_w=0.5 * self.sc.cap_kw * 1000.0)
            pv = tuple(sum(pv_forecast_kw(p) for p in g) / len(g) * 1000.0 for g in groups)
            extras["pv"] = (PvPlant("pv", "site", pv),)
            extras["storage"] = (StorageUnit("battery", "site", soc_wh=self.storage_soc_wh,
                                             **STORAGE),)  # type: ignore[arg-type]  # fmt: skip
        problem = Problem(grid=grid, nodes=(root,), evses=evses, sessions=sessions,
                          tariff=_tariff(self.sc, groups, self.peak_w,
                                         self.sc.peak_target_kw * 1000.0),
                          current_limits=limits, **extras)  # fmt: skip
        began, began_cpu = time.perf_counter(), time.process_time()
        plan = self.planner.plan(problem)
        self.solve_times.append(time.perf_counter() - began)
        self.solve_cpu_times.append(time.process_time() - began_cpu)
        self.fallbacks += plan.status != "optimal"
        if plan.status != "optimal":
            print(f"  fallback at period {now}: {plan.reason}", file=sys.stderr)
        rates: dict[str, list[float]] = {}
        for evse in evses:
            if evse.evse_id not in active_stations:
                continue
            amps = max(0.0, plan.evses[evse.evse_id].current_a[0])
            if evse.allowed_currents_a and not self.quantize:  # snap float noise onto the set
                amps = min((0.0, *evse.allowed_currents_a), key=lambda a: abs(a - amps))
            rates[evse.evse_id] = [min(amps, evse.max_current_a)]
        if self.quantize:
            rates = quantize_and_reallocate(iface, active_sessions, rates)
        self.last_rates = {s: r[0] for s, r in rates.items()}
        total_w = sum(r[0] * iface.evse_voltage(s) for s, r in rates.items())
        if self.sc.pv_storage and plan.storage:
            sto_w = plan.storage["battery"].power_w[0]
            eta = STORAGE_ETA
            self.storage_soc_wh += (sto_w * eta if sto_w > 0 else sto_w / eta) * PERIOD_MIN / 60
            self.storage_soc_wh = min(max(self.storage_soc_wh, STORAGE["min_soc_wh"]),
                                      STORAGE["capacity_wh"])  # fmt: skip
            self.grid_import_w[now] = total_w + sto_w - pv_forecast_kw(now) * 1000.0
        self.peak_w = max(self.peak_w, total_w if not self.sc.pv_storage else
                          max(0.0, self.grid_import_w.get(now, 0.0)))  # fmt: skip
        return rates


def quantize_and_reallocate(iface: Any, active_sessions: list[Any],
                            rates: dict[str, list[float]]) -> dict[str, list[float]]:  # fmt: skip
    """The peer's post-processing of a continuous schedule's first period (adaptive
    scheduling, Lee et al.; written from its published description): every pilot rounded
    down to the EVSE's allowed set, then the capacity freed handed back one allowed step at a
    time, EVs in least-laxity order, pass after pass, wherever the network's exact
    constraints still hold and the EV still needs more, until no EV can be raised."""
    now = iface.current_time
    out = {}
    steps: dict[str, list[float]] = {}
    for s in active_sessions:
        continuous, allowed = iface.allowable_pilot_signals(s.station_id)
        if continuous:  # a range [min, max]: whole amps above the minimum
            lo, hi = allowed[0], allowed[-1]
            allowed = [0.0, *np.arange(max(lo, 1.0), hi + 1e-9, 1.0)] if lo > 0 else \
                list(np.arange(0.0, hi + 1e-9, 1.0))  # fmt: skip
        levels = sorted({float(a) for a in allowed} | {0.0})
        steps[s.station_id] = levels
        want = rates.get(s.station_id, [0.0])[0]
        out[s.station_id] = [max(a for a in levels if a <= want + 1e-6)]

    def laxity(s: Any) -> float:
        need = iface.remaining_amp_periods(s) / iface.max_pilot_signal(s.station_id)
        return float(s.departure - now - need)

    order = sorted(active_sessions, key=lambda s: (laxity(s), s.session_id))
    changed = True
    while changed:
        changed = False
        for s in order:
            sid = s.station_id
            current = out[sid][0]
            if current >= iface.remaining_amp_periods(s) - 1e-6:
                continue  # it needs no more
            higher = [a for a in steps[sid] if a > current + 1e-6]
            if not higher:
                continue
            trial = dict(out)
            trial[sid] = [higher[0]]
            if iface.is_feasible(trial):
                out = trial
                changed = True
    return out


STORAGE_ETA = 0.95


# --------------------------------------------------------------------------- running
def _baselines() -> dict[str, Any]:
    return {
        "Uncontrolled": lambda: algorithms.UncontrolledCharging(),
        "RoundRobin": lambda: algorithms.RoundRobin(algorithms.first_come_first_served),
        "EDF": lambda: algorithms.SortedSchedulingAlgo(algorithms.earliest_deadline_first),
        "LLF": lambda: algorithms.SortedSchedulingAlgo(algorithms.least_laxity_first),
    }


def _import_kw(sc: Scenario, agg_kw: np.ndarray, algo: Any) -> np.ndarray:
    """Grid import per period: EV power, less PV, plus storage for our planner."""
    if not sc.pv_storage:
        return agg_kw
    pv = np.array([pv_forecast_kw(p) for p in range(len(agg_kw))])
    if isinstance(algo, ChargegridPlanner):
        return np.array([algo.grid_import_w.get(p, 0.0) / 1000.0 - pv[p] * 0
                         if p in algo.grid_import_w else agg_kw[p] - pv[p]
                         for p in range(len(agg_kw))])  # fmt: skip
    return agg_kw - pv


def _cost(sc: Scenario, import_kw: np.ndarray) -> float | None:
    if not sc.tariff:
        return None
    prices = np.array(TARIFF.get_tariffs(START, len(import_kw), PERIOD_MIN))
    pos = np.clip(import_kw, 0.0, None)
    peak = max(float(pos.max(initial=0.0)), sc.peak_so_far_kw)
    return float(prices @ pos * PERIOD_MIN / 60 + TARIFF.get_demand_charge(START) * peak)


def run_algorithm(sc: Scenario, name: str, algo: Any, evs: list[Ev]) -> dict[str, Any]:
    network = sc.network()
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = acnsim.Simulator(network, algo, _events(evs), START, period=PERIOD_MIN,
                               signals={"tariff": TARIFF}, verbose=False)  # fmt: skip
        sim.run()
    wall = time.perf_counter() - began
    rates = sim.charging_rates
    agg_kw = np.asarray(analysis.aggregate_power(sim))
    currents = np.abs(network.constraint_current(rates))
    over = currents > network.magnitudes[:, None] + 1e-3
    violations = int(over.sum())
    import_kw = _import_kw(sc, agg_kw, algo)
    if sc.event is not None:
        first, end, share = sc.event
        violations += int((import_kw[first:end] > share * sc.cap_kw + 1e-3).sum())
        for s in sc.dimmed:
            j = network.station_ids.index(s)
            violations += int((rates[j, first:end] * 208.0 > 4200.0 + 1.0).sum())
    if sc.pv_storage:
        violations += int((import_kw > 0.5 * sc.cap_kw + 1e-3).sum())
    out: dict[str, Any] = {
        "algorithm": name,
        "energy_pct": 100.0 * float(analysis.proportion_of_energy_delivered(sim)),
        "demands_met_pct": 100.0 * float(analysis.proportion_of_demands_met(sim)),
        "cost": _cost(sc, import_kw),
        "peak_kw": float(np.clip(import_kw, 0, None).max(initial=0.0)),
        "violations": violations,
        "wall_s": wall,
    }
    if isinstance(algo, ChargegridPlanner):
        times = algo.solve_times
        cpu = algo.solve_cpu_times
        out.update(solve_mean_s=statistics.mean(times), solve_p50_s=float(np.percentile(times, 50)),
                   solve_p95_s=float(np.percentile(times, 95)), solve_max_s=max(times),
                   solve_cpu_p50_s=float(np.percentile(cpu, 50)),
                   solve_cpu_p95_s=float(np.percentile(cpu, 95)),
                   solves=len(times), fallbacks=algo.fallbacks)  # fmt: skip
    return out


def bound_periods(evs: list[Ev]) -> int:
    """Periods the offline bound plans: the day, or to the last departure if later (EVs that
    stay past midnight charge after it too)."""
    return max(DAY_PERIODS, max((ev.departure for ev in evs), default=0))


def offline_bound(sc: Scenario, evs: list[Ev]) -> dict[str, Any]:
    """Perfect foresight: every session of the day known, one solve of our model, over every
    period any of them is plugged in (past midnight too)."""
    network = sc.network()
    stations = sorted({ev.station_id for ev in evs})
    periods = bound_periods(evs)
    grid, groups = _grid(0, periods, periods)
    evses = tuple(_evse(network, s, 208.0, False) for s in stations)
    sessions = tuple(Session(ev.session_id, ev.station_id, _at(ev.arrival), _at(ev.departure),
                             ev.energy_kwh * 1000.0) for ev in evs)  # fmt: skip
    extras = _site_extras(sc, 0, periods, stations, 50e3)
    root = LimitNode("site")
    if sc.pv_storage:
        root = LimitNode("site", max_import_w=0.5 * sc.cap_kw * 1000.0)
        extras["pv"] = (PvPlant("pv", "site", tuple(pv_forecast_kw(p) * 1000.0
                                                    for p in range(periods))),)  # fmt: skip
        extras["storage"] = (StorageUnit("battery", "site", soc_wh=50e3, **STORAGE),)  # type: ignore[arg-type]
    problem = Problem(grid=grid, nodes=(root,), evses=evses, sessions=sessions,
                      tariff=_tariff(sc, groups, sc.peak_so_far_kw * 1000.0),
                      current_limits=current_limits(network, stations), **extras)  # fmt: skip
    began = time.perf_counter()
    config = PlannerConfig(round_first_step=False, time_limit_s=300.0, laxity_tiebreak=True)
    plan = Planner(config).plan(problem)
    took = time.perf_counter() - began
    requested = sum(ev.energy_kwh for ev in evs) * 1000.0
    short = plan.shortfall_wh
    cost = plan.energy_cost + plan.demand_charge_cost if sc.tariff else None
    return {
        "algorithm": "offline bound",
        "energy_pct": 100.0 * (1.0 - sum(short.values()) / requested),
        "demands_met_pct": 100.0 * sum(1 for v in short.values() if v < 100.0) / len(short),
        "cost": cost,
        "peak_kw": plan.peak_import_w / 1000.0,
        "violations": 0,
        "wall_s": took,
        "status": plan.status,
    }


def day_of(network: Any, n_evs: int, seed: int) -> list[Ev]:
    """The seeded day's sessions on ``network``: a weekday like START (a history day is the
    same weekday, another seed)."""
    return generate_sessions(list(network.station_ids), n_evs, seed, weekday=START.weekday())


def scenarios(quick: bool) -> list[tuple[Scenario, list[str]]]:
    every = ["Uncontrolled", "RoundRobin", "EDF", "LLF", "chargegrid"]
    fast = ["Uncontrolled", "EDF", "LLF", "chargegrid"]  # Round Robin takes minutes per run
    caps = [20.0, 60.0, 150.0] if quick else [20.0, 40.0, 80.0, 150.0]
    out = [(Scenario(f"congestion caltech {c:g} kW", cap_kw=c),
            [*(every if c == caps[0] else fast), "chargegrid+history"]) for c in caps]  # fmt: skip
    out.append((Scenario("congestion jpl 60 kW", site="jpl", cap_kw=60.0), fast))
    rounding = ["EDF", "LLF", "LP-then-truncate", "quantize-reallocate", "chargegrid"]
    for c in [50.0] if quick else [35.0, 50.0, 70.0]:
        out.append((Scenario(f"discrete currents caltech {c:g} kW", cap_kw=c, discrete=True),
                    rounding))  # fmt: skip
        out.append((Scenario(f"discrete 8 A steps caltech {c:g} kW", cap_kw=c, discrete=True,
                             evse_type="ClipperCreek"), rounding))  # fmt: skip
    cost = Scenario("demand charge caltech 150 kW, first day", cap_kw=150.0, tariff=True)
    out.append((cost, ["Uncontrolled", "EDF", "LLF", "chargegrid", "chargegrid+target",
                       "chargegrid+history"]))  # fmt: skip
    out.append((replace(cost, name="demand charge caltech 150 kW, peak carried in",
                        carry_peak=True),
                ["EDF", "LLF", "chargegrid", "chargegrid+history"]))  # fmt: skip
    if not quick:
        dimmed = ("CA-303", "CA-304", "CA-305", "CA-306", "CA-307", "CA-308")
        out.append((Scenario("grid-operator events caltech 100 kW", cap_kw=100.0,
                             event=(120, 144, 0.6), dimmed=dimmed),
                    ["EDF", "LLF", "chargegrid"]))  # fmt: skip
        pv = Scenario(
            "PV + storage caltech 100 kW, first day", cap_kw=100.0, tariff=True, pv_storage=True
        )
        out.append((pv, ["EDF", "LLF", "chargegrid", "chargegrid+history"]))
        out.append((replace(pv, name="PV + storage caltech 100 kW, peak carried in",
                            carry_peak=True),
                    ["EDF", "LLF", "chargegrid", "chargegrid+history"]))  # fmt: skip
    return [(sc, [*algos, CSMS]) for sc, algos in out]


#: The central system's own planner, as ``chargegrid serve`` builds it from its settings.
CSMS = "chargegrid-csms"


def csms_settings(time_limit_s: float, overrides: list[str], variant: str = "") -> PlanningSettings:
    """``[planning]`` as ``chargegrid serve`` loads it (defaults, ``CHARGEGRID_`` environment),
    its LP time limit the benchmark's, then each ``KEY=VALUE`` of ``--planning`` and of the
    comma-separated ``variant``."""
    fields = load_settings(None).planning.model_dump()
    fields["solver_time_limit_s"] = time_limit_s
    for item in [*overrides, *filter(None, variant.split(","))]:
        key, _, value = item.partition("=")
        fields[key] = value
    return PlanningSettings.model_validate(fields)


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer scenarios (about a minute)")
    parser.add_argument("--evs", type=int, default=100, help="sessions per day (100)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", metavar="TEXT", help="run the scenarios whose name contains TEXT")
    parser.add_argument("--algorithms", metavar="A,B", type=lambda v: set(v.split(",")),
                        help="run only these algorithms (e.g. chargegrid,quantize-reallocate); "
                             "the offline bound always runs")  # fmt: skip
    parser.add_argument("--time-limit-s", type=float, default=5.0,
                        help="the online planner's LP time limit per re-plan (5); past it a "
                        "re-plan falls back, so on a busy machine raise it to keep the energy "
                        "figures those of a quiet one")  # fmt: skip
    parser.add_argument(
        "--scarcity-tiebreak", nargs="?", const="on", default="off",
        choices=["off", "gated", "on"],
        help="the chargegrid rows count their earlier-is-better tie-break in units of the "
        "limits the last plan held at their bound: always (on, decision 0424) or gated "
        "(decision 0430); the chargegrid-csms row follows its settings",
    )  # fmt: skip
    parser.add_argument("--planning", metavar="KEY=VALUE", action="append", default=[],
                        help="a [planning] setting for the chargegrid-csms row (repeatable), "
                        "e.g. scarcity_tiebreak=off")  # fmt: skip
    parser.add_argument("--csms-variant", metavar="KEY=VALUE[,...]", action="append",
                        default=[], help="run the chargegrid-csms row once per variant, each "
                        "with these [planning] settings on top of --planning")  # fmt: skip
    parser.add_argument("--history-correction", action="store_true",
                        help="the chargegrid+history row scales the expected sessions' energy "
                        "by what has arrived so far today against the history (an experiment, "
                        "decision 0431)")  # fmt: skip
    parser.add_argument("--json", metavar="PATH", type=Path,
                        help="write the figures here (default: benchmarks/results/"
                        "planner_acn.json, or planner_acn_partial.json with --only)")  # fmt: skip
    args = parser.parse_args(argv)
    for variant in args.csms_variant or [""]:  # a wrong setting fails before any run
        csms_settings(args.time_limit_s, args.planning, variant)
    report = []
    for sc, algos in scenarios(args.quick):
        if args.only and args.only not in sc.name:
            continue
        network = sc.network()
        if sc.carry_peak:
            # the billing period's peak so far: the optimal peak of the previous (seeded) day
            before = day_of(network, args.evs, args.seed + 1)
            sc = replace(sc, peak_so_far_kw=offline_bound(sc, before)["peak_kw"])
            print(f"\n(peak carried in from the previous day: {sc.peak_so_far_kw:.1f} kW)")
        if "chargegrid+target" in algos:
            # what an operator knows before the day: its history (the previous seeded day)
            before = day_of(network, args.evs, args.seed + 1)
            target = offline_bound(sc, before)["peak_kw"]
            print(f"\n(chargegrid+target: online, no knowledge of today's sessions; told a peak "
                  f"target of {target:.1f} kW = the previous day's optimal peak)")  # fmt: skip
        if "chargegrid+history" in algos or CSMS in algos:
            # expected arrivals from the operator's history: the previous seeded day's sessions
            history = day_of(network, args.evs, args.seed + 1)
            print(f"\n(chargegrid+history: online, no knowledge of today's sessions; told the "
                  f"previous day's {len(history)} sessions as expected arrivals, priority "
                  f"{EXPECTED_PRIORITY})")  # fmt: skip
        evs = day_of(network, args.evs, args.seed)
        print(f"\n== {sc.name}: {len(network.station_ids)} EVSEs, {len(evs)} sessions, "
              f"{DAY_PERIODS} x {PERIOD_MIN}-min periods", flush=True)  # fmt: skip
        rows = [offline_bound(sc, evs)]
        variants = [f"{CSMS} {v}" for v in args.csms_variant] or [CSMS]
        for name in [v for a in algos for v in (variants if a == CSMS else [a])]:
            if args.algorithms and name.split(" ")[0] not in args.algorithms:
                continue
            online = replace(PlannerConfig(), time_limit_s=args.time_limit_s,
                             laxity_tiebreak=True,
                             scarcity_tiebreak=args.scarcity_tiebreak)  # fmt: skip
            if name == "chargegrid":
                algo = ChargegridPlanner(sc, online)
            elif name == "chargegrid+target":
                algo = ChargegridPlanner(replace(sc, peak_target_kw=target), online)
            elif name == "chargegrid+history":
                algo = ChargegridPlanner(sc, online, expected=history,
                                         correct=args.history_correction)  # fmt: skip
            elif name.startswith(CSMS):
                variant = name.removeprefix(CSMS).strip()
                planning = csms_settings(args.time_limit_s, args.planning, variant)
                algo = ChargegridPlanner(sc, planning.planner_config(), as_csms=True,
                                         expected=history if planning.expected_arrivals
                                         else None)  # fmt: skip
            elif name == "quantize-reallocate":
                algo = ChargegridPlanner(sc, replace(online, round_first_step=False),
                                         quantize=True)  # fmt: skip
            elif name == "LP-then-truncate":
                algo = ChargegridPlanner(sc, replace(online, reallocate=False))
            else:
                algo = _baselines()[name]()
            rows.append(run_algorithm(sc, name, algo, evs))
        bound = rows[0]
        print(f"  {'algorithm':<17}{'energy %':>9}{'gap pp':>8}{'met %':>7}{'cost $':>9}"
              f"{'vs opt':>8}{'peak kW':>9}{'viol':>6}  re-plan p50/p95/max s")  # fmt: skip
        for r in rows:
            r["gap_pp"] = bound["energy_pct"] - r["energy_pct"]
            r["cost_vs_opt"] = (None if r["cost"] is None or not bound["cost"]
                                else r["cost"] / bound["cost"] - 1.0)  # fmt: skip
            solve = (f"{r['solve_p50_s']:.3f}/{r['solve_p95_s']:.3f}/{r['solve_max_s']:.3f} "
                     f"cpu {r['solve_cpu_p50_s']:.3f}/{r['solve_cpu_p95_s']:.3f} "
                     f"fallbacks {r['fallbacks']}"
                     if "solve_mean_s" in r else f"(run {r['wall_s']:.1f} s)")  # fmt: skip
            print(f"  {r['algorithm']:<17}{r['energy_pct']:>9.2f}{r['gap_pp']:>8.2f}"
                  f"{r['demands_met_pct']:>7.1f}{_fmt(r['cost'], '.2f'):>9}"
                  f"{_fmt(None if r['cost_vs_opt'] is None else 100 * r['cost_vs_opt'], '+.1f'):>8}"
                  f"{r['peak_kw']:>9.1f}{r['violations']:>6}  {solve}", flush=True)  # fmt: skip
        report.append({"scenario": sc.name, "evses": len(network.station_ids),
                       "sessions": len(evs), "rows": rows})  # fmt: skip
    path = args.json or RESULTS / (
        "planner_acn.json" if not args.only else "planner_acn_partial.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
