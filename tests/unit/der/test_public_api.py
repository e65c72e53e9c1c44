from __future__ import annotations

import csms.der
import csms.swaps


def test_der_public_api() -> None:
    assert sorted(csms.der.__all__) == [
        "DerAlarm",
        "DerControl",
        "DerControlRecord",
        "DerControlType",
        "DerRepository",
        "DerStartStop",
        "InvalidDerControl",
        "MemoryDerRepository",
        "SETTING_KEYS",
        "SETTING_OF",
        "SqlDerRepository",
        "acting",
        "check_setting",
        "der_repository_for",
        "discharge_share",
    ]
    for name in csms.der.__all__:
        assert getattr(csms.der, name) is not None


def test_swaps_public_api() -> None:
    assert sorted(csms.swaps.__all__) == [
        "BatteryPack",
        "BatterySwap",
        "MemorySwapRepository",
        "PackReading",
        "SqlSwapRepository",
        "SwapEvent",
        "SwapEventKind",
        "SwapFilter",
        "SwapOutcome",
        "SwapRefused",
        "SwapRepository",
        "SwapState",
        "UnknownPack",
        "UnknownSwap",
        "apply",
        "swap_repository_for",
    ]
    for name in csms.swaps.__all__:
        assert getattr(csms.swaps, name) is not None
