"""Seeded synthetic sites and sessions for the planner benchmarks (not a benchmark itself)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from optimizer import Evse, LimitNode, Phase, Problem, Session, Tariff, TimeGrid

__all__ = ["DAY0", "big_site", "tou_prices"]

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def tou_prices(grid: TimeGrid) -> tuple[float, ...]:
    """0.30 per kWh from 08:00 to 20:00 UTC, 0.15 otherwise."""
    out = []
    for i in range(grid.n_steps):
        hour = grid.step_start(i).hour
        out.append(0.30 if 8 <= hour < 20 else 0.15)
    return tuple(out)


def big_site(
    *,
    n_evses: int,
    start: datetime,
    step_s: float,
    n_steps: int,
    seed: int,
    all_plugged: bool,
    demand_charge_per_kw: float = 10.0,
) -> Problem:
    """A site of stations of 10 EVSEs (a quarter 1-phase on L1/L2/L3), 10 stations per
    feeder, every node limited on power and per-phase current below what its EVSEs could draw.

    ``all_plugged``: every EVSE has an EV now, leaving within the horizon (a re-plan);
    otherwise one session per EVSE arrives during the day (a full-day offline solve)."""
    rng = random.Random(seed)
    grid = TimeGrid.uniform(start=start, step_s=step_s, n_steps=n_steps)
    horizon_h = step_s * n_steps / 3600.0
    per_station = 10
    n_st = max(1, n_evses // per_station)
    n_feed = max(1, n_st // 10)
    nodes = [LimitNode("grid", max_import_w=n_evses * 3500.0,
                       max_phase_current_a=n_evses * 6.0)]  # fmt: skip
    for f in range(n_feed):
        nodes.append(LimitNode(f"feeder{f}", "grid", max_import_w=n_evses * 4200.0 / n_feed,
                               max_phase_current_a=n_evses * 12.8 / n_feed))  # fmt: skip
    evses: list[Evse] = []
    for s in range(n_st):
        nodes.append(LimitNode(f"st{s}", f"feeder{s % n_feed}", max_import_w=per_station * 6600.0,
                               max_phase_current_a=per_station * 12.8))  # fmt: skip
        for e in range(per_station):
            phase = rng.choice(
                [Phase.THREE, Phase.THREE, Phase.THREE, Phase.L1, Phase.L2, Phase.L3]
            )
            evses.append(Evse(f"st{s}-{e}", f"st{s}", phase=phase,
                              max_current_a=16.0 if phase is Phase.THREE else 32.0,
                              station_id=f"st{s}", ocpp_evse_id=e + 1))  # fmt: skip
    sessions = []
    for i, evse in enumerate(evses[:n_evses]):
        if all_plugged:
            arrival = start - timedelta(hours=rng.uniform(0.1, 3))
            departure = start + timedelta(hours=rng.uniform(1, horizon_h))
        else:
            arrival = start + timedelta(hours=rng.uniform(0, horizon_h - 2))
            stay = rng.uniform(2, 10)
            departure = min(arrival + timedelta(hours=stay), grid.end)
        sessions.append(Session(f"ev{i}", evse.evse_id, arrival, departure,
                                energy_requested_wh=rng.uniform(5e3, 40e3)))  # fmt: skip
    return Problem(
        grid=grid,
        nodes=tuple(nodes),
        evses=tuple(evses[:n_evses]),
        sessions=tuple(sessions),
        tariff=Tariff(tou_prices(grid), demand_charge_per_kw=demand_charge_per_kw),
    )
