"""A swap as OCPP 2.1 ``BatterySwap`` requests (2.1's battery-swap use case).

A served swap (:class:`~simulators.swap.SwapRecord` with outcome ``swapped``) is two
requests with one ``requestId``: ``BatteryIn``, the vehicle's depleted pack going into the
slot, then ``BatteryOut``, the charged pack leaving it; each names the slot (``evseId``), the
pack's serial number and its SoC in percent. A visit that found no ready pack, or brought a
pack the rack already holds, moved no battery and sends no BatterySwap (the record says
what happened). The driver's token is ``Central``; a visit without one uses
``NoAuthorization`` with an empty token.
"""

from __future__ import annotations

from typing import Any

from simulators.exceptions import InvalidParameter
from simulators.quantities import fraction
from simulators.swap import SwapRecord

__all__ = ["battery_swap_requests"]


def _battery(slot: int, serial: str, soc: float, soh: float) -> dict[str, Any]:
    return {"evseId": slot, "serialNumber": serial, "soC": round(soc * 100, 2), "soH": soh}


def battery_swap_requests(
    record: SwapRecord, *, request_id: int, soh: float = 1.0
) -> list[dict[str, Any]]:
    """The BatterySwap payloads (camelCase) of a served swap; none for any other outcome."""
    fraction("soh", soh)
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
        raise InvalidParameter("request_id", f"must be a non-negative integer, got {request_id!r}")
    if record.outcome != "swapped":
        return []
    assert record.slot is not None and record.pack_out_serial is not None
    assert record.pack_out_soc is not None
    token = (
        {"idToken": record.id_token, "type": "Central"}
        if record.id_token
        else {"idToken": "", "type": "NoAuthorization"}
    )
    soh_pct = round(soh * 100, 2)
    pack_in = _battery(record.slot, record.pack_in_serial, record.pack_in_soc, soh_pct)
    pack_out = _battery(record.slot, record.pack_out_serial, record.pack_out_soc, soh_pct)
    return [
        {
            "eventType": "BatteryIn",
            "requestId": request_id,
            "idToken": token,
            "batteryData": [pack_in],
        },
        {
            "eventType": "BatteryOut",
            "requestId": request_id,
            "idToken": token,
            "batteryData": [pack_out],
        },
    ]
