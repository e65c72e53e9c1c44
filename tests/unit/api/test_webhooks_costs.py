from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from csms.api.costs import energy_cost
from csms.api.records import Webhook
from csms.api.webhooks import backoff_s, sign, verify_signature

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"type":"station.status"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, 1700000000, body) == "sha256=" + expected
    assert verify_signature("k" * 16, 1700000000, body, "sha256=" + expected)
    assert not verify_signature("k" * 16, 1700000001, body, "sha256=" + expected)
    assert not verify_signature("k" * 16, 1700000000, body + b" ", "sha256=" + expected)


def test_backoff_doubles_and_caps() -> None:
    waits = [backoff_s(n, initial_s=1.0, max_s=10.0) for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_webhook_matching() -> None:
    hook = Webhook("w", "http://x", "s", ("station.*", "plan.updated"), "t", T0, site_id="a")
    assert hook.matches("station.status", "a", "CP1")
    assert hook.matches("plan.updated", "a", None)
    assert not hook.matches("transaction.started", "a", "CP1")
    assert not hook.matches("station.status", "b", "CP1")
    every = Webhook("w", "http://x", "s", (), "t", T0, station_id="CP1")
    assert every.matches("meter.values", None, "CP1")
    assert not every.matches("meter.values", None, "CP2")


def test_energy_cost_prices_each_step_at_its_midpoint() -> None:
    def price(at: datetime) -> float:
        return 0.10 if at < T0 + timedelta(hours=1) else 0.30

    points = [
        (T0, 1000.0),
        (T0 + timedelta(minutes=30), 6000.0),  # 5 kWh, midpoint 06:15 -> 0.10
        (T0 + timedelta(minutes=90), 16000.0),  # 10 kWh, midpoint 07:00 -> 0.30
        (T0 + timedelta(minutes=100), 15000.0),  # register went back: nothing
    ]
    assert energy_cost(list(reversed(points)), price) == 0.5 + 3.0
    assert energy_cost(points[:1], price) == 0.0
