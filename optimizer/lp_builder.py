"""The direct path's LP under construction (:class:`LpBuilder`): blocks of columns keyed by
(kind, entity, step), rows appended family by family, the matrix as triplets, finished as a
:class:`~optimizer.lp.LinearProgram`. :mod:`optimizer.fastlp`'s families fill it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from optimizer.compiled import Compiled
from optimizer.lp import KIND_INDEX, LinearProgram, LpKeys

__all__ = ["LpBuilder"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Keys = tuple[IntArray, IntArray, IntArray]


def _keys(kind: str, ent: IntArray | int, step: IntArray | int, size: int) -> Keys:
    return (
        np.full(size, KIND_INDEX[kind], dtype=np.int64),
        np.broadcast_to(np.asarray(ent, dtype=np.int64), (size,)),
        np.broadcast_to(np.asarray(step, dtype=np.int64), (size,)),
    )


def _stack_keys(parts: list[Keys]) -> LpKeys:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return LpKeys(empty, empty, empty)
    return LpKeys(*(np.concatenate([part[i] for part in parts]) for i in range(3)))


class LpBuilder:
    """The LP under construction, the direct path's ``ConcreteModel``: blocks of columns
    (one kind each, keyed by entity and step) and rows appended family by family, the matrix
    as (row, column, value) triplets, the costs set last."""

    def __init__(self, cp: Compiled) -> None:
        self.n_steps = cp.n_steps
        self.offsets: dict[str, int] = {}
        self.blocks: dict[str, tuple[IntArray, Keys]] = {}  # kind -> (columns, keys)
        self._incidence: tuple[FloatArray, FloatArray, FloatArray] | None = None
        self.n_cols = 0
        self.col_lo: list[FloatArray] = []
        self.col_hi: list[FloatArray] = []
        self.cost = np.zeros(0)
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.keys: list[Keys] = []
        self.n_rows = 0

    def new_cols(
        self, kind: str, ent: IntArray | int, step: IntArray | int, *,
        lo: FloatArray | float, hi: FloatArray, block: str | None = None,
    ) -> IntArray:  # fmt: skip
        """A block of ``len(hi)`` columns of one ``kind`` (``block``: the offset's name when
        several kinds share one, the phases' flows); returns their indices."""
        size = len(hi)
        self.offsets.setdefault(block or kind, self.n_cols)
        cols = self.n_cols + np.arange(size)
        self.blocks[kind] = (cols, _keys(kind, ent, step, size))
        self.col_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (size,)))
        self.col_hi.append(np.asarray(hi, dtype=float))
        self.n_cols += size
        return cols

    def block(self, kind: str) -> tuple[IntArray, IntArray, IntArray]:
        """(column, entity, step) of every column of ``kind``."""
        cols, (_, ent, step) = self.blocks[kind]
        return cols, ent, step

    def at(self, kind: str, ent: IntArray | int, step: IntArray | int) -> IntArray:
        """Columns of a block with one column per entity and step (storage, PV)."""
        return self.offsets[kind] + np.asarray(ent) * self.n_steps + np.asarray(step)  # type: ignore[no-any-return]

    def index_grid(self, kind: str, shape: tuple[int, int]) -> IntArray:
        """(entity, step) -> column of ``kind``, -1 where it has none."""
        grid = np.full(shape, -1, dtype=np.int64)
        cols, ent, step = self.block(kind)
        grid[ent, step] = cols
        return grid

    def incidence(self, cp: Compiled) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``cp.load_under``, ``sto_under`` and ``pv_under`` as floats for matrix products,
        converted once per LP."""
        if self._incidence is None:
            self._incidence = (cp.load_under.astype(float), cp.sto_under.astype(float),
                               cp.pv_under.astype(float))  # fmt: skip
        return self._incidence

    def new_rows(
        self, lo: FloatArray, hi: FloatArray, kind: str, ent: IntArray | int, step: IntArray | int
    ) -> int:
        """Rows with bounds ``lo``..``hi``; ``kind``, ``ent``, ``step``: their keys."""
        base = self.n_rows
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.n_rows += len(lo)
        self.keys.append(_keys(kind, ent, step, len(lo)))
        return base

    def add(self, rows: IntArray, cols: IntArray, vals: FloatArray | float) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape))

    def price(self, kind: str, cost: Callable[[IntArray, IntArray], FloatArray | float]) -> None:
        """Cost of every column of ``kind`` from its (entity, step) keys; once every column is
        in (the objective is the last family). Unpriced columns cost nothing."""
        if len(self.cost) != self.n_cols:
            self.cost = np.zeros(self.n_cols)
        cols, ent, step = self.block(kind)
        if len(cols):
            self.cost[cols] = cost(ent, step)

    def finish(self) -> LinearProgram:
        """The LP, its matrix in CSC form (entries sorted by column, then row)."""
        rows_all = np.concatenate(self.rows)
        cols_all = np.concatenate(self.cols)
        vals_all = np.concatenate(self.vals)
        order = np.lexsort((rows_all, cols_all))
        counts = np.bincount(cols_all, minlength=self.n_cols)
        _, p_load, p_step = self.block("p")
        return LinearProgram(
            cost=self.cost,
            col_lo=np.concatenate(self.col_lo),
            col_hi=np.concatenate(self.col_hi),
            row_lo=np.concatenate(self.lo),
            row_hi=np.concatenate(self.hi),
            a_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int32),
            a_index=rows_all[order].astype(np.int32),
            a_value=vals_all[order],
            p_load=np.array(p_load),
            p_step=np.array(p_step),
            offsets=self.offsets,
            col_keys=_stack_keys([keys for _, keys in self.blocks.values()]),
            row_keys=_stack_keys(self.keys),
        )
