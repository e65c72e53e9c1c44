"""A solved LP as arrays (kW, kWh), whichever path produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from optimizer.basis import SolvedBasis

__all__ = ["Solution"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Solution:
    p_kw: FloatArray  # (L, T) load power
    unmet_kwh: FloatArray  # (L,)
    ch_kw: FloatArray  # (B, T)
    dis_kw: FloatArray  # (B, T)
    soc_kwh: FloatArray  # (B, T) at the end of each step
    pv_kw: FloatArray  # (K, T) used (forecast minus curtailment)
    imp_kw: FloatArray  # (T,)
    exp_kw: FloatArray  # (T,)
    objective: float
    solve_time_s: float
    backend: str
    basis: SolvedBasis | None = None  # final simplex basis (direct path), to warm-start the next
    start: str = "cold"  # "warm" (from the previous basis), "cold" or "cold: <why>"
    iterations: int | None = None  # simplex iterations (direct path)
    v2g_kw: FloatArray | None = None  # (L, T) power V2G sessions give back; None = none

    def given_kw(self) -> FloatArray:
        """``v2g_kw``, zeros where no session gives back."""
        return np.zeros_like(self.p_kw) if self.v2g_kw is None else self.v2g_kw
