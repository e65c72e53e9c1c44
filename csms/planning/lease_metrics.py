"""The EV limits leased to the storage units (decisions 0626, 0930), Prometheus text for
``GET /metrics``: per site and unit, what the EVs' held limits count on that unit's
discharge now, how long the unit is committed to it, and the leased profiles sent again
by why (``withdraw``, ``restore``, ``renew``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from csms.planning.sending import ProfileSender
from csms.planning.state import SiteState
from csms.planning.unit_lease import unit_commits, value_at
from csms.storage_units import StorageController
from csms.storage_units.metrics import prom_label, prom_number

__all__ = ["LeaseView", "lease_metrics_text", "lent_now_w"]


@dataclass(frozen=True, slots=True)
class LeaseView:
    """What the lease figures of one site are read from."""

    site_id: str
    state: SiteState
    sender: ProfileSender
    storage: StorageController | None


def lent_now_w(state: SiteState, now: datetime) -> dict[str, float]:
    """Per unit, the watts of the EV limits held now that count on its discharge: the lent
    parts (0930) of every accepted, unexpired leased TxProfile of a session, at ``now``."""
    out: dict[str, float] = defaultdict(float)
    for ev in state.evses.values():
        sent = ev.sent
        if sent is None or sent.lease is None or ev.tx is None or sent.state != "accepted":
            continue
        if sent.valid_to is None or sent.valid_to <= now or sent.transaction_id != ev.tx.id:
            continue
        for unit_id, part in sent.lease.lent:
            out[unit_id] += value_at(part, now)
    return dict(out)


def _samples(view: LeaseView, now: datetime) -> dict[str, list[tuple[str, float]]]:
    site = f'site="{prom_label(view.site_id)}"'
    commits = unit_commits(view.storage, now)
    lent = lent_now_w(view.state, now)
    units = sorted({*commits, *lent})
    return {
        "lent_w": [(f'{site},unit="{prom_label(u)}"', lent.get(u, 0.0)) for u in units],
        "committed_s": [
            (
                f'{site},unit="{prom_label(u)}"',
                max(0.0, (commits[u].to - now).total_seconds()) if u in commits else 0.0,
            )
            for u in units
        ],
        "sends_total": [
            (f'{site},why="{prom_label(why)}"', n)
            for why, n in sorted(view.sender.lease_sends.items())
        ],
        "unit_sends_total": [
            (f'{site},unit="{prom_label(u)}",why="{prom_label(why)}"', n)
            for (u, why), n in sorted(view.sender.unit_lease_sends.items())
        ],
    }


_FAMILIES = (
    (
        "lent_w",
        "gauge",
        "EV limit (W) held now that counts on the unit's discharge (its lent part).",
    ),
    (
        "committed_s",
        "gauge",
        "Seconds the unit is still committed to its discharge schedule (0: not counted on).",
    ),
    (
        "sends_total",
        "counter",
        "Leased EV TxProfiles sent again by the units' commitments, by why (withdraw, "
        "restore, renew).",
    ),
    (
        "unit_sends_total",
        "counter",
        "The same per unit whose lent part the profile carried, by why.",
    ),
)


def lease_metrics_text(
    views: Iterable[LeaseView], now: datetime, prefix: str = "chargegrid_storage_lease_"
) -> str:
    """Per site and unit: EV limit lent now, commitment left, leased profiles sent by why."""
    per_site = [_samples(v, now) for v in sorted(views, key=lambda v: v.site_id)]
    lines: list[str] = []
    for key, kind, help_text in _FAMILIES:
        name = prefix + key
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for samples in per_site:
            lines += [f"{name}{{{labels}}} {prom_number(value)}" for labels, value in samples[key]]
    return "\n".join(lines) + "\n"
