"""Payload keys converted as the ``ocpp`` library converts them, at every depth, with the
memo bounded."""

from __future__ import annotations

from ocpp.charge_point import camel_to_snake_case

from csms.ocpp import casing


def test_every_key_at_every_depth_as_the_library_converts_it() -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [
            {"timestamp": "t", "sampledValue": [{"value": "1", "unitOfMeasure": {"unit": "W"}}]},
            [{"innerKey": None, "otherKey": [True, 1.5, {"deepKey": "x"}]}],
        ],
        "customData": {"vendorId": "v", "SoCLimit": 80},
    }
    assert casing.to_snake(payload) == camel_to_snake_case(payload)


def test_the_memo_of_keys_is_bounded() -> None:
    keys = [f"someKey{i}" for i in range(casing._MAX_KEYS + 50)]
    converted = casing.to_snake({key: {"nestedKey": 1} for key in keys})
    assert len(casing._SNAKE) <= casing._MAX_KEYS
    assert list(converted) == [f"some_key{i}" for i in range(len(keys))]
    assert casing.to_snake({keys[-1]: 1}) == {f"some_key{len(keys) - 1}": 1}
