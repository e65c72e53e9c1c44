from __future__ import annotations

import csms.ocpp


def test_ocpp_public_api() -> None:
    assert sorted(csms.ocpp.__all__) == [
        "ConnectionRegistry",
        "OcppConnection",
        "OcppServer",
        "SUBPROTOCOLS",
        "V16Connection",
        "V201Connection",
    ]
