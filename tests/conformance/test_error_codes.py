"""Invalid CALLs get the CALLERROR code the OCPP-J specification prescribes.

Payloads: a valid payload generated from the official schema with exactly one defect
(:mod:`tests.conformance.mutations` has the table of defects and codes). Actions:
``NotImplemented`` for an action the version does not know, ``NotSupported`` for one it
defines but the central system does not take from a station (OCPP-J 1.6 section 4.2.3,
OCPP 2.0.1 / 2.1 Part 4 section 4.3: "NotImplemented: Requested Action is not known by
receiver"; "NotSupported: Requested Action is recognized but not supported by the receiver").
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conformance.catalog import (
    VERSIONS,
    actions_of_version,
    handled_actions,
    request_schema,
    unhandled_actions,
)
from tests.conformance.conftest import FUZZ, assert_bystanders_answered
from tests.conformance.harness import LiveCsms, RawStation
from tests.conformance.mutations import expected_code, mutations
from tests.conformance.strategies import from_schema

#: The central system runs in a thread of this process, where websockets' keepalive pings
#: (and telemetry retry jitter) draw from the global ``random``; Hypothesis notices the global
#: state moving during a draw and warns. The generated payloads are not affected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


CASES = [(v, a) for v in VERSIONS for a in handled_actions(v)]
ALL_ACTIONS = {a for v in VERSIONS for a in actions_of_version(v)}


def assert_call_error(answer: list[Any], code: str, context: str) -> None:
    assert answer[0] == 4, f"{context}: expected CALLERROR {code}, got {answer!r}"
    assert len(answer) == 5, answer
    assert answer[2] == code, f"{context}: expected {code}, got {answer[2]} ({answer[3]!r})"
    assert isinstance(answer[3], str) and len(answer[3]) <= 255, answer
    assert isinstance(answer[4], dict), answer


@pytest.mark.parametrize(("version", "action"), CASES, ids=[f"{v}-{a}" for v, a in CASES])
def test_single_defect_gets_the_prescribed_code(
    live: LiveCsms, bystanders: dict[str, RawStation], version: str, action: str
) -> None:
    schema = request_schema(version, action)
    station = live.station(f"INVALID-{version}", version)
    station.boot()

    @FUZZ
    @given(payload=from_schema(schema, any_integer=False), data=st.data())
    def check(payload: dict[str, Any], data: st.DataObject) -> None:
        variants = mutations(schema, payload)
        if not variants:  # Heartbeat {} of 1.6 admits no defect but an extra field
            return
        mutation = data.draw(st.sampled_from(variants), label="defect")
        answer = station.call(action, mutation.payload)
        assert_call_error(
            answer,
            expected_code(version, mutation.defect),
            f"{version} {action} {mutation.describe()}",
        )

    try:
        check()
        assert station.heartbeat_ok()
    finally:
        station.close()
    assert_bystanders_answered(bystanders)


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_action_is_not_implemented(live: LiveCsms, version: str) -> None:
    station = live.station(f"ACTION-{version}", version)
    station.boot()

    @FUZZ
    @given(
        action=st.text(
            st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=40
        ).filter(lambda a: a not in ALL_ACTIONS)
    )
    def check(action: str) -> None:
        assert_call_error(station.call(action, {}), "NotImplemented", f"{version} {action}")

    try:
        check()
    finally:
        station.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_known_but_unhandled_action_is_not_supported(live: LiveCsms, version: str) -> None:
    station = live.station(f"ACTION-{version}", version)
    station.boot()
    try:
        for action in unhandled_actions(version):
            assert_call_error(station.call(action, {}), "NotSupported", f"{version} {action}")
    finally:
        station.close()
