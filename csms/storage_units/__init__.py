"""OCPP storage units under the storage controller (issue 15, decisions 0905-0907).

A unit in the site file with a ``station`` is a 2.1 station with one bidirectional EVSE:
:class:`LiveUnits` keeps its readings from MeterValues and its alarms from the EVSE's
status; the planner schedules it (:mod:`csms.planning.problem`); :class:`StorageController`
runs :func:`storage_ctrl.step` on top of the plan every few seconds and sends the setpoints
as short ``CentralSetpoint`` schedules (:mod:`csms.storage_units.glue`).
"""

from __future__ import annotations

from csms.storage_units.controller import (
    SiteHooks,
    StorageController,
    StorageSettings,
    site_limits,
)
from csms.storage_units.der import DER_EVENTS, DerInForce
from csms.storage_units.glue import PROFILE_ID, Sent, plan_now, resend_due, setpoint_schedule
from csms.storage_units.meter import LiveMeter, SiteImport
from csms.storage_units.metrics import storage_metrics_text
from csms.storage_units.pv import LivePv
from csms.storage_units.units import LiveUnit, LiveUnits

__all__ = [
    "DER_EVENTS",
    "PROFILE_ID",
    "DerInForce",
    "LiveMeter",
    "LivePv",
    "LiveUnit",
    "LiveUnits",
    "Sent",
    "SiteHooks",
    "SiteImport",
    "StorageController",
    "StorageSettings",
    "plan_now",
    "resend_due",
    "setpoint_schedule",
    "site_limits",
    "storage_metrics_text",
]
