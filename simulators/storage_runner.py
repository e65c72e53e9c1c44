"""A simulated storage unit on the wire: the OCPP 2.1 station of a :class:`StorageStation`.

:class:`StorageRunner` is the device runner (:mod:`simulators.device_runner`) over the
:class:`~simulators.storage_station.StorageStation`: it sends the unit's MeterValues,
NotifyEvent and StatusNotification in order, kept while offline. :class:`StorageChargePoint`
answers ``SetChargingProfile`` (a ``CentralSetpoint`` / ``Idle`` TxDefaultProfile, decision
0310), ``ClearChargingProfile``, ``TriggerMessage``, ``GetVariables`` and ``Reset``, and
refuses to start or stop transactions, which a storage unit does not run.
"""

from __future__ import annotations

from simulators.device_runner import DeviceAdapter, DeviceChargePoint, DeviceRunner
from simulators.storage_station import StorageStation

__all__ = ["StorageAdapter", "StorageChargePoint", "StorageRunner"]

StorageAdapter = DeviceAdapter


class StorageChargePoint(DeviceChargePoint):
    """The storage unit's side of an OCPP 2.1 connection."""


class StorageRunner(DeviceRunner[StorageStation]):
    """Runs one storage unit against a central system at ``{url}/{station_id}``."""

    charge_point_class = StorageChargePoint
    model_name = "SimStorage"
