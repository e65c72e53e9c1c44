from __future__ import annotations

from csms.backoff import Backoff


def test_waits_double_up_to_the_cap_and_start_afresh_after_a_reset() -> None:
    backoff = Backoff(initial_s=1.0, max_s=60.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.attempt == 8
    backoff.reset()
    assert (backoff.attempt, backoff.next_delay()) == (0, 1.0)


def test_an_outage_of_any_length_keeps_the_cap() -> None:
    # 2.0 ** 1024 overflows a float: the wait grows one failure at a time instead
    backoff = Backoff(initial_s=0.5, max_s=30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0
    assert backoff.attempt == 5000


def test_the_jitter_spreads_the_wait_both_ways() -> None:
    assert Backoff(initial_s=2.0, jitter=0.25, rng=lambda: 0.0).next_delay() == 1.5
    assert Backoff(initial_s=2.0, jitter=0.25, rng=lambda: 1.0).next_delay() == 2.5


def test_without_jitter_no_random_number_is_drawn() -> None:
    def never() -> float:
        raise AssertionError("drawn")

    assert Backoff(initial_s=0.1, max_s=5.0, jitter=0.0, rng=never).next_delay() == 0.1
