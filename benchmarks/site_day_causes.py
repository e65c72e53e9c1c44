"""Why the site day's import went over the limit in force (benchmarks/site_day.py): pure, no
I/O, no clock.

Every sample the site's meter takes over the limit comes with a :class:`Probe` of the state
then: what the devices drew against what the central system had sent them, how long ago the
storage controller stepped and what it expected, how long the meter waited since its sample
before (a blocked event loop). :func:`episodes` puts each stretch over the limit
(:class:`~benchmarks.site_day_books.Stretch`) down to its causes, in this order (the first
one found is the stretch's main cause):

- ``cap_step``: the stretch holds the instant the limit fell (the step itself);
- ``loop_lag``: the meter waited more than twice its interval between two samples in it
  (everything on the event loop, the central system's steps and sends included, waited);
- ``ev_over_sent``: the EVs drew more than the limits the central system had sent them
  (a station late to apply a profile, or one it has not received yet);
- ``unit_short``: a unit discharged less than the setpoint it was sent (ramping, at its
  SoC floor, alarmed);
- ``unit_expired``: a unit's schedule ran out (it went Idle) while it was counted on;
- ``step_late``: the controller's last step was more than an interval and a sample ago;
- ``ev_reduction``: the controller had asked the EV limits to take power off, and they had
  not yet (a re-plan pending or under way);
- ``estimate_low``: the controller expected the import under the limit with its setpoints
  and the meter measured it over (what it knows of the site missed a load);
- ``window_edge``: the stretch starts within a minute after a profile window's edge (the
  quarter hours: renewals and the plan's steps);
- ``unexplained``: none of the above.

Probes without the central system's side (the kill run: it is another process) name only
what the harness sees.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from benchmarks.site_day_books import Stretch

__all__ = ["CAUSES", "Probe", "episodes", "seconds_by_cause"]

CAUSES = (
    "cap_step",
    "loop_lag",
    "ev_over_sent",
    "unit_short",
    "unit_expired",
    "step_late",
    "ev_reduction",
    "estimate_low",
    "window_edge",
    "unexplained",
)

#: a difference smaller than this (W) is no cause
SIGNIFICANT_W = 1000.0


@dataclass(frozen=True, slots=True)
class Probe:
    """The state at one sample over the limit; None: not known (the central system runs in
    another process)."""

    at: datetime
    net_w: float
    cap_w: float
    gap_s: float  # since the meter's sample before
    ev_w: float  # the EVs' draw (net of V2G giving)
    units_w: float  # the units' power (charging positive)
    ev_over_sent_w: float | None = None  # EVs' draw above the limits sent, summed
    unit_short_w: float | None = None  # units' power above their discharge setpoints, summed
    units_expired: int | None = None  # units counted on whose schedule ran out
    step_age_s: float | None = None  # since the controller's last step
    expected_w: float | None = None  # the import its last step expected with its setpoints
    ceiling_w: float | None = None  # the limit its last step held (less its margin)
    ev_reduction_w: float | None = None  # what its last step asked the EV limits to take off

    def figures(self) -> dict[str, Any]:
        def kw(w: float | None) -> float | None:
            return None if w is None else round(w / 1000, 1)

        return {
            "at": f"{self.at:%H:%M:%S}",
            "over_kw": kw(self.net_w - self.cap_w),
            "gap_s": round(self.gap_s, 1),
            "ev_kw": kw(self.ev_w),
            "units_kw": kw(self.units_w),
            "ev_over_sent_kw": kw(self.ev_over_sent_w),
            "unit_short_kw": kw(self.unit_short_w),
            "units_expired": self.units_expired,
            "step_age_s": None if self.step_age_s is None else round(self.step_age_s, 1),
            "expected_over_kw": (
                None
                if self.expected_w is None or self.ceiling_w is None
                else kw(self.expected_w - self.ceiling_w)
            ),
            "ev_reduction_kw": kw(self.ev_reduction_w),
        }


def _causes(
    stretch: Stretch,
    probes: Sequence[Probe],
    *,
    falls: Sequence[datetime],
    window_s: float,
    control_s: float,
    sample_s: float,
) -> list[str]:
    found: list[str] = []
    # the sample that opened the stretch is the first one after the fall
    before = stretch.start - timedelta(seconds=probes[0].gap_s if probes else sample_s)
    if any(before < f <= stretch.start for f in falls):
        found.append("cap_step")
    if any(p.gap_s > 2 * sample_s for p in probes):
        found.append("loop_lag")
    if any((p.ev_over_sent_w or 0.0) > SIGNIFICANT_W for p in probes):
        found.append("ev_over_sent")
    if any((p.unit_short_w or 0.0) > SIGNIFICANT_W for p in probes):
        found.append("unit_short")
    if any((p.units_expired or 0) > 0 for p in probes):
        found.append("unit_expired")
    if any(p.step_age_s is not None and p.step_age_s > control_s + sample_s for p in probes):
        found.append("step_late")
    if any((p.ev_reduction_w or 0.0) > SIGNIFICANT_W for p in probes):
        found.append("ev_reduction")
    if any(
        p.expected_w is not None
        and p.ceiling_w is not None
        and p.expected_w <= p.ceiling_w
        and p.net_w > p.cap_w + SIGNIFICANT_W
        for p in probes
    ):
        found.append("estimate_low")
    since_edge_s = stretch.start.timestamp() % window_s
    if since_edge_s < 60.0:
        found.append("window_edge")
    return found or ["unexplained"]


def episodes(
    stretches: Sequence[Stretch],
    probes: Sequence[Probe],
    gaps: Sequence[tuple[datetime, float]] = (),
    *,
    falls: Sequence[datetime],
    window_s: float,
    control_s: float,
    sample_s: float,
) -> list[dict[str, Any]]:
    """Every stretch over the limit, in time order, with its causes, its first probes and
    how long the event loop stalled in it (``stalled_s``: of every wait of the meter between
    two samples, ``gaps`` as (sample, wait), the part beyond its interval, for the samples
    after the stretch's start up to the one that closed it). The harness, the central
    system and the simulators share that loop: a stall is time none of them ran."""
    out = []
    for s in sorted(stretches, key=lambda s: s.start):
        mine = [p for p in probes if s.start <= p.at < s.end]
        causes = _causes(
            s, mine, falls=falls, window_s=window_s, control_s=control_s, sample_s=sample_s
        )
        stalled_s = sum(max(0.0, g - sample_s) for at, g in gaps if s.start < at <= s.end)
        out.append(
            {
                "start": f"{s.start:%H:%M:%S}",
                "seconds": round(s.seconds, 1),
                "stalled_s": round(min(stalled_s, s.seconds), 1),
                "worst_kw": round(s.worst_w / 1000, 2),
                "cause": causes[0],
                "causes": causes,
                "probes": [p.figures() for p in mine[:3]],
            }
        )
    return out


def seconds_by_cause(found: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Seconds over the limit by each stretch's main cause."""
    total: Counter[str] = Counter()
    for e in found:
        total[e["cause"]] += e["seconds"]
    return {c: round(total[c], 1) for c in CAUSES if total[c]}
