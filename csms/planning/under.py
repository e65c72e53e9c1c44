"""What a node carries is what every node below it carries too: a draw (or a supply) at a
node counts at that node and at each node above it, up to the root.

One function for a power now and one for a power per plan step, so the planning wing adds
a draw under its nodes in one way (the uncontrolled draws, the idle EVSEs' fallbacks, the
PV counted on, the planned storage and swap racks).
"""

from __future__ import annotations

from collections.abc import Sequence

from csms.sites.model import Site

__all__ = ["add_steps_under", "add_under"]


def add_under(into: dict[str, float], site: Site, node_id: str, watts: float) -> None:
    """Add ``watts`` at ``node_id`` and at every node above it."""
    for ancestor in site.ancestors(node_id):
        into[ancestor] = into.get(ancestor, 0.0) + watts


def add_steps_under(
    into: dict[str, tuple[float, ...]],
    site: Site,
    node_id: str,
    steps_w: Sequence[float],
    *,
    sign: float = 1.0,
) -> None:
    """Add ``steps_w`` (one power a plan step; ``sign=-1.0`` to take it off) at ``node_id``
    and at every node above it; a node not yet in ``into`` starts at zero."""
    zero = (0.0,) * len(steps_w)
    for ancestor in site.ancestors(node_id):
        before = into.get(ancestor, zero)
        into[ancestor] = tuple(a + sign * b for a, b in zip(before, steps_w, strict=True))
