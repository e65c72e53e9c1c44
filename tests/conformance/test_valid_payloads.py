"""Every message the central system handles, with payloads generated from the official
schema: each gets a CALLRESULT whose payload is valid against the response schema.

The one CALLERROR a schema-valid request may get is ``PropertyConstraintViolation``, for a
value the schema allows but the central system cannot keep (an integer past 64 bits, a
timestamp outside years 1-9999 in UTC): the boundary rule refuses it and stores nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from tests.conformance.catalog import VERSIONS, handled_actions, request_schema, response_errors
from tests.conformance.conftest import FUZZ, assert_bystanders_answered
from tests.conformance.harness import LiveCsms, RawStation
from tests.conformance.strategies import from_schema

#: The central system runs in a thread of this process, where websockets' keepalive pings
#: (and telemetry retry jitter) draw from the global ``random``; Hypothesis notices the global
#: state moving during a draw and warns. The generated payloads are not affected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


CASES = [(v, a) for v in VERSIONS for a in handled_actions(v)]
REFUSAL_OF_A_VALID_PAYLOAD = "PropertyConstraintViolation"


def check_valid_answer(version: str, action: str, payload: Any, answer: list[Any]) -> None:
    if answer[0] == 4:
        assert answer[2] == REFUSAL_OF_A_VALID_PAYLOAD, (
            f"{version} {action}: schema-valid payload answered {answer[2]} {answer[3]!r}"
        )
        return
    assert answer[0] == 3, answer
    errors = response_errors(version, action, answer[2])
    assert not errors, f"{version} {action}: invalid answer {answer[2]!r}: {errors}"


def test_every_version_handles_the_core_messages() -> None:
    core = {"BootNotification", "Heartbeat", "StatusNotification", "Authorize", "MeterValues"}
    for version in VERSIONS:
        assert core <= set(handled_actions(version)), version
    assert {"StartTransaction", "StopTransaction"} <= set(handled_actions("1.6"))
    assert "TransactionEvent" in handled_actions("2.0.1")


@pytest.mark.parametrize(("version", "action"), CASES, ids=[f"{v}-{a}" for v, a in CASES])
def test_valid_payload_gets_a_schema_valid_answer(
    live: LiveCsms, bystanders: dict[str, RawStation], version: str, action: str
) -> None:
    station = live.station(f"VALID-{version}", version)
    station.boot()

    @FUZZ
    @given(payload=from_schema(request_schema(version, action)))
    def check(payload: dict[str, Any]) -> None:
        check_valid_answer(version, action, payload, station.call(action, payload))

    try:
        check()
        # the connection is still usable after the fuzz
        assert station.heartbeat_ok()
    finally:
        station.close()
    assert_bystanders_answered(bystanders)
