"""Framing junk never crashes the server, leaks a connection or disturbs other stations.

Junk: text that is not JSON, JSON that is not an OCPP array, arrays of the wrong shape or
types, unknown message types, bursts, frames past the size limit, connections dropped
mid-frame. Each junk frame that can be answered gets a CALLERROR (id ``-1`` when the id
cannot be read); meanwhile a bystander station of each version keeps being answered.

Codes (OCPP-J 1.6 section 4.2.3 has no code for a broken RPC frame; the server answers the
closest, FormationViolation for text that is not JSON and ProtocolError for a wrong array;
OCPP 2.0.1 / 2.1 Part 4 section 4.3: RpcFrameworkError "Content of the call is not a valid
RPC Request, for example: MessageId could not be read", MessageTypeNotSupported for an unknown
message type number).
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.conformance.catalog import VERSIONS
from tests.conformance.conftest import FUZZ, assert_bystanders_answered
from tests.conformance.harness import LiveCsms, RawStation
from tests.waiting import wait_until_sync

#: The central system runs in a thread of this process, where websockets' keepalive pings
#: (and telemetry retry jitter) draw from the global ``random``; Hypothesis notices the global
#: state moving during a draw and warns. The generated payloads are not affected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


NOT_JSON = {"1.6": "FormationViolation", "2.0.1": "RpcFrameworkError", "2.1": "RpcFrameworkError"}
BAD_FRAME = {"1.6": "ProtocolError", "2.0.1": "RpcFrameworkError", "2.1": "RpcFrameworkError"}
BAD_TYPE = {
    "1.6": "PropertyConstraintViolation",
    "2.0.1": "MessageTypeNotSupported",
    "2.1": "MessageTypeNotSupported",
}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)


class Bystander(threading.Thread):
    """Heartbeats in a loop on its own connection while a test sends junk elsewhere."""

    def __init__(self, live: LiveCsms, version: str) -> None:
        super().__init__(daemon=True)
        self.station = live.station(f"WATCHER-{version}", version)
        self.station.boot()
        self.answered = 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                if self.station.heartbeat_ok(timeout_s=5):
                    self.answered += 1
                else:
                    self.failures.append("heartbeat not answered with a CALLRESULT")
            except Exception as exc:
                self.failures.append(repr(exc))
                return

    def finish(self) -> None:
        # at least one more answer after the junk, then stop
        seen = self.answered
        wait_until_sync(
            lambda: self.answered > seen or bool(self.failures), 10, "the bystander's next answer"
        )
        self.done.set()
        self.join(10)
        self.station.close()
        assert not self.failures, self.failures


def answer_to(station: RawStation, data: str | bytes) -> list[Any]:
    station.send(data)
    return station.recv()


@pytest.mark.parametrize("version", VERSIONS)
def test_junk_frames_are_answered_and_harmless(live: LiveCsms, version: str) -> None:
    bystander = Bystander(live, version)
    bystander.start()
    station = live.station(f"JUNK-{version}", version)
    station.boot()

    @FUZZ
    @given(text=st.text(min_size=1, max_size=200).filter(lambda t: not _is_json(t)))
    def not_json(text: str) -> None:
        answer = answer_to(station, text)
        assert answer[0] == 4 and answer[2] == NOT_JSON[version], (text, answer)

    @FUZZ
    @given(value=json_values.filter(_not_a_known_type))
    def not_an_rpc_array(value: Any) -> None:
        answer = answer_to(station, json.dumps(value))
        if isinstance(value, list) and value:
            assert answer[0] == 4 and answer[2] == BAD_TYPE[version], (value, answer)
        else:
            assert answer[0] == 4 and answer[1] == "-1" and answer[2] == BAD_FRAME[version], (
                value,
                answer,
            )

    @FUZZ
    @given(
        rest=st.lists(json_values, max_size=5).filter(
            lambda r: not _good_call(r) and not _long_id(r)
        )
    )
    def broken_call(rest: list[Any]) -> None:
        answer = answer_to(station, json.dumps([2, *rest]))
        assert answer[0] == 4 and answer[2] == BAD_FRAME[version], (rest, answer)
        expected_id = rest[0] if rest and isinstance(rest[0], str) else "-1"
        assert answer[1] == expected_id, (rest, answer)

    try:
        not_json()
        not_an_rpc_array()
        broken_call()
        assert station.heartbeat_ok()
    finally:
        station.close()
        bystander.finish()


@pytest.mark.parametrize("version", VERSIONS)
def test_answers_without_a_call_are_dropped(live: LiveCsms, version: str) -> None:
    station = live.station(f"JUNK-{version}", version)
    station.boot()
    try:
        station.send(json.dumps([3, "nobody-asked", {}]))
        station.send(json.dumps([4, "nobody-asked", "GenericError", "", {}]))
        # nothing is sent back for them: the next frame is the heartbeat's answer
        assert station.heartbeat_ok()
    finally:
        station.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_burst_is_answered_in_order(
    live: LiveCsms, bystanders: dict[str, RawStation], version: str
) -> None:
    station = live.station(f"JUNK-{version}", version)
    station.boot()
    try:
        ids = [f"burst-{n}" for n in range(300)]
        for n, unique_id in enumerate(ids):
            # every third frame is junk: the burst mixes good and bad
            frame = "not json" if n % 3 == 2 else json.dumps([2, unique_id, "Heartbeat", {}])
            station.send(frame)
        for n, unique_id in enumerate(ids):
            answer = station.recv()
            if n % 3 == 2:
                assert answer[0] == 4 and answer[1] == "-1", answer
            else:
                assert answer[0] == 3 and answer[1] == unique_id, answer
    finally:
        station.close()
    assert_bystanders_answered(bystanders)


@pytest.mark.parametrize("version", VERSIONS)
def test_oversized_frame_closes_only_that_connection(
    live: LiveCsms, bystanders: dict[str, RawStation], version: str
) -> None:
    limit = live.csms.settings.server.max_frame_bytes
    station = live.station(f"JUNK-{version}", version)
    station.boot()
    payload = {"vendorId": "Lab", "data": "x" * (limit + 1)}
    station.send(json.dumps([2, "big", "DataTransfer", payload]))
    with pytest.raises(ConnectionClosed) as closed:
        station.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert_bystanders_answered(bystanders)


def test_dropped_connections_are_not_leaked(
    live: LiveCsms, bystanders: dict[str, RawStation]
) -> None:
    before = live.live_connections()
    for n in range(20):
        version = VERSIONS[n % len(VERSIONS)]
        station = live.station(f"JUNK-{version}", version)
        # half a frame, then the TCP connection is cut without a close handshake
        station.ws.socket.sendall(b"\x81\xfe\x01\x00" + b"[2,")
        station.ws.socket.shutdown(socket.SHUT_RDWR)
        station.ws.socket.close()
    wait_until_sync(
        lambda: live.live_connections() <= before, 30, f"open connections back to {before}"
    )
    assert_bystanders_answered(bystanders)


@pytest.mark.parametrize("version", VERSIONS)
def test_message_id_longer_than_36_is_refused(live: LiveCsms, version: str) -> None:
    station = live.station(f"JUNK-{version}", version)
    station.boot()
    try:
        answer = answer_to(station, json.dumps([2, "i" * 37, "Heartbeat", {}]))
        assert answer[:3] == [4, "i" * 37, BAD_FRAME[version]], answer
        assert station.heartbeat_ok()  # refused, not disconnected
    finally:
        station.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_frame_is_not_taken_as_a_call(live: LiveCsms, version: str) -> None:
    station = live.station(f"JUNK-{version}", version)
    station.boot()
    try:
        station.send(json.dumps([2, "bin", "Heartbeat", {}]).encode())
        # OCPP-J is text frames: a binary frame has no message id to answer, the connection
        # is closed with 1003 (unsupported data)
        with pytest.raises(ConnectionClosed) as closed:
            station.recv(timeout_s=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    finally:
        station.close()


def _not_a_known_type(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return True
    kind = value[0]
    return isinstance(kind, bool) or kind not in (2, 3, 4, 5, 6) or _long_id(value[1:])


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _long_id(rest: list[Any]) -> bool:
    """Ids past 36 characters have their own tests (below)."""
    return bool(rest) and isinstance(rest[0], str) and len(rest[0]) > 36


def _good_call(rest: list[Any]) -> bool:
    return (
        len(rest) == 3
        and isinstance(rest[0], str)
        and isinstance(rest[1], str)
        and isinstance(rest[2], dict)
    )
