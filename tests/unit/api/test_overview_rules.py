"""The overview's pure rules: when telemetry's outbox counts as growing, the local day."""

from __future__ import annotations

from datetime import UTC, datetime

from csms.api.overview import TELEMETRY_STALL_S, telemetry_alert, today_start
from csms.sites import Site
from csms.telemetry import TelemetryStats


def test_an_outbox_holding_points_with_no_recent_write_is_an_alert() -> None:
    now = 1_000_000.0
    assert telemetry_alert(TelemetryStats(), now_unix_s=now) is None
    writing = TelemetryStats(outbox_depth=800, last_write_ok_unix_s=now - 2)
    assert telemetry_alert(writing, now_unix_s=now) is None  # draining: writes succeed
    stalled = TelemetryStats(
        outbox_depth=5_000, buffer_depth=20, last_write_ok_unix_s=now - TELEMETRY_STALL_S - 5
    )
    alert = telemetry_alert(stalled, now_unix_s=now)
    assert alert is not None and alert.kind == "telemetry_backlog"
    assert alert.message == "telemetry outbox growing: 5020 points waiting, no write for 35 s"
    never = telemetry_alert(TelemetryStats(outbox_depth=3), now_unix_s=now)
    assert never is not None and never.message.endswith("no write yet")


def test_today_starts_at_the_sites_local_midnight() -> None:
    berlin = Site(id="s", timezone="Europe/Berlin")
    start = today_start(berlin, datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    assert start.isoformat() == "2026-03-03T00:00:00+01:00"
