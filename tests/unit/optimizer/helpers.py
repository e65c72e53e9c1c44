"""Small builders for optimizer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer import Compiled, Evse, LimitNode, Phase, Plan, Problem, Session, Tariff, TimeGrid

__all__ = ["T0", "at", "evse", "load_kw", "problem", "session"]

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def evse(evse_id: str, node_id: str = "grid", **kwargs: Any) -> Evse:
    kwargs.setdefault("phase", Phase.THREE)
    kwargs.setdefault("max_current_a", 16.0)
    kwargs.setdefault("station_id", "CS1")
    return Evse(evse_id=evse_id, node_id=node_id, **kwargs)


def session(
    session_id: str, evse_id: str, *, hours: float, energy_wh: float, **kwargs: Any
) -> Session:
    return Session(
        session_id=session_id,
        evse_id=evse_id,
        arrival=kwargs.pop("arrival", at(-1)),
        departure=kwargs.pop("departure", at(hours)),
        energy_requested_wh=energy_wh,
        **kwargs,
    )


def problem(
    *,
    step_s: float = 900.0,
    n_steps: int = 4,
    prices: tuple[float, ...] | None = None,
    nodes: tuple[LimitNode, ...] = (LimitNode("grid"),),
    **kwargs: Any,
) -> Problem:
    kwargs.setdefault("evses", ())
    tariff = kwargs.pop("tariff", None) or Tariff(prices or (0.1,) * n_steps)
    return Problem(
        grid=TimeGrid.uniform(start=T0, step_s=step_s, n_steps=n_steps),
        nodes=nodes,
        tariff=tariff,
        **kwargs,
    )


def load_kw(plan: Plan, cp: Compiled) -> npt.NDArray[np.float64]:
    """The plan's load power as the (L, T) kW array :func:`optimizer.check_limits` takes."""
    return np.array([[w / 1000.0 for w in plan.load_power_w[lid]] for lid in cp.load_ids])
