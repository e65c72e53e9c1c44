from __future__ import annotations

import pytest

from simulators.ev import EV, EVSpec


def test_energy_integration_at_constant_power() -> None:
    ev = EV(EVSpec(ev_id="a", capacity_wh=60_000, initial_soc=0.2, target_soc=0.8))
    # 11 kW for 30 minutes = 5500 Wh; SoC 0.2 + 5500/60000.
    assert ev.advance(11_000, 1800) == pytest.approx(5500.0)
    assert ev.soc == pytest.approx(0.2 + 5500 / 60_000)
    assert ev.delivered_wh == pytest.approx(5500.0)


def test_offered_power_above_acceptance_is_not_taken() -> None:
    ev = EV(EVSpec(ev_id="a", max_ac_power_w=7_400))
    assert ev.advance(22_000, 3600) == pytest.approx(7400.0)


def test_stops_at_target_soc() -> None:
    ev = EV(EVSpec(ev_id="a", capacity_wh=10_000, initial_soc=0.5, target_soc=0.6, taper_soc=1.0))
    assert ev.advance(11_000, 3600) == pytest.approx(1000.0)
    assert ev.full
    assert ev.acceptance_w() == 0.0
    assert ev.advance(11_000, 60) == 0.0


def test_taper_above_the_configured_soc() -> None:
    spec = EVSpec(
        ev_id="a",
        capacity_wh=50_000,
        initial_soc=0.9,
        target_soc=1.0,
        max_dc_power_w=100_000,
        taper_soc=0.8,
        taper_floor=0.1,
    )
    ev = EV(spec, dc=True)
    # (1 - 0.9) / (1 - 0.8) = half the peak.
    assert ev.acceptance_w() == pytest.approx(50_000.0)
    ev.soc = 0.99
    assert ev.acceptance_w() == pytest.approx(10_000.0)  # floor: 0.05 -> 0.1 of peak
    ev.soc = 0.5
    assert ev.acceptance_w() == pytest.approx(100_000.0)


def test_tapering_charge_takes_longer_than_constant_power() -> None:
    spec = EVSpec(
        ev_id="a",
        capacity_wh=50_000,
        initial_soc=0.8,
        target_soc=0.9,
        max_ac_power_w=10_000,
        taper_soc=0.8,
        taper_floor=0.1,
    )
    ev = EV(spec)
    # Without a taper 5 kWh at 10 kW takes 30 minutes; with it, less is delivered by then.
    delivered = ev.advance(10_000, 1800)
    assert 3000 < delivered < 5000
    assert not ev.full


def test_stopped_drawing_fault() -> None:
    ev = EV(EVSpec(ev_id="a"))
    ev.stopped_drawing = True
    assert ev.advance(11_000, 600) == 0.0


def test_energy_request_and_validation() -> None:
    assert EVSpec(
        ev_id="a", capacity_wh=40_000, initial_soc=0.25, target_soc=0.75
    ).energy_request_wh == pytest.approx(20_000)
    with pytest.raises(ValueError, match="target_soc"):
        EVSpec(ev_id="a", target_soc=1.5)
    with pytest.raises(ValueError, match="phases"):
        EVSpec(ev_id="a", phases=4)
