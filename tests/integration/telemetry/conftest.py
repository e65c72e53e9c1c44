from __future__ import annotations

from tests.fixtures.influx import influxd, own_influxd, victoria_metrics

__all__ = ["influxd", "own_influxd", "victoria_metrics"]
