"""The simulated grid meter as a 2.1 station (decision 0917): clock-aligned MeterValues on
EVSE 0 that hold the site's net import (devices, base load, less PV) and its registers,
valid against the 2.1 schema and read by the central system as the site import."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from csms.ocpp import validation
from simulators import MeterStation, SiteMeter, SiteMeterSpec
from simulators.cli_devices import add_device_options, device_config

T0 = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def _values(payload: dict[str, object]) -> dict[str, float]:
    (meter_value,) = payload["meterValue"]  # type: ignore[misc]
    return {v["measurand"]: v["value"] for v in meter_value["sampledValue"]}


def test_samples_hold_the_net_import_at_evse_0_and_the_registers() -> None:
    draws = {"SIM-0001/1": 11_000.0, "BESS": -4_000.0}
    station = MeterStation(
        "GRIDMETER",
        SiteMeter("S", base_load_w=10_000.0),
        lambda _at: draws,
        start=T0,
        pv_w=lambda _at: 5_000.0,
        meter_interval_s=60.0,
    )
    assert station.next_wakeup() == T0 + timedelta(seconds=30)
    assert station.step(T0 + timedelta(seconds=29)) == []
    (first,) = station.step(T0 + timedelta(seconds=30))
    assert first.action == "MeterValues" and first.payload["evseId"] == 0
    validation.validate("2.1", "MeterValues", validation.CALL, first.payload)
    assert _values(first.payload) == {
        "Power.Active.Import": 12_000.0,  # 10 kW base + 11 kW EV - 4 kW storage - 5 kW PV
        "Power.Active.Export": 0.0,
        "Energy.Active.Import.Register": 0.0,
        "Energy.Active.Export.Register": 0.0,
    }
    (sampled,) = first.payload["meterValue"]  # type: ignore[index]
    assert {v["location"] for v in sampled["sampledValue"]} == {"Inlet"}
    draws.update({"SIM-0001/1": 0.0, "BESS": -20_000.0})  # the EV leaves, the unit gives
    second, third = station.step(T0 + timedelta(seconds=150))
    assert _values(second.payload)["Power.Active.Import"] == 0.0
    assert _values(second.payload)["Power.Active.Export"] == 15_000.0
    assert _values(second.payload)["Energy.Active.Import.Register"] == 200.0  # 12 kW, 1 min
    assert _values(third.payload)["Energy.Active.Export.Register"] == 250.0  # 15 kW, 1 min
    assert station.samples(T0)[0].payload["evseId"] == 0  # TriggerMessage: a reading now
    assert station.set_charging_profile(0, {}, T0).status == "Rejected"
    assert station.statuses(T0) == []


def test_the_command_line_adds_the_grid_meter() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    add_device_options(parser)
    assert device_config(parser.parse_args([]))["site_meter"] is None
    spec = device_config(parser.parse_args(["--site-meter", "--site-base-load-w", "12000"]))
    assert spec["site_meter"] == SiteMeterSpec("GRIDMETER", base_load_w=12_000.0)
    spec = device_config(parser.parse_args(["--site-meter", "--site-meter-interval-s", "5"]))
    assert spec["site_meter"] == SiteMeterSpec("GRIDMETER", interval_s=5.0)


def test_a_reading_not_sent_yet_is_replaced_by_a_newer_one() -> None:
    from chargegrid.clock import ManualClock
    from simulators.meter_runner import MeterRunner
    from simulators.runner import OutItem

    draws = {"SIM-0001/1": 11_000.0}
    station = MeterStation("GRIDMETER", SiteMeter("S"), lambda _at: draws, start=T0,
                           meter_interval_s=5.0)  # fmt: skip
    runner = MeterRunner(station, url="ws://127.0.0.1:1", clock=ManualClock(T0))
    runner.online = True
    in_flight = OutItem(station.samples(T0)[0])
    runner.outbox.extend([in_flight, OutItem("Heartbeat"), OutItem(station.samples(T0)[0])])
    # the meter woke late: three samples due at once; only the newest goes, after the one
    # in flight and the heartbeat
    draws["SIM-0001/1"] = 22_000.0
    runner.submit(station.step(T0 + timedelta(seconds=15)))
    assert [i.message for i in runner.outbox][:2] == [in_flight.message, "Heartbeat"]
    (newest,) = list(runner.outbox)[2:]
    assert _values(newest.message.payload)["Power.Active.Import"] == 22_000.0  # type: ignore[union-attr]
    assert runner.replaced == 3  # the one queued and two of the three due
    runner.online = False  # offline every reading is kept (the registers' history)
    runner.submit(station.step(T0 + timedelta(seconds=25)))
    assert len(runner.outbox) == 5
