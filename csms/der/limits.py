"""What the DER controls in force leave of a unit's rating (pure; decision 0918).

Of the OCPP 2.1 DER controls only ``LimitMaxDischarge`` caps a unit's active power outright
and at any voltage and frequency: ``pct_max_discharge_power`` is the share of its rated
discharge power it may give. The curves (volt-watt, freq-watt, ...) act only when the grid
strays, and the power-factor and var controls shift reactive power; none of them narrows the
rating the central system plans with (their effect shows in the unit's readings).

A control acts from its ``start_time`` (else from when it was recorded) for ``duration``
seconds (else until cleared or superseded). Of those acting, the scheduled ones (not
``is_default``) win over the unit's defaults, and among those the highest priority (0 is the
highest), as the unit itself applies them; a tie takes the strictest.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from csms.der.model import DerControl, DerControlType

__all__ = ["acting", "discharge_share"]


def _start(control: DerControl, since: datetime) -> datetime:
    raw = control.setting.get("start_time")
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        return datetime.fromisoformat(raw)  # checked where it entered (check_setting)
    return since


def acting(control: DerControl, since: datetime, now: datetime) -> bool:
    """Whether ``control`` (in force since ``since``) acts at ``now``: within its window."""
    start = _start(control, since)
    if now < start:
        return False
    duration = control.setting.get("duration")
    return duration is None or now < start + timedelta(seconds=float(duration))


def discharge_share(controls: Iterable[tuple[DerControl, datetime]], now: datetime) -> float:
    """The share (0..1) of its rated discharge power a unit may give at ``now`` under the
    controls in force (each with the time it came into force); 1.0 when none limits it."""
    limits = [
        c
        for c, since in controls
        if c.control_type is DerControlType.LIMIT_MAX_DISCHARGE
        and c.setting.get("pct_max_discharge_power") is not None
        and acting(c, since, now)
    ]
    chosen = [c for c in limits if not c.is_default] or limits
    if not chosen:
        return 1.0
    top = min(c.priority for c in chosen)
    pct = min(float(c.setting["pct_max_discharge_power"]) for c in chosen if c.priority == top)
    return min(max(pct, 0.0), 100.0) / 100.0
