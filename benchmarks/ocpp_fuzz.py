"""The long OCPP conformance fuzz run: at least 100,000 frames per OCPP version against a
real central system, every answer classified, and the bystander's latency beside it.

The same generators and oracles as the CI suite (``tests/conformance``), with a budget in
frames instead of examples. Per version, one station sends, in turn:

- a payload valid against the request schema of a message the central system handles
  (expected: a CALLRESULT valid against the response schema, or ``PropertyConstraintViolation``
  for an integer outside OCPP's 32 bits);
- up to 8 variants of another such payload, each with exactly one defect (expected: the code
  the OCPP-J error table prescribes, :mod:`tests.conformance.mutations`);
- framing junk: text that is not JSON, JSON that is not an RPC array, a CALL of the wrong
  shape (expected: a CALLERROR, codes as in ``tests/conformance/test_framing.py``).

Meanwhile a bystander station of the same version sends a Heartbeat every 50 ms; its round
trip during the fuzz is compared with the same measurement taken before the fuzz (the
baseline, same run): the ratio says how much the fuzz disturbs other stations.

Outcomes counted per version: ``ok`` (the expected answer), ``wrong-code``, ``bad-answer``
(a CALLRESULT that fails the response schema, or a CALLERROR to a valid payload),
``internal-error``, ``no-answer`` (10 s), ``closed`` (the server closed the connection; a
frame past ``max_frame_bytes`` closed with 1009 is the documented answer and counts ``ok``). A
clean run has only ``ok``. Prints the table, saves
``benchmarks/results/ocpp_fuzz-<time>.json``; exits 1 when any outcome is not ``ok``.

    python -m benchmarks.ocpp_fuzz                         # 100,000 frames per version
    python -m benchmarks.ocpp_fuzz --frames 3000 --versions 1.6   # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root holds ``tests``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from csms.config import ServerSettings
from tests.conformance.catalog import VERSIONS, handled_actions, request_schema, response_errors
from tests.conformance.conftest import STATIONS
from tests.conformance.harness import RawStation, live_csms, open_station
from tests.conformance.mutations import expected_code, mutations
from tests.conformance.strategies import from_schema
from tests.conformance.test_framing import BAD_FRAME, NOT_JSON, json_values

RESULTS = Path(__file__).parent / "results"
MAX_FRAME_BYTES = ServerSettings().max_frame_bytes


class ChildCsms:
    """The central system in a child process (its own interpreter and GIL, like a real
    deployment), on a temporary SQLite store."""

    def __init__(self, db_dir: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child_main, args=(child, db_dir), daemon=True)
        self._proc.start()
        if not self._conn.poll(120):
            raise RuntimeError("central system did not start")
        self.port: int = self._conn.recv()

    def station(self, station_id: str, version: str) -> RawStation:
        return open_station(self.port, station_id, version)

    def live_connections(self) -> int:
        self._conn.send("connections")
        count: int = self._conn.recv()
        return count

    def close(self) -> None:
        self._conn.send("stop")
        self._proc.join(60)


def _child_main(conn: Connection, db_dir: str) -> None:
    logging.basicConfig(level=logging.CRITICAL)
    with live_csms(Path(db_dir), STATIONS) as live:
        conn.send(live.csms.port)
        while conn.recv() == "connections":
            conn.send(live.live_connections())


class Bystander(threading.Thread):
    """Heartbeats every ``every_s`` seconds; keeps each round trip (seconds) and failures."""

    def __init__(self, live: ChildCsms, version: str, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.station = live.station(f"WATCHER-{version}", version)
        self.station.boot()
        self.every_s = every_s
        self.rtts: list[float] = []
        self.failures = 0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.wait(self.every_s):
            start = time.perf_counter()
            try:
                ok = self.station.heartbeat_ok(timeout_s=10)
            except (TimeoutError, ConnectionClosed, AssertionError):
                ok = False
            if ok:
                self.rtts.append(time.perf_counter() - start)
            else:
                self.failures += 1

    def take(self) -> list[float]:
        out, self.rtts = self.rtts, []
        return out

    def finish(self) -> None:
        self.stop_flag.set()
        self.join(15)
        self.station.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Fuzzer:
    def __init__(self, live: ChildCsms, version: str) -> None:
        self.live = live
        self.version = version
        self.counts: Counter[str] = Counter()
        self.by_kind: dict[str, Counter[str]] = {
            "valid": Counter(),
            "defect": Counter(),
            "junk": Counter(),
        }
        self.examples: list[dict[str, Any]] = []
        self.frames = 0
        self.station = self._connect()

    def _connect(self) -> RawStation:
        station = self.live.station(f"JUNK-{self.version}", self.version)
        station.boot()
        return station

    def _record(self, kind: str, outcome: str, frame: Any, answer: Any) -> None:
        self.frames += 1
        self.counts[outcome] += 1
        self.by_kind[kind][outcome] += 1
        if outcome != "ok" and len(self.examples) < 20:
            self.examples.append(
                {
                    "kind": kind,
                    "outcome": outcome,
                    "frame": str(frame)[:500],
                    "answer": str(answer)[:500],
                }
            )

    def _exchange(self, kind: str, data: str) -> list[Any] | None:
        try:
            self.station.send(data)
            return self.station.recv(10)
        except TimeoutError:
            self._record(kind, "no-answer", data, None)
        except ConnectionClosed as exc:
            # a frame past the size limit closes its connection with 1009, as documented
            too_big = len(data.encode()) > MAX_FRAME_BYTES
            code = exc.rcvd.code if exc.rcvd is not None else None
            outcome = "ok" if too_big and code == 1009 else "closed"
            self._record(kind, outcome, data, repr(exc))
        self.station.close()
        self.station = self._connect()
        return None

    def valid(self, action: str, payload: dict[str, Any]) -> None:
        data = json.dumps([2, "v", action, payload])
        answer = self._exchange("valid", data)
        if answer is None:
            return
        valid_result = answer[0] == 3 and not response_errors(self.version, action, answer[2])
        # the one refusal a schema-valid payload may get: an integer past OCPP's 32 bits
        refused = answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
        if valid_result or refused:
            outcome = "ok"
        elif answer[0] == 4 and answer[2] == "InternalError":
            outcome = "internal-error"
        else:
            outcome = "bad-answer"
        self._record("valid", outcome, data, answer)

    def defects(self, action: str, payload: dict[str, Any], pick: int, most: int) -> None:
        """Up to ``most`` single-defect variants of one generated payload (generating is the
        slow part; each variant is one frame)."""
        variants = mutations(request_schema(self.version, action), payload)
        for n in range(min(most, len(variants))):
            mutation = variants[(pick + n * 7919) % len(variants)]
            data = json.dumps([2, "d", action, mutation.payload])
            answer = self._exchange("defect", data)
            if answer is None:
                continue
            want = expected_code(self.version, mutation.defect)
            if answer[0] == 4 and answer[2] == want:
                outcome = "ok"
            elif answer[0] == 4 and answer[2] == "InternalError":
                outcome = "internal-error"
            else:
                outcome = "wrong-code"
            self._record("defect", outcome, f"{mutation.describe()}: {data}", answer)

    def junk(self, value: Any, text: str | None) -> None:
        if text is not None:
            data, allowed = text, {NOT_JSON[self.version], "FormationViolation", "FormatViolation"}
        elif isinstance(value, list) and value and value[0] == 2 and not isinstance(value[0], bool):
            data, allowed = json.dumps(value), {BAD_FRAME[self.version]}
            if _good_call(value) or (
                len(value) > 1 and isinstance(value[1], str) and len(value[1]) > 36
            ):
                return  # a well-formed CALL or a long id (issue 11 item 12): not junk here
        elif isinstance(value, list) and value:
            return  # other message types are covered by the CI suite
        else:
            data, allowed = json.dumps(value), {BAD_FRAME[self.version]}
        answer = self._exchange("junk", data)
        if answer is None:
            return
        outcome = "ok" if answer[0] == 4 and answer[2] in allowed else "wrong-code"
        self._record("junk", outcome, data, answer)


def _good_call(value: list[Any]) -> bool:
    return (
        len(value) == 4
        and isinstance(value[1], str)
        and isinstance(value[2], str)
        and isinstance(value[3], dict)
    )


def _fuzz_action(fuzzer: Fuzzer, action: str, per_action: int) -> None:
    schema = request_schema(fuzzer.version, action)

    # a fresh random seed on every call; nothing fails inside, so no shrinking
    @settings(
        max_examples=per_action,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        valid=from_schema(schema),
        base=from_schema(schema, any_integer=False),
        pick=st.integers(0, 10_000),
        junk_value=json_values | st.lists(json_values, max_size=5).map(lambda r: [2, *r]),
        junk_text=st.none() | st.text(min_size=1, max_size=200),
    )
    def one(
        valid: dict[str, Any],
        base: dict[str, Any],
        pick: int,
        junk_value: Any,
        junk_text: str | None,
    ) -> None:
        fuzzer.valid(action, valid)
        fuzzer.defects(action, base, pick, most=8)
        if junk_text is not None and not _is_json(junk_text):
            fuzzer.junk(None, junk_text)
        else:
            fuzzer.junk(junk_value, None)

    one()


def fuzz_version(live: ChildCsms, version: str, frames: int, per_action: int) -> dict[str, Any]:
    fuzzer = Fuzzer(live, version)
    bystander = Bystander(live, version)
    bystander.start()
    time.sleep(3)  # the bystander's baseline: round trips with nobody fuzzing
    baseline = bystander.take()
    actions = handled_actions(version)
    started = time.perf_counter()
    while fuzzer.frames < frames:
        for action in actions:
            _fuzz_action(fuzzer, action, per_action)
            if fuzzer.frames >= frames:
                break
    elapsed = time.perf_counter() - started

    elapsed = time.perf_counter() - started
    during = bystander.take()
    bystander.finish()
    fuzzer.station.close()
    return {
        "version": version,
        "frames": fuzzer.frames,
        "seconds": round(elapsed, 1),
        "frames_per_s": round(fuzzer.frames / elapsed, 1),
        "outcomes": dict(fuzzer.counts),
        "by_kind": {k: dict(v) for k, v in fuzzer.by_kind.items()},
        "bystander": {
            "baseline_p50_ms": _pct(baseline, 0.5),
            "baseline_p99_ms": _pct(baseline, 0.99),
            "fuzz_p50_ms": _pct(during, 0.5),
            "fuzz_p99_ms": _pct(during, 0.99),
            "p50_ratio": (
                round(statistics.median(during) / statistics.median(baseline), 2)
                if during and baseline
                else None
            ),
            "answered": len(during),
            "failures": bystander.failures,
        },
        "open_connections_after": live.live_connections(),
        "examples_not_ok": fuzzer.examples,
    }


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per version")
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS), choices=VERSIONS)
    parser.add_argument(
        "--per-action", type=int, default=50, help="examples per message before moving on"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    # the bystander's websockets keepalive draws from the global random while Hypothesis
    # generates in another thread; Hypothesis warns about it, the payloads are unaffected
    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        live = ChildCsms(tmp)
        try:
            rows += [_run(live, version, args.frames, args.per_action) for version in args.versions]
        finally:
            live.close()
    return _report(rows, args.frames)


def _run(live: ChildCsms, version: str, frames: int, per_action: int) -> dict[str, Any]:
    row = fuzz_version(live, version, frames, per_action)
    b = row["bystander"]
    print(
        f"OCPP {version}: {row['frames']} frames in {row['seconds']} s "
        f"({row['frames_per_s']}/s); outcomes {row['outcomes']}; bystander p50 "
        f"{b['fuzz_p50_ms']:.2f} ms under fuzz vs {b['baseline_p50_ms']:.2f} ms idle "
        f"(x{b['p50_ratio']}), {b['failures']} failures; "
        f"{row['open_connections_after']} connections open after",
        flush=True,
    )
    return row


def _report(rows: list[dict[str, Any]], frames: int) -> int:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"ocpp_fuzz-{stamp}.json"
    out.write_text(json.dumps({"frames_per_version": frames, "rows": rows}, indent=2))
    print(f"saved {out}")
    clean = all(set(r["outcomes"]) <= {"ok"} and r["bystander"]["failures"] == 0 for r in rows)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
