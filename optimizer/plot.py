"""Draw a plan with matplotlib: stacked EV power, limits, PV, storage, state of charge, price."""

from __future__ import annotations

from pathlib import Path

from optimizer.plan import Plan
from optimizer.problem import Problem

__all__ = ["plot_plan"]


def plot_plan(plan: Plan, problem: Problem, path: str | Path) -> None:
    """Save a three-panel figure of ``plan`` to ``path`` (PNG, SVG, PDF by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = plan.grid
    hours = [offset / 3600.0 for offset in grid.offsets_s] + [sum(grid.step_durations_s) / 3600.0]

    def steps(values: tuple[float, ...] | list[float]) -> list[float]:
        return [*values, values[-1]] if values else []

    fig, (ax_p, ax_soc, ax_price) = plt.subplots(
        3, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]}
    )
    series = [(name, e.power_w) for name, e in plan.evses.items()]
    series += [(f"load {name}", f.power_w) for name, f in plan.flexible_loads.items()]
    active = [(name, [w / 1000.0 for w in watts]) for name, watts in series if any(watts)]
    if active:
        ax_p.stackplot(
            hours,
            *[steps(kw) for _, kw in active],
            labels=[name for name, _ in active] if len(active) <= 12 else None,
            step="post",
            alpha=0.8,
        )
    root = plan.nodes[problem.root_id]
    caps = [None if c is None else c / 1000.0 for c in root.max_import_w]
    if any(c is not None for c in caps):
        ax_p.step(hours, steps([float("nan") if c is None else c for c in caps]), where="post",
                  color="red", linestyle="--", label=f"{problem.root_id} import limit")  # fmt: skip
    ax_p.step(hours, steps([w / 1000.0 for w in plan.grid_import_w]), where="post",
              color="black", label="grid import")  # fmt: skip
    for pv in problem.pv:
        ax_p.step(hours, steps([w / 1000.0 for w in pv.forecast_w]), where="post",
                  color="orange", label=f"PV {pv.pv_id} forecast")  # fmt: skip
    for sid, unit in plan.storage.items():
        ax_p.step(hours, steps([w / 1000.0 for w in unit.power_w]), where="post",
                  linestyle=":", label=f"storage {sid} (+charge)")  # fmt: skip
        ax_soc.step(hours, steps([wh / 1000.0 for wh in unit.soc_wh]), where="post", label=sid)
    ax_p.set_ylabel("power (kW)")
    ax_p.set_title(
        f"plan ({plan.status}, {plan.backend}): cost {plan.total_cost:.2f}, peak "
        f"{plan.peak_import_w / 1000.0:.1f} kW, shortfall "
        f"{sum(plan.shortfall_wh.values()) / 1000.0:.1f} kWh"
    )
    ax_p.legend(loc="upper right", fontsize="small", ncol=2)
    ax_soc.set_ylabel("storage SoC (kWh)")
    if plan.storage:
        ax_soc.legend(loc="upper right", fontsize="small")
    ax_price.step(hours, steps(list(problem.tariff.import_price_per_kwh)), where="post",
                  label="import price")  # fmt: skip
    if problem.tariff.export_price_per_kwh is not None:
        ax_price.step(hours, steps(list(problem.tariff.export_price_per_kwh)), where="post",
                      label="export price")  # fmt: skip
    ax_price.set_ylabel("price per kWh")
    ax_price.set_xlabel(f"hours from {grid.start.isoformat()}")
    ax_price.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
