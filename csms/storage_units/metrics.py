"""The storage controllers' counters in the Prometheus text format (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from csms.storage_units.controller import StorageController

__all__ = ["prom_label", "prom_number", "storage_metrics_text"]


def prom_label(value: str) -> str:
    """``value`` escaped as a Prometheus label value."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def prom_number(value: float) -> str:
    """``value`` as a Prometheus sample value."""
    return str(value) if isinstance(value, int) else format(value, ".15g")


_label, _number = prom_label, prom_number


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    kind: str
    help: str
    #: the samples of one site: (extra labels, value)
    samples: Callable[[StorageController], list[tuple[str, float]]]


def _by(
    label: str, counts: Callable[[StorageController], dict[str, int]]
) -> Callable[[StorageController], list[tuple[str, float]]]:
    return lambda c: [(f',{label}="{_label(k)}"', n) for k, n in sorted(counts(c).items())]


_FAMILIES = (
    _Family("steps_total", "counter", "Storage control steps run.", lambda c: [("", c.steps)]),
    _Family(
        "corrections_total",
        "counter",
        "Inputs the control law corrected (a plan beyond a rating), by field.",
        _by("field", lambda c: dict(c.corrections)),
    ),
    _Family(
        "exclusions_total",
        "counter",
        "Unit-steps a unit was not counted on, by reason (no_reading, stale, alarm).",
        _by("reason", lambda c: dict(c.exclusions)),
    ),
    _Family(
        "alarms_total",
        "counter",
        "Unit alarms raised (a Faulted or Unavailable status, a NotifyEvent alert).",
        lambda c: [("", c.units.alarms_raised)],
    ),
    _Family(
        "schedules_sent_total",
        "counter",
        "Setpoint schedules the units accepted, by operation mode (CentralSetpoint, Idle).",
        _by("mode", lambda c: dict(c.sent_schedules)),
    ),
    _Family(
        "send_failures_total",
        "counter",
        "Setpoint schedules not sent.",
        lambda c: [("", c.send_failures)],
    ),
    _Family(
        "soc_refused_total",
        "counter",
        "Unit SoC readings refused (outside 0..100 %).",
        lambda c: [("", c.units.refused_soc)],
    ),
    _Family(
        "meter_fallbacks_total",
        "counter",
        "Steps that used the estimate for want of a fresh grid meter reading, by reason "
        "(no_reading, stale).",
        _by("reason", lambda c: dict(c.meter_fallbacks)),
    ),
    _Family(
        "meter_refused_total",
        "counter",
        "Grid meter readings refused (not finite, out of range, dated ahead of the clock).",
        lambda c: [("", c.meter.refused if c.meter is not None else 0)],
    ),
    _Family(
        "pv_refused_total",
        "counter",
        "PV plant readings refused (not finite, negative, above the plant's peak by more "
        "than the tolerance, dated ahead of the clock), by plant.",
        _by("pv", lambda c: dict(c.pv.refused) if c.pv is not None else {}),
    ),
    _Family(
        "pv_lapses_total",
        "counter",
        "Times a metered PV plant stopped being counted on, by plant and reason "
        "(no_reading, stale).",
        lambda c: [
            (f',pv="{_label(p)}",reason="{why}"', n)
            for (p, why), n in sorted((c.pv.lapses if c.pv is not None else {}).items())
        ],
    ),
    _Family(
        "site_import_w",
        "gauge",
        "The site import the last step used (W), by source (meter, estimate).",
        lambda c: (
            []
            if c.last_import is None
            else [(f',source="{c.last_import.source}"', c.last_import.import_w)]
        ),
    ),
    _Family(
        "der_discharge_limit_w",
        "gauge",
        "A unit's discharge rating as a DER control in force narrows it at the last step (W); "
        "no sample: not narrowed.",
        lambda c: [
            (f',unit="{_label(u)}"', w) for u, w in sorted(c.der_limits_w.items()) if w is not None
        ],
    ),
    _Family(
        "ev_reduction_w",
        "gauge",
        "What the EV limits had to take off at the last step (W).",
        lambda c: [("", 0.0 if c.last is None else c.last.ev_reduction_w)],
    ),
)


def storage_metrics_text(
    controllers: Iterable[StorageController], prefix: str = "chargegrid_storage_"
) -> str:
    """Per site: control steps, corrections by field, exclusions by reason, alarms raised,
    schedules sent by mode and not sent, SoC readings refused, grid meter fallbacks and
    refusals, and the site import, DER-narrowed discharge ratings and EV reduction of the
    last step."""
    ordered = sorted(controllers, key=lambda c: c.site_id)
    lines: list[str] = []
    for family in _FAMILIES:
        name = prefix + family.name
        lines += [f"# HELP {name} {family.help}", f"# TYPE {name} {family.kind}"]
        for c in ordered:
            site = f'site="{_label(c.site_id)}"'
            lines += [
                f"{name}{{{site}{extra}}} {_number(value)}" for extra, value in family.samples(c)
            ]
    return "\n".join(lines) + "\n"
