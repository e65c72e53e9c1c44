"""The storage controllers' counters in the Prometheus text format (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Iterable

from csms.storage_units.controller import StorageController

__all__ = ["storage_metrics_text"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _family(prefix: str, name: str, kind: str, text: str, rows: list[str]) -> list[str]:
    return [f"# HELP {prefix}{name} {text}", f"# TYPE {prefix}{name} {kind}", *rows]


def storage_metrics_text(
    controllers: Iterable[StorageController], prefix: str = "chargegrid_storage_"
) -> str:
    """Per site: control steps, corrections by field, exclusions by reason, failed sends,
    SoC readings refused, and the EV reduction of the last step."""
    steps, corrections, exclusions, failures, refused, reduction = [], [], [], [], [], []
    for c in sorted(controllers, key=lambda c: c.site_id):
        site = _label(c.site_id)
        steps.append(f'{prefix}steps_total{{site="{site}"}} {c.steps}')
        corrections += [
            f'{prefix}corrections_total{{site="{site}",field="{_label(f)}"}} {n}'
            for f, n in sorted(c.corrections.items())
        ]
        exclusions += [
            f'{prefix}exclusions_total{{site="{site}",reason="{_label(r)}"}} {n}'
            for r, n in sorted(c.exclusions.items())
        ]
        failures.append(f'{prefix}send_failures_total{{site="{site}"}} {c.send_failures}')
        refused.append(f'{prefix}soc_refused_total{{site="{site}"}} {c.units.refused_soc}')
        last = 0.0 if c.last is None else c.last.ev_reduction_w
        reduction.append(f'{prefix}ev_reduction_w{{site="{site}"}} {last:g}')
    lines = [
        *_family(prefix, "steps_total", "counter", "Storage control steps run.", steps),
        *_family(
            prefix,
            "corrections_total",
            "counter",
            "Inputs the control law corrected (a plan beyond a rating), by field.",
            corrections,
        ),
        *_family(
            prefix,
            "exclusions_total",
            "counter",
            "Unit-steps a unit was not counted on, by reason (no_reading, stale, alarm).",
            exclusions,
        ),
        *_family(
            prefix, "send_failures_total", "counter", "Setpoint schedules not sent.", failures
        ),
        *_family(
            prefix,
            "soc_refused_total",
            "counter",
            "Unit SoC readings refused (outside 0..100 %).",
            refused,
        ),
        *_family(
            prefix,
            "ev_reduction_w",
            "gauge",
            "What the EV limits had to take off at the last step (W).",
            reduction,
        ),
    ]
    return "\n".join(lines) + "\n"
