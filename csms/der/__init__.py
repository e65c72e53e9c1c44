"""DER control (OCPP 2.1): the version-neutral model of a unit's DER controls and alarms,
and where they are stored. The core's :class:`csms.core.der.DerHandling` records them; the
2.1 adapter translates the messages."""

from __future__ import annotations

from csms.der.limits import acting, discharge_share
from csms.der.model import (
    SETTING_KEYS,
    SETTING_OF,
    DerAlarm,
    DerControl,
    DerControlRecord,
    DerControlType,
    DerStartStop,
    InvalidDerControl,
    check_setting,
)
from csms.der.repository import (
    DerRepository,
    MemoryDerRepository,
    SqlDerRepository,
    der_repository_for,
)

__all__ = [
    "SETTING_KEYS",
    "SETTING_OF",
    "DerAlarm",
    "DerControl",
    "DerControlRecord",
    "DerControlType",
    "DerRepository",
    "DerStartStop",
    "InvalidDerControl",
    "MemoryDerRepository",
    "SqlDerRepository",
    "acting",
    "check_setting",
    "der_repository_for",
    "discharge_share",
]
