"""Pure rules of the core: no event loop, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.core import (
    admit,
    apply_update,
    authorize,
    decide_boot,
    hash_password,
    normalize_sample,
    register_wh,
    start_key,
    verify_password,
)
from csms.core.remote_start import RemoteStarts
from csms.domain import (
    AuthorizationStatus,
    IdToken,
    MeterSample,
    RegistrationStatus,
    Transaction,
    TransactionEventKind,
    TransactionUpdate,
)
from csms.store.base import NewTransaction, StationRecord

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_passwords_hash_salted_and_verify() -> None:
    a = hash_password("pw", n=2**10)
    b = hash_password("pw", n=2**10)
    assert a != b and a.startswith("scrypt$1024$8$1$")
    assert verify_password("pw", a) and verify_password("pw", b)
    assert not verify_password("Pw", a)
    assert not verify_password("pw", "garbage")
    assert not verify_password("pw", "bcrypt$1$2$3$4$5")
    with pytest.raises(ValueError):
        hash_password("")


@pytest.mark.parametrize(
    ("value", "unit", "multiplier", "measurand", "expected"),
    [
        ("7.4", "kW", 0, "Power.Active.Import", (7400.0, "W")),
        ("12.345", "kWh", 0, None, (12345.0, "Wh")),
        ("500", None, 0, None, (500.0, "Wh")),
        ("3", None, 0, "Power.Active.Import", (3.0, "W")),
        (16, "A", 0, "Current.Import", (16.0, "A")),
        (11, "Wh", 3, None, (11000.0, "Wh")),
        (2, "kvarh", 0, "Energy.Reactive.Import.Register", (2000.0, "varh")),
        ("55", "Percent", 0, "SoC", (55.0, "%")),
        ("49.9", None, 0, "Frequency", (49.9, "Hz")),
        (1234, "W", -3, "Power.Active.Import", (1.234, "W")),
    ],
)
def test_meter_normalization(
    value: str | float,
    unit: str | None,
    multiplier: int,
    measurand: str | None,
    expected: tuple[float, str],
) -> None:
    s = normalize_sample(
        timestamp=T0, value=value, unit=unit, multiplier=multiplier, measurand=measurand
    )
    assert s is not None
    assert (s.value, s.unit) == expected
    assert s.raw_value == str(value)


def test_non_numeric_values_are_not_samples() -> None:
    assert normalize_sample(timestamp=T0, value="A1B2C3") is None
    assert normalize_sample(timestamp=T0, value="nan") is None


@pytest.mark.parametrize(
    ("value", "multiplier"), [("1e300", 100), ("5", 400), ("1e13", 0), ("-2", 12), ("inf", 0)]
)
def test_values_beyond_every_range_are_not_samples(value: str, multiplier: int) -> None:
    """Finite and in range, or not a reading: a huge value, or a multiplier that overflows,
    never reaches the planner (or raises in the adapter)."""
    assert normalize_sample(timestamp=T0, value=value, multiplier=multiplier) is None
    assert normalize_sample(timestamp=T0, value="5", multiplier=3) is not None


def test_register_prefers_the_total_outlet_register() -> None:
    def s(value: float, **kw: object) -> MeterSample:
        return MeterSample(
            T0,
            kw.pop("measurand", "Energy.Active.Import.Register"),
            value,  # type: ignore[arg-type]
            kw.pop("unit", "Wh"),
            **kw,
        )  # type: ignore[arg-type]

    assert register_wh([s(1, phase="L1"), s(5, location="Inlet"), s(7)]) == 7
    assert register_wh([s(5, location="Inlet")]) == 5
    assert register_wh([s(9, measurand="Power.Active.Import", unit="W")]) is None


def test_authorize() -> None:
    assert authorize(None, T0).status is AuthorizationStatus.UNKNOWN
    ok = IdToken("A", group_id="G", expires_at=T0 + timedelta(seconds=1))
    assert authorize(ok, T0).status is AuthorizationStatus.ACCEPTED
    assert authorize(ok, T0).group_id == "G"
    assert authorize(ok, T0 + timedelta(seconds=1)).status is AuthorizationStatus.EXPIRED
    blocked = IdToken("B", status=AuthorizationStatus.BLOCKED)
    assert authorize(blocked, T0).status is AuthorizationStatus.BLOCKED


def test_admission_and_boot_policy() -> None:
    known = StationRecord("CP", password_hash="h")
    assert admit(known, "reject").password_hash == "h"
    assert not admit(None, "reject").allowed
    assert admit(None, "pending").allowed and admit(None, "accept").allowed
    kw = {"heartbeat_interval_s": 300, "pending_interval_s": 60}
    assert decide_boot(known, "reject", **kw).status is RegistrationStatus.ACCEPTED
    assert decide_boot(known, "reject", **kw).interval_s == 300
    pending = StationRecord("CP", registration=RegistrationStatus.PENDING)
    assert decide_boot(pending, "accept", **kw).status is RegistrationStatus.PENDING
    assert decide_boot(pending, "accept", **kw).interval_s == 60
    assert decide_boot(None, "pending", **kw).status is RegistrationStatus.PENDING
    assert decide_boot(None, "accept", **kw).status is RegistrationStatus.ACCEPTED
    assert decide_boot(None, "reject", **kw).status is RegistrationStatus.REJECTED


def test_start_key_identifies_a_retry() -> None:
    def key(meter_start_wh: float, *, connector_id: int = 1, station_id: str = "CP") -> str:
        return start_key(
            NewTransaction(
                station_id, 1, connector_id, T0, id_token="T", meter_start_wh=meter_start_wh
            )
        )

    assert key(10) == key(10.0)
    assert key(10) != key(11)
    assert key(10) != key(10, connector_id=2)
    assert key(10) != key(10, station_id="CP2")


def _tx(**kw: object) -> Transaction:
    base: dict[str, object] = dict(
        id=1,
        station_id="CP",
        station_tx_id="T1",
        evse_id=1,
        connector_id=1,
        id_token=None,
        started_at=T0,
    )
    base.update(kw)
    return Transaction(**base)  # type: ignore[arg-type]


def _upd(kind: str, seq: int | None, minutes: float, **kw: object) -> TransactionUpdate:
    return TransactionUpdate(
        station_id="CP",
        kind=TransactionEventKind(kind),
        timestamp=T0 + timedelta(minutes=minutes),
        seq_no=seq,
        **kw,
    )  # type: ignore[arg-type]


def test_apply_update_orders_by_seq_no() -> None:
    tx = _tx(last_seq_no=0)
    a = apply_update(tx, _upd("Updated", 2, 10, charging_state="SuspendedEV", id_token="X"))
    assert a.changed and not a.late
    assert (a.transaction.charging_state, a.transaction.last_seq_no) == ("SuspendedEV", 2)
    assert tx.charging_state is None  # the input is not mutated
    late = apply_update(
        a.transaction, _upd("Updated", 1, 5, charging_state="Charging", offline=True)
    )
    assert late.late
    assert late.transaction.charging_state == "SuspendedEV"
    assert late.transaction.last_seq_no == 2
    assert late.transaction.offline
    assert late.transaction.id_token == "X"


def test_a_seq_no_advancing_alone_is_a_change_but_not_news() -> None:
    tx = _tx(last_seq_no=4, charging_state="Charging")
    seq_only = apply_update(tx, _upd("Updated", 5, 10, charging_state="Charging"))
    assert seq_only.changed and not seq_only.news
    assert seq_only.transaction.last_seq_no == 5
    state = apply_update(tx, _upd("Updated", 5, 10, charging_state="SuspendedEV"))
    assert state.changed and state.news
    resend = apply_update(tx, _upd("Updated", 4, 10, charging_state="Charging"))
    assert not resend.changed and not resend.news
    late_offline = apply_update(tx, _upd("Updated", 3, 10, offline=True))
    assert late_offline.late and late_offline.changed and late_offline.news
    assert late_offline.transaction.last_seq_no == 4


def test_ended_is_final_even_when_it_arrives_early() -> None:
    tx = _tx(last_seq_no=0, meter_start_wh=100.0)
    ended = apply_update(tx, _upd("Ended", 3, 30, meter_wh=900.0, stop_reason="Local"))
    assert ended.ended_now and ended.transaction.energy_wh == 800.0
    after = apply_update(ended.transaction, _upd("Updated", 2, 20, charging_state="Charging"))
    assert not after.ended_now and not after.changed
    assert after.transaction.stopped_at == T0 + timedelta(minutes=30)
    again = apply_update(ended.transaction, _upd("Ended", 3, 30, meter_wh=900.0))
    assert not again.changed and not again.ended_now


def test_remote_starts_match_by_id_or_connector_and_token() -> None:
    starts: RemoteStarts[str] = RemoteStarts()
    a = starts.expect("CP", remote_start_id=7, evse_id=1, id_token="T", waiter="a")
    b = starts.expect("CP", remote_start_id=8, evse_id=None, id_token="U", waiter="b")
    assert starts.match(_tx(station_id="OTHER", id_token="T")) is None
    assert starts.match(_tx(remote_start_id=8, id_token="whatever")) is b
    assert starts.match(_tx(evse_id=2, id_token="T")) is None
    assert starts.match(_tx(evse_id=1, id_token="T")) is a
    assert a.matched is not None and len(starts) == 0
