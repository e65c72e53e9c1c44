"""The direct path's LP as arrays: :class:`LinearProgram`, and the key of each column and row
(kind, entity, step) that the warm start carries a basis by (:mod:`optimizer.basis`).
:mod:`optimizer.fastlp` builds it, :mod:`optimizer.direct` solves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["KINDS", "KIND_INDEX", "LinearProgram", "LpKeys"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Kind of a column or row -> the namespace its entity index refers to ("" = none).
KINDS: dict[str, str] = {
    # columns
    "p": "load", "q": "load", "u": "load", "z": "", "ch": "sto", "dis": "sto", "soc": "sto",
    "pv": "pv", "f": "node", "g0": "node", "g1": "node", "g2": "node", "imp": "", "exp": "",
    "peak": "", "sl": "node", "w": "rack",
    # rows
    "energy": "load", "fair": "load", "soc_row": "sto", "flow": "node", "gflow0": "node",
    "gflow1": "node", "gflow2": "node", "phase0": "node", "phase1": "node", "phase2": "node",
    "lin": "lin", "balance": "", "setpoint": "node", "peak_row": "", "taper": "load",
    "give": "load", "rack": "rack",
}  # fmt: skip
KIND_INDEX = {name: i for i, name in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class LpKeys:
    """(kind, entity index, step) of every column or row; step -1 = not per step."""

    kind: IntArray
    ent: IntArray
    step: IntArray


@dataclass(frozen=True, slots=True)
class LinearProgram:
    """``min c·x`` s.t. ``row_lo <= A x <= row_hi``, ``col_lo <= x <= col_hi``; A as CSC."""

    cost: FloatArray
    col_lo: FloatArray
    col_hi: FloatArray
    row_lo: FloatArray
    row_hi: FloatArray
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    p_load: IntArray  # column block layout
    p_step: IntArray
    offsets: dict[str, int]
    col_keys: LpKeys  # (kind, entity, step) of every column and row, for the warm start
    row_keys: LpKeys

    @property
    def n_cols(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_lo.shape[0])
