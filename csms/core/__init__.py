"""The version-neutral core of the central system: rules (sans-I/O) and the services that
apply them to the store and publish domain events."""

from __future__ import annotations

from csms.core.authorization import authorize
from csms.core.commands import (
    CommandResult,
    Commands,
    CompositeSchedule,
    StationLink,
    VariableResult,
)
from csms.core.meter import normalize_sample, register_wh
from csms.core.passwords import hash_password, verify_password
from csms.core.registration import Admission, BootDecision, admit, decide_boot
from csms.core.service import CentralSystem, TransactionAnswer
from csms.core.transactions import Applied, apply_update, start_key

__all__ = [
    "Admission",
    "Applied",
    "BootDecision",
    "CentralSystem",
    "CommandResult",
    "Commands",
    "CompositeSchedule",
    "StationLink",
    "TransactionAnswer",
    "VariableResult",
    "admit",
    "apply_update",
    "authorize",
    "decide_boot",
    "hash_password",
    "normalize_sample",
    "register_wh",
    "start_key",
    "verify_password",
]
