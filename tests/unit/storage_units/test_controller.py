"""The storage controller's steps over fakes (no event loop but the test's own): what it
sends, what it counts, and its counters in the Prometheus text."""

from __future__ import annotations

from datetime import timedelta

from csms.domain import ConnectorStatus, StatusReport
from csms.events import StatusChanged
from csms.storage_units import storage_metrics_text
from tests.unit.storage_units.fakes import T0, harness
from tests.unit.storage_units.test_glue import _meter, _site


async def test_the_counters_of_real_steps_in_the_prometheus_text() -> None:
    h = harness(_site(root_import_w=100_000.0), import_w=130_000.0)
    h.units.apply(_meter(T0, soc=50.0, imp=0.0))
    await h.controller.step_once()  # 30 kW over the limit: the unit discharges
    assert h.setpoints_w() == [-30_000.0]
    h.units.apply(StatusChanged(StatusReport("BESS", 1, 1, ConnectorStatus.FAULTED, T0)))
    h.clock.advance(5.0)
    h.units.apply(_meter(T0 + timedelta(seconds=5), soc=49.0, exp=30_000.0))
    await h.controller.step_once()  # alarming: not counted on, sent Idle
    assert h.setpoints_w() == [-30_000.0, None]
    h.commands.refuse = True
    h.units.apply(StatusChanged(StatusReport("BESS", 1, 1, ConnectorStatus.AVAILABLE, T0)))
    h.clock.advance(5.0)
    h.units.apply(_meter(T0 + timedelta(seconds=10), soc=49.0, imp=0.0))
    await h.controller.step_once()  # counted on again, but the unit refuses

    text = storage_metrics_text([h.controller])
    for line in (
        'chargegrid_storage_steps_total{site="s"} 3',
        'chargegrid_storage_schedules_sent_total{site="s",mode="CentralSetpoint"} 1',
        'chargegrid_storage_schedules_sent_total{site="s",mode="Idle"} 1',
        'chargegrid_storage_send_failures_total{site="s"} 1',
        'chargegrid_storage_alarms_total{site="s"} 1',
        'chargegrid_storage_exclusions_total{site="s",reason="alarm"} 1',
        'chargegrid_storage_ev_reduction_w{site="s"} 0',
        "# TYPE chargegrid_storage_schedules_sent_total counter",
        "# TYPE chargegrid_storage_alarms_total counter",
    ):
        assert line in text.splitlines(), line


def test_large_counts_are_written_whole() -> None:
    h = harness(_site())
    h.controller.steps = 12_345_678
    text = storage_metrics_text([h.controller])
    assert 'chargegrid_storage_steps_total{site="s"} 12345678' in text.splitlines()
