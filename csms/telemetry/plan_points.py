"""The ``plan`` points of a whole optimizer plan (:class:`~csms.events.PlanComputed`).

One point per EVSE and storage unit and step, with the constraint in force: the nearest node
(the asset's own, then up to the root) whose limit binds in the step, as ``node:import``
(``export``, ``L1``, ...), or ``none``; and one per node of the limit tree and step
(``asset_kind=site`` for the root, ``node`` for the others): the planned net import through
it with its own import limit in force (and, at the root, the import price the plan used).

A plan is EVSEs x steps points (96,000 for 1,000 EVSEs over a day), so the lines are written
directly, as ``Point`` writes them (a test compares the bytes), not through it.
"""

from __future__ import annotations

from collections.abc import Sequence

from csms.events import PlanComputed
from csms.telemetry.lineprotocol import (
    Precision,
    escape_string,
    escape_tag,
    format_float,
    to_epoch,
)

__all__ = ["plan_lines"]


def plan_lines(
    record: PlanComputed,
    out: list[str],
    *,
    precision: Precision,
    plan_steps: int = 0,
) -> None:
    """Append the ``plan`` lines of ``record`` to ``out`` (the first ``plan_steps`` steps of
    each series; 0: all of them)."""
    writer = _PlanWriter(record, out, precision=precision, plan_steps=plan_steps)
    problem = record.problem
    evse_nodes = {e.evse_id: e.node_id for e in problem.evses}
    for evse_id, ep in record.plan.evses.items():
        node_id = evse_nodes.get(evse_id)
        if node_id is not None:
            writer.asset("evse", evse_id, node_id, ep.power_w, None)
    units = {u.storage_id: u for u in problem.storage}
    for storage_id, sp in record.plan.storage.items():
        unit = units.get(storage_id)
        if unit is not None:
            soc = [100.0 * wh / unit.capacity_wh for wh in sp.soc_wh]
            texts = [format_float(v) if v - v == 0.0 else "" for v in soc]
            writer.asset("storage", storage_id, unit.node_id, sp.power_w, texts)
    for node_id in record.plan.nodes:
        writer.node(node_id)


class _PlanWriter:
    """The lines of one plan; the constraint in force is worked out once per node."""

    def __init__(
        self,
        record: PlanComputed,
        out: list[str],
        *,
        precision: Precision,
        plan_steps: int,
    ) -> None:
        grid = record.plan.grid
        self.record = record
        self.out = out
        self.n_steps = grid.n_steps if plan_steps <= 0 else min(plan_steps, grid.n_steps)
        self.starts = [to_epoch(grid.step_start(k), precision) for k in range(self.n_steps)]
        self.hours = [d / 3600.0 for d in grid.step_durations_s]
        self.site = escape_tag(record.site_id)
        self.plan_id = escape_string(record.plan_id)
        self._in_force: dict[str, list[tuple[str, str]]] = {}

    def in_force(self, node_id: str) -> list[tuple[str, str]]:
        """Per step: the constraint field and the limit field (or ""), as line text."""
        known = self._in_force.get(node_id)
        if known is not None:
            return known
        nodes = self.record.plan.nodes
        ancestors = self.record.ancestors.get(node_id, (node_id,))
        chain = [nodes[n] for n in ancestors if n in nodes]
        texts = []
        for k in range(self.n_steps):
            text, limit_text = 'constraint="none"', ""
            for n in chain:
                binding = n.binding[k]
                if binding is not None:
                    text = f'constraint="{escape_string(f"{n.node_id}:{binding}")}"'
                    limit = n.max_import_w[k]
                    if binding == "import" and limit is not None:
                        limit_text = f",limit_w={format_float(float(limit))}"
                    break
            texts.append((text, limit_text))
        self._in_force[node_id] = texts
        return texts

    def asset(
        self, kind: str, asset: str, node_id: str, power: Sequence[float], soc: Sequence[str] | None
    ) -> None:
        """An EVSE's or storage unit's steps (``soc``: the state of charge as text, "" for
        none)."""
        prefix = f"plan,asset={escape_tag(asset)},asset_kind={kind},site={self.site} "
        constraint = self.in_force(node_id)
        hours, starts, plan_id = self.hours, self.starts, self.plan_id
        for k, w in enumerate(power[: self.n_steps]):
            w = float(w)
            if w - w != 0.0:  # not finite: Point leaves such a field out
                continue
            binding, limit = constraint[k]
            text = (
                f"{prefix}{binding},energy_wh={format_float(w * hours[k])}{limit},"
                f'plan_id="{plan_id}",power_w={format_float(w)}'
            )
            if soc is not None and soc[k]:
                text += f",soc_pct={soc[k]}"
            self.out.append(f"{text} {starts[k]}")

    def node(self, node_id: str) -> None:
        """A node of the limit tree: the planned net import through it against its own
        import limit in force; the root (``asset_kind=site``) also with the import price."""
        problem = self.record.problem
        np_ = self.record.plan.nodes[node_id]
        is_root = node_id == problem.root_id
        prices = problem.tariff.import_price_per_kwh if is_root else ()
        prefix = (
            f"plan,asset={escape_tag(node_id)},asset_kind={'site' if is_root else 'node'},"
            f"site={self.site} "
        )
        constraint = self.in_force(node_id)
        hours, starts, plan_id = self.hours, self.starts, self.plan_id
        for k, w in enumerate(np_.power_w[: self.n_steps]):
            w = float(w)
            if w - w != 0.0:
                continue
            text = f"{prefix}{constraint[k][0]},energy_wh={format_float(w * hours[k])}"
            price = prices[k] if k < len(prices) else None
            if price is not None and price - price == 0.0:
                text += f",import_price_per_kwh={format_float(float(price))}"
            limit = np_.max_import_w[k]
            if limit is not None and limit - limit == 0.0:
                text += f",limit_w={format_float(float(limit))}"
            self.out.append(f'{text},plan_id="{plan_id}",power_w={format_float(w)} {starts[k]}')
