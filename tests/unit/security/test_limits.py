"""Per-address limits and failed-authentication backoff (pure, on a given time)."""

from __future__ import annotations

from csms.security.limits import AddressLimits, AuthBackoff


def test_open_connections_per_address() -> None:
    limits = AddressLimits(max_open=2, attempts_per_s=None, burst=1)
    assert limits.attempt("a", 0.0) is None
    assert limits.attempt("a", 0.0) is None
    assert limits.attempt("a", 0.0) == "too-many-connections"
    assert limits.attempt("b", 0.0) is None  # per address
    limits.closed("a")
    assert limits.attempt("a", 0.0) is None
    limits.closed("nobody")  # unknown: ignored
    assert limits.open_count("a") == 2


def test_attempts_refill_at_the_rate() -> None:
    limits = AddressLimits(max_open=None, attempts_per_s=2.0, burst=3)
    assert [limits.attempt("a", 0.0) for _ in range(4)] == [
        None,
        None,
        None,
        "too-many-attempts",
    ]
    assert limits.attempt("a", 0.4) == "too-many-attempts"  # 0.8 of a token
    assert limits.attempt("a", 0.5) is None  # one token after 0.5 s
    assert limits.attempt("a", 100.0) is None  # never more than the burst
    assert [limits.attempt("a", 100.0) for _ in range(3)][-1] == "too-many-attempts"


def test_exempt_addresses() -> None:
    limits = AddressLimits(max_open=1, attempts_per_s=0.001, burst=1, exempt=frozenset({"l"}))
    assert all(limits.attempt("l", 0.0) is None for _ in range(10))
    assert len(limits) == 0


def test_memory_bounded_under_a_flood_of_addresses() -> None:
    limits = AddressLimits(max_open=5, attempts_per_s=1.0, burst=5, max_entries=100)
    held = [f"held{i}" for i in range(10)]
    for a in held:
        assert limits.attempt(a, 0.0) is None
    for i in range(10_000):
        limits.attempt(f"flood{i}", 0.0)
        limits.closed(f"flood{i}")
    assert len(limits) <= 100
    assert all(limits.open_count(a) == 1 for a in held)  # open connections are kept


def test_backoff_doubles_then_resets() -> None:
    b = AuthBackoff(free_failures=2, initial_s=1.0, max_s=5.0)
    assert b.failed("CP1", 0.0) == 0.0
    assert b.failed("CP1", 0.0) == 0.0
    assert b.retry_after("CP1", 0.0) is None
    assert b.failed("CP1", 0.0) == 1.0
    assert b.retry_after("CP1", 0.5) == 0.5
    assert b.retry_after("CP1", 1.0) is None
    assert [b.failed("CP1", 1.0) for _ in range(4)] == [2.0, 4.0, 5.0, 5.0]
    assert b.retry_after("CP2", 1.0) is None  # per station id
    b.succeeded("CP1")
    assert b.retry_after("CP1", 1.0) is None and len(b) == 0


def test_backoff_memory_bounded() -> None:
    b = AuthBackoff(free_failures=1, initial_s=1.0, max_s=10.0, max_entries=50)
    for i in range(5_000):
        b.failed(f"id{i}", float(i))
    assert len(b) <= 50


def test_a_full_table_drops_what_carries_nothing_before_the_oldest() -> None:
    b = AuthBackoff(free_failures=0, initial_s=1.0, max_s=1.0, max_entries=10)
    b.failed("waiting", 100.0)  # the longest known, still waiting
    for i in range(9):
        b.failed(f"expired{i}", 0.0)
    b.failed("new", 100.0)
    assert b.retry_after("waiting", 100.0) == 1.0
    assert len(b) == 2
