from __future__ import annotations

import csms.core


def test_core_public_api() -> None:
    assert sorted(csms.core.__all__) == [
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
    for name in csms.core.__all__:
        assert getattr(csms.core, name) is not None
