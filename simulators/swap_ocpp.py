"""A battery-swap station as an OCPP 2.1 station: the sans-I/O part.

:class:`SwapOcppStation` wraps a :class:`~simulators.swap.SwapStation` (rack and robot) and
speaks in 2.1 payloads (:class:`~simulators.messages.DeviceRequest`: camelCase, valid against
the 2.1 schemas), so the runner only has to send them and hand it the central system's calls.
The rack's meter is EVSE 0; slot *n* is EVSE *n* (connector 1), the ``evseId`` of its packs
in BatterySwap.

- ``step(now)`` runs the station up to ``now`` and returns what it has to say, in time order:
  for a served swap its two ``BatterySwap`` requests (``BatteryIn``: the driver's pack, then
  ``BatteryOut``: the charged one, one ``requestId``; :mod:`simulators.battery_swap`), sent
  once the robot is done; for a vehicle turned away a ``NotifyEvent`` (component
  ``BatterySwap``, variable ``Outcome``, value ``NoReadyPack``, ``DuplicatePack`` or
  ``Timeout`` (a swap not done within the station's ``swap_timeout_s``: no battery moved),
  the vehicle, its pack, the request id and a timeout's reason in ``techInfo``); and
  clock-aligned ``MeterValues``: on EVSE 0 the rack's ``Power.Active.Import``,
  ``Energy.Active.Import.Register`` and ``Power.Offered`` (the limit in force: the central
  system's or the rack's rating), on each occupied slot's EVSE the pack's ``SoC``;
- ``set_charging_profile(evse_id, raw, now)``: a ``ChargingStationMaxProfile`` (or
  ``TxDefaultProfile``) on EVSE 0 in W limits the rack over time
  (:func:`~simulators.setpoint_profiles.parse_limit_profile`); once it has run out the rack
  has its rating only; the newest accepted profile replaces the one before;
- ``request_swap(request_id, id_token, now)``: the central system's ``RequestBatterySwap``,
  a driver at the bay who started the swap from outside: accepted when a ready pack is left
  for them after the vehicles already waiting, and then served like any vehicle (it brings a
  depleted pack, ``remote_pack_soc`` of ``remote_pack_capacity_wh``), its BatterySwap
  requests under the central system's ``requestId``; otherwise ``Rejected`` with reason
  ``NoReadyPack`` (counted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulators.battery_swap import battery_swap_requests
from simulators.messages import DeviceRequest, iso
from simulators.quantities import aware, fraction, positive
from simulators.sampling import SampleClock
from simulators.setpoint_profiles import parse_limit_profile
from simulators.setpoints import SetpointSchedule
from simulators.storage_station import (
    DeviceEvents,
    HeldProfile,
    ProfileAnswer,
    clock_sample,
)
from simulators.swap import SWAP_OUTCOMES, PackSpec, SwapArrival, SwapRecord, SwapStation

__all__ = ["RACK_EVSE", "SwapAnswer", "SwapOcppStation"]

#: the EVSE id of the rack's own meter (the station's main meter in OCPP terms)
RACK_EVSE = 0

_OUTCOME = {
    "no_ready_pack": "NoReadyPack",
    "duplicate_pack": "DuplicatePack",
    "timed_out": "Timeout",
}


#: The RequestBatterySwap answer: a status and, when there is more to say, its statusInfo,
#: as SetChargingProfile's.
SwapAnswer = ProfileAnswer


class SwapOcppStation:
    def __init__(
        self,
        station: SwapStation,
        *,
        meter_interval_s: float = 60.0,
        soh: float = 1.0,
        remote_pack_soc: float = 0.2,
        remote_pack_capacity_wh: float | None = None,
    ) -> None:
        self.swap = station
        self.station_id = station.spec.station_id
        self.sampling = SampleClock(meter_interval_s, station.now)
        self.soh = fraction("soh", soh)
        self.remote_pack_soc = fraction("remote_pack_soc", remote_pack_soc)
        packs = station.spec.packs
        if remote_pack_capacity_wh is None:
            remote_pack_capacity_wh = packs[0].capacity_wh if packs else 70_000.0
        self.remote_pack_capacity_wh = positive("remote_pack_capacity_wh", remote_pack_capacity_wh)
        self.profile = HeldProfile(parse_limit_profile)
        self.limits: SetpointSchedule | None = None
        self.requests_accepted = 0
        self.requests_rejected = 0
        self.records: list[SwapRecord] = []
        self._remote: dict[str, int] = {}  # vehicle id -> the central system's request id
        self._request_id = 0
        self._events = DeviceEvents()

    # what the station did
    @property
    def profiles_rejected(self) -> int:
        return self.profile.rejected

    def outcomes(self) -> dict[str, int]:
        counts = dict.fromkeys(SWAP_OUTCOMES, 0)
        for record in self.records:
            counts[record.outcome] += 1
        return counts

    def next_wakeup(self) -> datetime:
        """The next sample, arrival, end of a swap or change of the limit, whichever first."""
        times = [self.sampling.next]
        event = self.swap.next_event()
        if event is not None:
            times.append(event)
        if self.limits is not None:
            change = self.limits.next_change(self.swap.now)
            if change is not None:
                times.append(change)
        return min(times)

    def limit_w(self, at: datetime) -> float | None:
        return None if self.limits is None else self.limits.setpoint_at(at)

    def evse_ids(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.swap.slots) + 1))

    def samples(self, now: datetime) -> list[DeviceRequest]:
        return self.meter_values(now)

    def statuses(self, now: datetime) -> list[DeviceRequest]:
        """Each slot's EVSE: ``Occupied`` while it holds a pack, else ``Available``."""
        return [
            DeviceRequest(
                "StatusNotification",
                {
                    "timestamp": iso(now),
                    "connectorStatus": "Available" if pack is None else "Occupied",
                    "evseId": slot,
                    "connectorId": 1,
                },
            )
            for slot, pack in enumerate(self.swap.slots, start=1)
        ]

    def step(self, now: datetime) -> list[DeviceRequest]:
        """Run the station up to ``now``; the messages that became due, in time order."""
        aware("now", now)
        out: list[DeviceRequest] = []
        swap = self.swap
        while swap.now < now:
            until = min(now, self.sampling.next)
            if self.limits is not None:
                change = self.limits.next_change(swap.now)
                if change is not None:
                    until = min(until, change)
            swap.set_power_limit_w(self.limit_w(swap.now))
            report = swap.advance((until - swap.now).total_seconds())
            for record in report.swaps:
                out.extend(self._swap_messages(record))
            if self.sampling.take(until) is not None:
                out.extend(self.meter_values(until))
        return out

    def _swap_messages(self, record: SwapRecord) -> list[DeviceRequest]:
        self.records.append(record)
        request_id = self._remote.pop(record.vehicle_id, None)
        if request_id is None:
            self._request_id += 1
            request_id = self._request_id
        if record.outcome == "swapped":
            payloads = battery_swap_requests(record, request_id=request_id, soh=self.soh)
            return [DeviceRequest("BatterySwap", payload) for payload in payloads]
        info = (
            f"vehicle {record.vehicle_id} with pack {record.pack_in_serial} "
            f"({record.pack_in_soc * 100:.1f} %), request {request_id}"
        )
        if record.reason is not None:
            took_s = (record.finished - record.started).total_seconds()
            info += f", timed out after {took_s:.0f} s: {record.reason}"
        return [self._notify(record.finished, _OUTCOME[record.outcome], info)]

    def set_charging_profile(
        self, evse_id: int, raw: dict[str, Any], now: datetime
    ) -> ProfileAnswer:
        """Bring the station to ``now`` first (call :meth:`step`), then this."""
        profile = self.profile.receive(evse_id, raw, now)
        if isinstance(profile, ProfileAnswer):
            return profile
        self.limits = profile.schedule
        return ProfileAnswer("Accepted")

    def clear_charging_profile(self, profile_id: int | None) -> str:
        if not self.profile.clear(profile_id):
            return "Unknown"
        self.limits = None
        return "Accepted"

    def request_swap(self, request_id: int, id_token: str, now: datetime) -> SwapAnswer:
        """The central system's RequestBatterySwap; bring the station to ``now`` first."""
        if request_id in self._remote.values():
            self.requests_rejected += 1
            return SwapAnswer("Rejected", "DuplicateRequestId", f"request {request_id} is open")
        waiting = self.swap.vehicles_waiting() + len(self._remote)
        ready = self.swap.ready_packs()
        if ready <= waiting:
            self.requests_rejected += 1
            detail = f"{ready} ready packs for {waiting} waiting vehicles"
            return SwapAnswer("Rejected", "NoReadyPack", detail)
        name = f"{self.station_id}-R{request_id}"
        pack = PackSpec(name, self.remote_pack_capacity_wh, self.remote_pack_soc)
        self.swap.add_arrivals([SwapArrival(name, now, pack, id_token or None)])
        self._remote[name] = request_id
        self.requests_accepted += 1
        return SwapAnswer("Accepted")

    def meter_values(self, at: datetime) -> list[DeviceRequest]:
        """The rack's sample on EVSE 0 and each pack's SoC on its slot (also what
        TriggerMessage asks for)."""
        swap = self.swap
        limit = self.limit_w(at)
        offered = (
            swap.spec.max_rack_power_w if limit is None else min(limit, swap.spec.max_rack_power_w)
        )
        rack = [
            ("Power.Active.Import", round(swap.power_w, 1), "W"),
            ("Energy.Active.Import.Register", round(swap.totals.energy_wh, 3), "Wh"),
            ("Power.Offered", round(offered, 1), "W"),
        ]
        out = [clock_sample(at, RACK_EVSE, rack)]
        for slot, pack in enumerate(swap.slots, start=1):
            if pack is not None:
                soc = [("SoC", round(pack.soc * 100, 2), "Percent")]
                out.append(clock_sample(at, slot, soc))
        return out

    def _notify(self, at: datetime, outcome: str, info: str) -> DeviceRequest:
        data = {
            "trigger": "Delta",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "BatterySwap"},
            "variable": {"name": "Outcome"},
            "actualValue": outcome,
            "techInfo": info[:500],
        }
        return self._events.notify(at, data)
