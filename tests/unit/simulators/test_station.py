from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.charging_profiles import RateUnit, parse_profile
from simulators.connector import ConnectorSpec
from simulators.ev import EVSpec
from simulators.messages import (
    TX_MESSAGES,
    AuthorizeRequest,
    ChargingNeeds,
    ChargingStateChanged,
    ConnectorStatus,
    MeterSample,
    StatusChanged,
    StopReason,
    TransactionEnded,
    TransactionStarted,
)
from simulators.station import Station, StationSpec

T0 = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def ev(**kw: Any) -> EVSpec:
    base: dict[str, Any] = dict(
        ev_id="EV-1",
        capacity_wh=60_000,
        initial_soc=0.2,
        target_soc=0.8,
        max_ac_power_w=22_000,
        arrival=minutes(1),
        departure=minutes(121),
        id_tag="TAG1",
    )
    base.update(kw)
    return EVSpec(**base)


def station(version: str = "1.6", **kw: Any) -> Station:
    spec = StationSpec(
        station_id="SIM-0001",
        ocpp_version=version,
        meter_interval_s=60.0,
        connectors=(ConnectorSpec(max_current_a=32, phases=3),),
    )
    return Station(spec, now=T0, sessions=[(1, ev(**kw))])


def statuses(out: list[Any]) -> list[ConnectorStatus]:
    return [m.status for m in out if isinstance(m, StatusChanged)]


def test_session_lifecycle_plug_authorize_charge_depart() -> None:
    st = station()
    assert st.step(T0) == []
    assert st.next_wakeup() == minutes(1)
    out = st.step(minutes(1))
    assert statuses(out) == [ConnectorStatus.PREPARING]
    assert [type(m) for m in out] == [StatusChanged, AuthorizeRequest]
    out = st.on_authorized(1, True, minutes(1))
    started = [m for m in out if isinstance(m, TransactionStarted)]
    assert len(started) == 1 and started[0].tx.meter_start_wh == 0.0
    assert statuses(out) == [ConnectorStatus.CHARGING]
    # 32 A x 230 V x 3 = 22080 W offered, the EV takes 22000 W.
    assert st.connector(1).power_w == 22_000
    out = st.step(minutes(2))
    samples = [m for m in out if isinstance(m, MeterSample)]
    assert len(samples) == 1
    assert samples[0].energy_wh == pytest.approx(22_000 / 60, abs=0.1)
    assert samples[0].current_a == (31.88, 31.88, 31.88)
    out = st.step(minutes(121))
    ended = [m for m in out if isinstance(m, TransactionEnded)]
    assert len(ended) == 1 and ended[0].reason is StopReason.EV_DISCONNECTED
    assert statuses(out)[-2:] == [ConnectorStatus.FINISHING, ConnectorStatus.AVAILABLE]
    (record,) = st.records
    assert record.outcome == "charged"
    assert record.delivered_wh == pytest.approx(ended[0].meter_stop_wh, abs=0.2)


def test_meter_values_respect_a_16_amp_profile() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    profile = parse_profile(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            },
        }
    )
    ok, _out = st.set_profile(1, profile, minutes(1))
    assert ok
    assert st.connector(1).power_w == 16 * 230 * 3
    samples = [m for m in st.step(minutes(2)) if isinstance(m, MeterSample)]
    assert max(samples[0].current_a) <= 16.0
    (rec,) = st.finish(minutes(3))
    assert rec.under_limit_s == pytest.approx(120.0)


def test_station_max_is_shared_between_connectors() -> None:
    spec = StationSpec(station_id="S", connectors=(ConnectorSpec(), ConnectorSpec()))
    st = Station(spec, now=T0, sessions=[(1, ev()), (2, ev(ev_id="EV-2"))])
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    st.on_authorized(2, True, minutes(1))
    cap = parse_profile(
        {
            "chargingProfileId": 9,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000}],
            },
        }
    )
    assert st.set_profile(1, cap, minutes(1))[0] is False  # station-wide only on connector 0
    ok, _ = st.set_profile(0, cap, minutes(1))
    assert ok
    assert [st.connector(i).power_w for i in (1, 2)] == [10_000, 10_000]
    sched = st.composite(0, duration_s=3600, unit=RateUnit.W, now=minutes(1))
    assert [(p.start_period_s, p.limit) for p in sched.periods] == [(0, 20000.0)]


def test_rejected_authorization_does_not_start() -> None:
    st = station()
    st.step(minutes(1))
    assert st.on_authorized(1, False, minutes(1)) == []
    assert st.connector(1).tx is None
    st.step(minutes(121))
    assert st.records[0].outcome == "rejected"


def test_remote_start_plugs_a_walk_up_ev_and_remote_stop_ends() -> None:
    spec = StationSpec(station_id="S")
    st = Station(spec, now=T0)
    ok, out = st.remote_start("REMOTE", 1, None, T0)
    assert ok
    started = [m for m in out if isinstance(m, TransactionStarted)]
    assert started[0].tx.remote and started[0].tx.id_tag == "REMOTE"
    assert st.remote_start("OTHER", 1, None, T0)[0] is False
    ok, out = st.remote_stop(started[0].tx.local_id, minutes(10))
    assert ok
    assert next(type(m) for m in out) is TransactionEnded
    assert statuses(out)[-1] is ConnectorStatus.AVAILABLE


def test_201_sends_charging_needs_and_increasing_seq_numbers() -> None:
    st = station("2.0.1")
    st.step(minutes(1))
    out = st.on_authorized(1, True, minutes(1))
    needs = [m for m in out if isinstance(m, ChargingNeeds)]
    assert needs[0].energy_amount_wh == 36_000
    seqs = [m.seq_no for m in out if isinstance(m, TransactionStarted | ChargingStateChanged)]
    assert [
        type(m).__name__ for m in out if m.__class__ in (TransactionStarted, ChargingStateChanged)
    ] == ["TransactionStarted", "ChargingStateChanged"]
    for n in range(2, 5):
        seqs += [m.seq_no for m in st.step(minutes(n)) if isinstance(m, MeterSample)]
    # A late step catches up every sample on the way, in order, before the end.
    late = st.step(minutes(121))
    seqs += [m.seq_no for m in late if isinstance(m, TX_MESSAGES)]
    assert seqs == list(range(len(seqs)))
    # 119 samples, the end, and the EV getting full at 80 % on the way (SuspendedEV).
    assert len(seqs) == 123
    assert [m.state for m in late if isinstance(m, ChargingStateChanged)] == [
        ConnectorStatus.SUSPENDED_EV
    ]
    stamps = [m.at for m in late if isinstance(m, MeterSample)]
    assert stamps[0] == minutes(5) and stamps[-1] == minutes(120)


def test_fault_stops_the_transaction_and_reports_faulted() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    out = st.fault(1, minutes(5))
    assert isinstance(out[0], TransactionEnded) and out[0].reason is StopReason.FAULT
    assert statuses(out) == [ConnectorStatus.FAULTED]


def test_ev_stops_drawing_is_suspended_ev() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    assert statuses(st.ev_stops_drawing(1, minutes(2))) == [ConnectorStatus.SUSPENDED_EV]


def test_meter_jump_shows_in_the_register() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    st.meter_jump(1, 1_000_000)
    samples = [m for m in st.step(minutes(2)) if isinstance(m, MeterSample)]
    assert samples[0].energy_wh > 1_000_000


def test_change_availability_and_configuration() -> None:
    st = station()
    status, out = st.change_availability(0, False, T0)
    assert status == "Accepted" and statuses(out) == [ConnectorStatus.UNAVAILABLE]
    assert st.set_config("MeterValueSampleInterval", "15") == "Accepted"
    assert st.meter_interval_s == 15.0
    assert st.set_config("MeterValueSampleInterval", "-1") == "Rejected"
    assert st.set_config("Nope", "1") == "NotSupported"


def _station_max(unit: str, limit: float) -> Any:
    return parse_profile(
        {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        }
    )


def _charging(*connectors: ConnectorSpec, phases: int = 3) -> Station:
    spec = StationSpec(station_id="S", connectors=connectors)
    cars = [(i, ev(ev_id=f"EV-{i}", phases=phases)) for i in range(1, len(connectors) + 1)]
    st = Station(spec, now=T0, sessions=cars)
    st.step(minutes(1))
    for i in range(1, len(connectors) + 1):
        st.on_authorized(i, True, minutes(1))
    return st


def _phase_currents(st: Station, at: datetime) -> dict[int, tuple[float, ...]]:
    return {m.connector_id: m.current_a for m in st.step(at) if isinstance(m, MeterSample)}


def test_station_max_in_amps_caps_a_single_phase_connector_at_16_a() -> None:
    st = _charging(ConnectorSpec(max_current_a=32, phases=1), phases=1)
    assert st.connector(1).power_w == 32 * 230  # unlimited: the 32 A rating
    assert st.set_profile(0, _station_max("A", 16), minutes(1))[0]
    assert _phase_currents(st, minutes(2)) == {1: (16.0,)}
    assert st.connector(1).power_w == 16 * 230


def test_station_max_in_amps_is_the_current_on_the_busiest_phase() -> None:
    # A three-phase and a single-phase connector: L1 carries both, so together <= 16 A there.
    st = _charging(
        ConnectorSpec(max_current_a=32, phases=3), ConnectorSpec(max_current_a=32, phases=1)
    )
    assert st.set_profile(0, _station_max("A", 16), minutes(1))[0]
    currents = _phase_currents(st, minutes(2))
    assert currents == {1: (8.0, 8.0, 8.0), 2: (8.0,)}
    assert sum(c[0] for c in currents.values()) <= 16.0


def test_station_max_in_watts_is_total_power_even_on_one_phase() -> None:
    # 9200 W over two single-phase connectors: 4600 W = 20 A each (a W limit is not per phase).
    st = _charging(ConnectorSpec(phases=1), ConnectorSpec(phases=1))
    assert st.set_profile(0, _station_max("W", 9200), minutes(1))[0]
    assert _phase_currents(st, minutes(2)) == {1: (20.0,), 2: (20.0,)}


def test_dc_connector_reports_soc_and_one_current() -> None:
    spec = StationSpec(
        station_id="DC",
        connectors=(ConnectorSpec(dc=True, max_current_a=200, voltage_v=400, max_power_w=50_000),),
    )
    car = ev(max_dc_power_w=100_000, initial_soc=0.5, target_soc=0.9)
    st = Station(spec, now=T0, sessions=[(1, car)])
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    assert st.connector(1).power_w == 50_000  # the connector's rating binds
    (sample,) = [m for m in st.step(minutes(2)) if isinstance(m, MeterSample)]
    assert sample.current_a == (125.0,)  # 50 kW / 400 V
    # 50 kW for 1 minute into 60 kWh: 50 % + 833.3 Wh / 60 kWh.
    assert sample.soc_pct == pytest.approx(51.4, abs=0.05)
    amps = parse_profile(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 50}],
            },
        }
    )
    assert st.set_profile(1, amps, minutes(2))[0]
    assert st.connector(1).power_w == 20_000  # 50 A x 400 V


def test_min_charging_rate_suspends_below_it() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    low = parse_profile(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "A",
                "minChargingRate": 6,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4}],
            },
        }
    )
    ok, out = st.set_profile(1, low, minutes(1))
    assert ok and st.connector(1).power_w == 0
    assert statuses(out) == [ConnectorStatus.SUSPENDED_EVSE]


def test_recurring_profile_wakes_the_station_at_its_boundaries() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    daily = parse_profile(
        {
            "chargingProfileId": 5,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Recurring",
            "recurrencyKind": "Daily",
            "chargingSchedule": {
                "startSchedule": "2026-01-01T18:30:00Z",
                "chargingRateUnit": "W",
                "duration": 1800,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3000}],
            },
        }
    )
    assert st.set_profile(1, daily, minutes(1))[0]
    st.step(
        minutes(
            29,
        )
    )
    st.step(minutes(29.5))
    assert st.next_wakeup() == minutes(30)
    st.step(minutes(30))
    assert st.connector(1).power_w == 3000
    st.step(minutes(60))
    assert st.connector(1).power_w == 22_000


def test_remote_start_with_a_relative_tx_profile() -> None:
    walk_up = EVSpec(ev_id="walk-up", max_ac_power_w=22_000)
    st = Station(StationSpec(station_id="S", default_ev=walk_up), now=T0)
    relative = parse_profile(
        {
            "chargingProfileId": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "duration": 600,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 10},
                    {"startPeriod": 300, "limit": 16},
                ],
            },
        }
    )
    ok, _ = st.remote_start("REMOTE", 1, relative, minutes(2))
    assert ok
    assert st.connector(1).power_w == 10 * 230 * 3
    st.step(minutes(7))
    assert st.connector(1).power_w == 16 * 230 * 3
    st.step(minutes(12))  # the schedule's 10 minutes are over: the EV's 22 kW
    assert st.connector(1).power_w == 22_000
    tx = st.connector(1).tx
    assert tx is not None
    st.remote_stop(tx.local_id, minutes(13))
    assert len(st.profiles) == 0  # TxProfiles end with their transaction


def test_energy_counts_from_the_start_even_when_the_answer_comes_late() -> None:
    st = station()
    st.step(minutes(1))  # plugged, Authorize sent
    st.on_authorized(1, True, minutes(3))  # the answer takes two minutes
    (sample,) = [m for m in st.step(minutes(4)) if isinstance(m, MeterSample)]
    assert sample.energy_wh == pytest.approx(22_000 / 60, abs=0.1)


def test_profile_refusals_name_the_reason_and_change_nothing() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    tx = st.connector(1).tx
    assert tx is not None

    def raw(purpose: str, *, level: int = 0, tx_id: int | None = None) -> Any:
        body: dict[str, Any] = {
            "chargingProfileId": 3,
            "stackLevel": level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
            },
        }
        if tx_id is not None:
            body["transactionId"] = tx_id
        return parse_profile(body)

    cases = [
        (2, raw("TxDefaultProfile"), "no connector 2"),
        (0, raw("TxProfile"), "a TxProfile needs a connector"),
        (1, raw("TxProfile", tx_id=99), "a TxProfile for transaction 99, but connector 1 runs"),
        (1, raw("TxDefaultProfile", level=9), "stack level 9 above ChargeProfileMaxStackLevel 8"),
    ]
    for connector_id, profile, why in cases:
        refusal = st.profile_refusal(connector_id, profile)
        assert refusal is not None and refusal.startswith(why), refusal
        assert st.set_profile(connector_id, profile, minutes(2)) == (False, [])
    assert len(st.profiles) == 0 and st.connector(1).power_w == 22_000
    assert st.profile_refusal(1, raw("TxProfile", tx_id=None)) is None


def test_local_stop_ends_the_transaction_and_the_ev_stays_until_it_leaves() -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    out = st.local_stop(1, minutes(11))
    (ended,) = [m for m in out if isinstance(m, TransactionEnded)]
    assert ended.reason is StopReason.LOCAL
    assert ended.meter_stop_wh == pytest.approx(22_000 / 6, abs=0.2)  # 22 kW for 10 minutes
    assert statuses(out) == [ConnectorStatus.FINISHING]
    assert st.connector(1).power_w == 0 and st.connector(1).ev is not None
    # No new transaction, no energy, until the EV leaves at 18:121.
    later = st.step(minutes(60))
    assert not [m for m in later if isinstance(m, TX_MESSAGES | AuthorizeRequest)]
    assert statuses(st.step(minutes(121))) == [ConnectorStatus.AVAILABLE]
    (record,) = st.records
    # Ten minutes of a 36 kWh request: not what the EV asked for.
    assert record.outcome == "partly charged" and record.delivered_wh == pytest.approx(
        ended.meter_stop_wh, abs=0.2
    )
    assert st.local_stop(1, minutes(122)) == []  # nothing to stop


@pytest.mark.parametrize(
    ("hard", "reason"), [(True, StopReason.REBOOT), (False, StopReason.SOFT_RESET)]
)
def test_reset_ends_the_transaction_with_the_reset_reason(hard: bool, reason: StopReason) -> None:
    st = station()
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    (ended,) = [m for m in st.reset(minutes(5), hard=hard) if isinstance(m, TransactionEnded)]
    assert ended.reason is reason and reason.value in ("HardReset", "SoftReset")


def test_start_refused_by_the_central_system_stops_deauthorized() -> None:
    st = station()
    st.step(minutes(1))
    (started,) = [
        m for m in st.on_authorized(1, True, minutes(1)) if isinstance(m, TransactionStarted)
    ]
    out = st.on_started(started.tx, accepted=False, csms_id=17, now=minutes(2))
    (ended,) = [m for m in out if isinstance(m, TransactionEnded)]
    assert ended.reason is StopReason.DEAUTHORIZED and ended.reason.value == "DeAuthorized"
    assert st.connector(1).tx is None and st.connector(1).power_w == 0


def test_a_three_phase_car_on_one_phase_takes_its_per_phase_share() -> None:
    # A 22 kW onboard charger is 32 A per phase on three phases; on a single-phase 32 A
    # connector it takes 32 A on one: 7333 W, not 22 kW (and not more than the rating).
    st = _charging(ConnectorSpec(max_current_a=32, phases=1))
    assert st.connector(1).power_w == 7333
    assert _phase_currents(st, minutes(2)) == {1: (31.88,)}
    spec = StationSpec(station_id="S", connectors=(ConnectorSpec(max_current_a=32, phases=1),))
    small = Station(spec, now=T0, sessions=[(1, ev(max_ac_power_w=11_000))])
    small.step(minutes(1))
    small.on_authorized(1, True, minutes(1))
    assert small.connector(1).acceptance_w() == pytest.approx(11_000 / 3)
    assert small.connector(1).power_w == 3666  # 16 A: the car's per-phase limit binds


def test_a_limit_with_fewer_phases_moves_the_charge_onto_them() -> None:
    st = station()  # 32 A three-phase connector, 22 kW three-phase car
    st.step(minutes(1))
    st.on_authorized(1, True, minutes(1))
    one_phase = parse_profile(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": T0.isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16, "numberPhases": 1},
                    {"startPeriod": 600, "limit": 16},
                ],
            },
        }
    )
    assert st.set_profile(1, one_phase, minutes(1))[0]
    (sample,) = [m for m in st.step(minutes(2)) if isinstance(m, MeterSample)]
    assert (sample.current_a, sample.power_w) == ((16.0,), 16 * 230)
    sample = [m for m in st.step(minutes(12)) if isinstance(m, MeterSample)][-1]
    assert (sample.current_a, sample.power_w) == ((16.0, 16.0, 16.0), 16 * 230 * 3)


@pytest.mark.parametrize(
    ("delivered", "requested", "outcome"),
    [
        (36_000, 36_000, "charged"),
        (35_700, 36_000, "charged"),  # within 1 %
        (16_920, 36_000, "partly charged"),  # 47 %: not "charged"
        (0, 36_000, "idle"),
        (980, 1_000, "charged"),  # within 50 Wh
        (900, 1_000, "partly charged"),
    ],
)
def test_charged_means_the_ev_got_what_it_asked_for(
    delivered: float, requested: float, outcome: str
) -> None:
    from simulators.connector import visit_outcome

    assert visit_outcome(delivered, requested) == outcome
