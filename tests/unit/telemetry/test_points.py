from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain import (
    BootInfo,
    ChargingLimit,
    ChargingRateUnit,
    ConnectorStatus,
    EVChargingNeeds,
    MeterSample,
    RegistrationStatus,
    StatusReport,
    Transaction,
)
from csms.events import (
    ChargingLimitSent,
    EVChargingNeedsReceived,
    HeartbeatReceived,
    MeterValuesReceived,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.telemetry.lineprotocol import to_epoch
from csms.telemetry.normalize import Reject
from csms.telemetry.points import PointEncoder
from csms.telemetry.records import (
    GridConstraintRecord,
    PlanRecord,
    PlanStep,
    Record,
    SiteRecord,
    StorageRecord,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MS = 1_767_268_800_000  # T0 in ms


def _encode(*records: Record, now: datetime = T0) -> tuple[list[str], list[tuple[Reject, str]]]:
    rejects: list[tuple[Reject, str]] = []
    enc = PointEncoder(
        now_s=lambda: now.timestamp(),
        on_reject=lambda reason, detail: rejects.append((reason, detail)),
    )
    out: list[str] = []
    enc.encode_many(list(records), out)
    return out, rejects


def test_to_epoch_is_exact_in_every_precision() -> None:
    at = T0 + timedelta(microseconds=123_456)
    assert to_epoch(at, "ms") == MS + 123
    assert to_epoch(at, "us") == MS * 1000 + 123_456
    assert to_epoch(at, "ns") == MS * 1_000_000 + 123_456_000
    assert to_epoch(at, "s") == MS // 1000
    assert to_epoch(at.replace(tzinfo=None), "ms") == MS + 123


def test_meter_samples_are_normalized_or_rejected() -> None:
    event = MeterValuesReceived(
        station_id="CP1",
        evse_id=1,
        connector_id=1,
        transaction_id=9,
        samples=(
            MeterSample(T0, "Energy.Active.Import.Register", 1.5, "kWh", context="Sample.Periodic"),
            MeterSample(T0, "voltage", 231.0, "V", phase="L1-N"),
            MeterSample(T0, "Teleportation", 1.0, "W"),
            MeterSample(T0, "Power.Active.Import", float("nan"), "W", raw_value="abc"),
            MeterSample(T0, "Power.Active.Import", float("nan"), "W", raw_value="11.5"),
            MeterSample(T0, "Current.Import", 16.0, "kWh"),
            MeterSample(T0 + timedelta(hours=1), "Power.Active.Import", 1.0, "W"),
            MeterSample(T0 - timedelta(days=400), "Power.Active.Import", 1.0, "W"),
        ),
    )
    lines, rejects = _encode(event)
    assert lines == [
        "meter,connector=1,evse=1,measurand=Energy.Active.Import.Register,station=CP1,unit=Wh"
        f' context="Sample.Periodic",transaction_id=9i,value=1500 {MS}',
        "meter,connector=1,evse=1,measurand=Voltage,phase=L1-N,station=CP1,unit=V"
        f" transaction_id=9i,value=231 {MS}",
        "meter,connector=1,evse=1,measurand=Power.Active.Import,station=CP1,unit=W"
        f" transaction_id=9i,value=11.5 {MS}",
    ]
    assert [r for r, _ in rejects] == [
        Reject.UNKNOWN_MEASURAND,
        Reject.NOT_A_NUMBER,
        Reject.UNIT_MISMATCH,
        Reject.TIMESTAMP_FUTURE,
        Reject.TIMESTAMP_PAST,
    ]
    assert "CP1" in rejects[0][1] and "Teleportation" in rejects[0][1]


def test_station_events() -> None:
    tx = Transaction(
        id=17,
        station_id="CP1",
        station_tx_id="abc",
        evse_id=2,
        connector_id=1,
        id_token="TOKEN",
        started_at=T0,
        meter_start_wh=1000.0,
        stopped_at=T0 + timedelta(hours=1),
        meter_stop_wh=8500.0,
        stop_reason="Local",
    )
    lines, rejects = _encode(
        StationConnected("CP1", "2.0.1", T0),
        StationBooted(
            "CP1", BootInfo("ACME", "X1", firmware_version="1.2"), RegistrationStatus.ACCEPTED, T0
        ),
        HeartbeatReceived("CP1", T0),
        StationDisconnected("CP1", T0, reason="closed"),
        StatusChanged(
            StatusReport("CP1", 2, 1, ConnectorStatus.FAULTED, T0, error_code="GroundFailure")
        ),
        TransactionStarted(tx),
        TransactionEnded(tx),
        EVChargingNeedsReceived("CP1", 2, 17, EVChargingNeeds()),
        now=T0 + timedelta(hours=1),
    )
    assert rejects == []
    assert lines == [
        f'connection,event=connected,station=CP1 ocpp_version="2.0.1",value=1i {MS}',
        'connection,event=booted,station=CP1 firmware="1.2",model="X1",ocpp_version="1.6",'
        f'registration="Accepted",value=1i,vendor="ACME" {MS}',
        f"connection,event=heartbeat,station=CP1 value=1i {MS}",
        f'connection,event=disconnected,station=CP1 reason="closed",value=1i {MS}',
        f'status,connector=1,evse=2,station=CP1 error_code="GroundFailure",status="Faulted" {MS}',
        'transaction,event=started,evse=2,station=CP1 meter_wh=1000,station_tx_id="abc",'
        f"transaction_id=17i {MS}",
        "transaction,event=ended,evse=2,station=CP1 energy_wh=7500,meter_wh=8500,"
        f'station_tx_id="abc",stop_reason="Local",transaction_id=17i {MS + 3_600_000}',
    ]


def test_planner_and_site_records() -> None:
    limit = ChargingLimit(
        station_id="CP1",
        evse_id=1,
        unit=ChargingRateUnit.WATT,
        schedule=((0, 11000.0, 3), (900, 7400.0, None)),
        purpose="TxProfile",
        start_at=T0,
    )
    lines, _ = _encode(
        ChargingLimitSent(limit, accepted=True, at=T0),
        PlanRecord(
            "s1",
            "evse",
            "CP1/1",
            "p7",
            (
                PlanStep(T0, 7400.0, constraint="site_import"),
                PlanStep(T0 + timedelta(minutes=15), 0.0),
            ),
        ),
        GridConstraintRecord("s1", "import_max", 50000.0, "W", T0, reason="DSO"),
        GridConstraintRecord("s1", "export_max", 0.0, "W", T0, node="feeder"),
        StorageRecord("s1", "B1", T0, soc_pct=55.5, setpoint_w=-3000.0),
        SiteRecord("s1", T0, import_w=12000.0, pv_w=3000.0),
    )
    assert lines == [
        "charging_limit,evse=1,purpose=TxProfile,station=CP1,unit=W accepted=true,limit=11000,"
        f"number_phases=3i,profile_id=1i,stack_level=0i {MS}",
        "charging_limit,evse=1,purpose=TxProfile,station=CP1,unit=W accepted=true,limit=7400,"
        f"profile_id=1i,stack_level=0i {MS + 900_000}",
        f'plan,asset=CP1/1,asset_kind=evse,site=s1 constraint="site_import",plan_id="p7",'
        f"power_w=7400 {MS}",
        f'plan,asset=CP1/1,asset_kind=evse,site=s1 constraint="none",plan_id="p7",'
        f"power_w=0 {MS + 900_000}",
        f'grid_constraint,kind=import_max,site=s1,unit=W reason="DSO",value=50000 {MS}',
        f"grid_constraint,kind=export_max,node=feeder,site=s1,unit=W value=0 {MS}",
        f"storage,site=s1,storage=B1 setpoint_w=-3000,soc_pct=55.5 {MS}",
        f"site,site=s1 import_w=12000,pv_w=3000 {MS}",
    ]


def test_transaction_updates_are_stamped_with_the_clock() -> None:
    tx = Transaction(
        id=3,
        station_id="CP9",
        station_tx_id="t-3",
        evse_id=1,
        connector_id=1,
        id_token=None,
        started_at=T0,
        charging_state="SuspendedEV",
    )
    lines, _ = _encode(TransactionUpdated(tx), now=T0 + timedelta(minutes=5))
    assert lines == [
        'transaction,event=updated,evse=1,station=CP9 charging_state="SuspendedEV",'
        f'station_tx_id="t-3",transaction_id=3i {MS + 300_000}'
    ]


def test_a_malformed_record_does_not_cost_the_others(caplog: pytest.LogCaptureFixture) -> None:
    broken = MeterValuesReceived("CP1", 1, 1, None, None)  # type: ignore[arg-type]
    good = MeterValuesReceived("CP1", 1, 1, None, (MeterSample(T0, "SoC", 50.0, "%"),))
    enc = PointEncoder(now_s=lambda: T0.timestamp())
    out: list[str] = []
    enc.encode_many([broken, good], out)
    assert out == [f"meter,connector=1,evse=1,measurand=SoC,station=CP1,unit=Percent value=50 {MS}"]
    assert enc.encode_errors == 1
    assert "could not encode MeterValuesReceived" in caplog.text


@pytest.mark.parametrize("precision", ["ns", "us", "ms", "s"])
def test_status_and_heartbeat_lines_are_what_point_makes(precision: str) -> None:
    """The status and heartbeat encoders skip influxdb-client's ``Point`` (two points per
    station and interval); they must write the same bytes."""
    from influxdb_client.client.write.point import Point

    from csms.telemetry.points import _WRITE_PRECISION

    stations = ["CP1", "CP 2,=x", 'CP"3\\', "CP\\", "Zürich-7"]
    texts: list[str | None] = [None, "", 'over "temp", 80\\', "E=1 2"]
    reports = [
        StatusReport(
            station,
            evse,
            connector,
            status,
            T0 + timedelta(microseconds=1_234_567 * evse),
            error_code="NoError" if info is None else "OtherError",
            info=info,
            vendor_id=None,
            vendor_error_code=code,
        )
        for station in stations
        for evse, connector in ((0, 0), (2, 1))
        for status in (ConnectorStatus.CHARGING, ConnectorStatus.FAULTED)
        for info in texts
        for code in (None, "V-17")
    ]
    beats = [HeartbeatReceived(s, T0 + timedelta(seconds=i)) for i, s in enumerate(stations)]
    enc = PointEncoder(precision=precision, now_s=lambda: T0.timestamp())  # type: ignore[arg-type]
    out: list[str] = []
    enc.encode_many([*(StatusChanged(r) for r in reports), *beats], out)
    wp = _WRITE_PRECISION[precision]
    expected = [
        Point("status")
        .time(to_epoch(r.timestamp, precision), wp)  # type: ignore[arg-type]
        .tag("station", r.station_id)
        .tag("evse", str(r.evse_id))
        .tag("connector", str(r.connector_id))
        .field("status", str(r.status))
        .field("error_code", r.error_code)
        .field("info", r.info)
        .field("vendor_error_code", r.vendor_error_code)
        .to_line_protocol()
        for r in reports
    ] + [
        Point("connection")
        .time(to_epoch(b.at, precision), wp)  # type: ignore[arg-type]
        .tag("station", b.station_id)
        .tag("event", "heartbeat")
        .field("value", 1)
        .to_line_protocol()
        for b in beats
    ]
    assert out == expected
    late = T0 - timedelta(days=40)
    lines, rejects = _encode(
        StatusChanged(StatusReport("CP1", 1, 1, ConnectorStatus.CHARGING, late)),
        HeartbeatReceived("CP1", late),
    )
    assert lines == [] and [r for r, _ in rejects] == [Reject.TIMESTAMP_PAST] * 2


def test_site_readings_become_storage_and_site_points() -> None:
    from csms.domain import PvReading, StorageReading
    from csms.events import SiteReadingsReceived

    lines, _ = _encode(
        SiteReadingsReceived(
            "s1",
            (PvReading("roof", T0, 3000.0), PvReading("shed", T0, 1500.5)),
            (StorageReading("B1", T0, 55.5, -2000.0), StorageReading("B2", T0, None, 800.0)),
            T0,
        ),
        SiteReadingsReceived("s1", (), (), T0),  # nothing read: nothing written
    )
    assert lines == [
        f"storage,site=s1,storage=B1 power_w=-2000,soc_pct=55.5 {MS}",
        f"storage,site=s1,storage=B2 power_w=800 {MS}",
        f"site,site=s1 pv_w=4500.5 {MS}",
    ]


def test_a_grid_meter_reading_becomes_a_site_point() -> None:
    from csms.domain import GridMeterReading
    from csms.events import SiteReadingsReceived

    meter = GridMeterReading(T0, 42_000.0, 0.0)
    lines, _ = _encode(SiteReadingsReceived("s1", (), (), T0, meter=meter))
    assert lines == [f"site,site=s1 export_w=0,import_w=42000 {MS}"]


def test_a_storage_control_step_becomes_storage_points_with_the_setpoints() -> None:
    from csms.events import StorageDispatched

    lines, _ = _encode(
        StorageDispatched(
            "s1",
            T0,
            setpoints=(("B1", -12000.0, ("peak_shaving",)),),
            excluded=(("B2", "stale"),),
            ev_reduction_w=0.0,
            export_excess_w=0.0,
            readings=(("B1", 60.0, -8000.0), ("B2", None, None)),
        )
    )
    assert lines == [
        f"storage,site=s1,storage=B1 power_w=-8000,setpoint_w=-12000,soc_pct=60 {MS}",
    ]
