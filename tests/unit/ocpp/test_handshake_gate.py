"""The handshake gate: at most so many handshakes at once, the rest in arrival order."""

from __future__ import annotations

import itertools

import pytest

from csms.ocpp.handshake_gate import HandshakeGate


def test_beyond_the_limit_handshakes_wait_and_start_in_arrival_order() -> None:
    gate: HandshakeGate[str] = HandshakeGate(2)
    assert [gate.enter(x) for x in "abcde"] == [True, True, False, False, False]
    assert (gate.running, gate.waiting, gate.waited, gate.peak_waiting) == (2, 3, 3, 3)
    assert gate.leave() == ["c"]
    assert gate.leave() == ["d"]
    assert (gate.running, gate.waiting) == (2, 1)
    # a newcomer does not pass the one waiting, even with a place free
    gate.limit = 3
    assert gate.enter("f") is False
    assert gate.leave() == ["e", "f"]
    assert (gate.running, gate.waiting) == (3, 0)
    assert [gate.leave(), gate.leave(), gate.leave()] == [[], [], []]
    assert gate.running == 0 and gate.enter("g") is True


def test_close_hands_back_the_waiting_ones() -> None:
    gate: HandshakeGate[int] = HandshakeGate(1)
    assert [gate.enter(i) for i in range(4)] == [True, False, False, False]
    assert gate.close() == [1, 2, 3]
    assert gate.waiting == 0 and gate.leave() == []


def test_no_limit_never_waits() -> None:
    gate: HandshakeGate[int] = HandshakeGate(0)
    assert all(gate.enter(i) for i in range(1000))
    assert (gate.running, gate.waited) == (1000, 0)
    assert gate.leave() == []


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        HandshakeGate(-1)


def test_one_that_would_wait_too_long_is_sent_away_with_turns_booked_at_the_rate() -> None:
    gate: HandshakeGate[int] = HandshakeGate(2, wait_max_s=1.0)
    assert gate.enter(0, 0.0) is True and gate.enter(1, 0.0) is True
    # 40 handshakes end over 2 s: 20 a second
    for i in range(40):
        assert gate.enter(100 + i, 0.0) in (True, False)
        gate.leave(i * 0.05)
    assert gate.rate_per_s(2.0) == pytest.approx(20, rel=0.05)
    waiting_before = gate.waiting
    # at 20 a second, 1 s of waiting is 20 connections; the ones beyond are sent away
    verdicts = [gate.enter(200 + i, 2.0) for i in range(60)]
    waited = [v for v in verdicts if v is False]
    after = [v for v in verdicts if v is not True and v is not False]
    assert waiting_before + len(waited) == 20 == gate.waiting
    assert gate.refused == len(after) == 60 - len(waited)
    # booked one after the other at the rate, from the end of the second the waiting fill
    assert after[0] == pytest.approx(1.0 + 1 / 20, rel=0.05)
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert all(g == pytest.approx(1 / 20, rel=0.05) for g in gaps)


def test_a_wait_limit_that_is_not_positive_is_refused() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="wait_max_s"):
            HandshakeGate(1, wait_max_s=bad)
