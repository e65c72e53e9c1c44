"""The simulated station's messages as OCPP 2.0.1 requests: one pure function per kind.

Each connector of the model is an EVSE (``evseId`` = connector number) with one connector.
Transactions are TransactionEvents (Started / Updated / Ended) with a per-transaction
``seqNo``; those produced while offline carry ``offline=true``. :data:`ENCODERS` maps each
model message type to its function; status notifications, which 2.0.1 folds, are the
adapter's (:class:`simulators.ocpp201.V201Adapter`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.v201 import call

from chargegrid.measurands import DEFAULT_MEASURAND
from simulators.messages import (
    AuthorizeRequest,
    ChargingNeeds,
    ChargingStateChanged,
    ConnectorStatus,
    MeterSample,
    StopReason,
    TransactionEnded,
    TransactionStarted,
    iso,
    sampled_values,
)
from simulators.runner import OutItem

__all__ = ["ENCODERS", "connector_status"]

_STATUS = {
    ConnectorStatus.AVAILABLE: "Available",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.FAULTED: "Faulted",
}
_CHARGING_STATE = {
    ConnectorStatus.CHARGING: "Charging",
    ConnectorStatus.SUSPENDED_EV: "SuspendedEV",
    ConnectorStatus.SUSPENDED_EVSE: "SuspendedEVSE",
    ConnectorStatus.PREPARING: "EVConnected",
    ConnectorStatus.FINISHING: "EVConnected",
}
_STOPPED = {
    StopReason.EV_DISCONNECTED: "EVDisconnected",
    StopReason.LOCAL: "Local",
    StopReason.REMOTE: "Remote",
    StopReason.REBOOT: "ImmediateReset",
    StopReason.SOFT_RESET: "Reboot",
    StopReason.DEAUTHORIZED: "DeAuthorized",
    StopReason.UNLOCK: "Other",
    StopReason.FAULT: "Other",
}
#: The trigger of an Ended event by why the transaction stopped (else StopAuthorized).
_END_TRIGGER = {
    StopReason.EV_DISCONNECTED: "EVDeparted",
    StopReason.REMOTE: "RemoteStop",
    StopReason.FAULT: "ChargingStateChanged",
    StopReason.UNLOCK: "UnlockCommand",
    StopReason.REBOOT: "ResetCommand",
    StopReason.SOFT_RESET: "ResetCommand",
    StopReason.DEAUTHORIZED: "Deauthorized",
}
_TRANSFER = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}


def connector_status(status: ConnectorStatus) -> str:
    """2.0.1's connector status for one of the model's (1.6-style) states."""
    return _STATUS.get(status, "Occupied")


def _meter_value(sample: MeterSample) -> dict[str, Any]:
    values = sampled_values(sample)
    for v in values:
        v["value"] = float(v["value"])
        v["unit_of_measure"] = {"unit": v.pop("unit")}
    return {"timestamp": iso(sample.at), "sampled_value": values}


def _token(id_tag: str) -> dict[str, str]:
    return {"id_token": id_tag, "type": "ISO14443"}


def authorize(item: OutItem) -> call.Authorize:
    m = item.message
    assert isinstance(m, AuthorizeRequest)
    return call.Authorize(id_token=_token(m.id_tag))


def charging_needs(item: OutItem) -> call.NotifyEVChargingNeeds:
    m = item.message
    assert isinstance(m, ChargingNeeds)
    needs: dict[str, Any] = {"requested_energy_transfer": _TRANSFER[m.phases]}
    if m.dc:
        needs["requested_energy_transfer"] = "DC"
    if m.departure is not None:
        needs["departure_time"] = iso(m.departure)
    if m.dc:
        battery = {
            "ev_energy_capacity": m.capacity_wh,
            "bulk_soc": m.bulk_soc_pct,
            "full_soc": m.full_soc_pct,
        }
        needs["dc_charging_parameters"] = {
            "ev_max_current": round(m.max_current_a),
            "ev_max_voltage": round(m.max_voltage_v),
            "energy_amount": round(m.energy_amount_wh),
            "state_of_charge": round(m.soc_pct),
            **{k: round(v) for k, v in battery.items() if v is not None},
        }
    else:
        needs["ac_charging_parameters"] = {
            "energy_amount": round(m.energy_amount_wh),
            "ev_max_current": round(m.max_current_a),
            "ev_max_voltage": round(m.max_voltage_v),
            "ev_min_current": round(m.min_current_a),
        }
    return call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=m.connector_id)


def transaction_started(item: OutItem) -> call.TransactionEvent:
    m = item.message
    assert isinstance(m, TransactionStarted)
    tx = m.tx
    info: dict[str, Any] = {"transaction_id": tx.local_id, "charging_state": "EVConnected"}
    if tx.remote_start_id is not None:
        info["remote_start_id"] = tx.remote_start_id
    begin = {
        "value": tx.meter_start_wh,
        "measurand": DEFAULT_MEASURAND,
        "context": "Transaction.Begin",
        "unit_of_measure": {"unit": "Wh"},
    }
    return call.TransactionEvent(
        event_type="Started",
        timestamp=iso(m.at),
        trigger_reason="RemoteStart" if tx.remote else "Authorized",
        seq_no=m.seq_no,
        offline=item.offline or None,
        transaction_info=info,
        evse={"id": tx.connector_id, "connector_id": 1},
        id_token=_token(tx.id_tag),
        meter_value=[{"timestamp": iso(m.at), "sampled_value": [begin]}],
    )


def meter_sample(item: OutItem) -> call.MeterValues | call.TransactionEvent:
    m = item.message
    assert isinstance(m, MeterSample)
    if m.tx is None:
        return call.MeterValues(evse_id=m.connector_id, meter_value=[_meter_value(m)])
    state = "Charging" if m.power_w > 0 else "SuspendedEVSE"
    return call.TransactionEvent(
        event_type="Updated",
        timestamp=iso(m.at),
        trigger_reason="Trigger" if m.context == "Trigger" else "MeterValuePeriodic",
        seq_no=m.seq_no,
        offline=item.offline or None,
        transaction_info={"transaction_id": m.tx.local_id, "charging_state": state},
        meter_value=[_meter_value(m)],
    )


def charging_state_changed(item: OutItem) -> call.TransactionEvent:
    m = item.message
    assert isinstance(m, ChargingStateChanged)
    return call.TransactionEvent(
        event_type="Updated",
        timestamp=iso(m.at),
        trigger_reason="ChargingStateChanged",
        seq_no=m.seq_no,
        offline=item.offline or None,
        transaction_info={
            "transaction_id": m.tx.local_id,
            "charging_state": _CHARGING_STATE[m.state],
        },
    )


def transaction_ended(item: OutItem) -> call.TransactionEvent:
    m = item.message
    assert isinstance(m, TransactionEnded)
    stopped_by = None  # the driver's token, when the driver stopped it with it
    if m.reason is StopReason.LOCAL and m.tx.id_tag:
        stopped_by = _token(m.tx.id_tag)
    return call.TransactionEvent(
        event_type="Ended",
        timestamp=iso(m.at),
        trigger_reason=_END_TRIGGER.get(m.reason, "StopAuthorized"),
        seq_no=m.seq_no,
        offline=item.offline or None,
        id_token=stopped_by,
        transaction_info={
            "transaction_id": m.tx.local_id,
            "stopped_reason": _STOPPED[m.reason],
            "charging_state": "Idle",
        },
        meter_value=None if m.last is None else [_meter_value(m.last)],
    )


#: The 2.0.1 request of each model message type.
ENCODERS: dict[type, Callable[[OutItem], Any]] = {
    AuthorizeRequest: authorize,
    ChargingNeeds: charging_needs,
    TransactionStarted: transaction_started,
    MeterSample: meter_sample,
    ChargingStateChanged: charging_state_changed,
    TransactionEnded: transaction_ended,
}
