from __future__ import annotations

from csms.telemetry.metrics import TelemetryStats, render_prometheus


def test_prometheus_text() -> None:
    stats = TelemetryStats(points_recorded=10, points_written=7, outbox_depth=3)
    stats.drop("outbox_full", 2)
    stats.reject_input("unit_mismatch")
    stats.reject_input('odd"reason')
    text = render_prometheus(stats, prefix="t_")
    lines = text.splitlines()
    assert "# TYPE t_points_written_total counter" in lines
    assert "t_points_written_total 7" in lines
    assert "t_points_recorded_total 10" in lines
    assert "# TYPE t_outbox_depth_points gauge" in lines
    assert "t_outbox_depth_points 3" in lines
    assert 't_points_dropped_total{reason="outbox_full"} 2' in lines
    assert 't_points_input_rejected_total{reason="odd\\"reason"} 1' in lines
    assert 't_points_input_rejected_total{reason="unit_mismatch"} 1' in lines
    assert text.endswith("\n")
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) == 13
    assert stats.points_dropped == 2 and stats.points_input_rejected == 2
