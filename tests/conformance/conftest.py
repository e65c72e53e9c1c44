"""One real central system (SQLite store, port 0) for the whole conformance suite, and the
Hypothesis budget: small and derandomized in CI (reproducible), larger on demand with
``CHARGEGRID_FUZZ_EXAMPLES``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.conformance.catalog import VERSIONS
from tests.conformance.harness import LiveCsms, RawStation, live_csms

#: examples per message and version in CI; the long run is ``benchmarks/ocpp_fuzz.py``
EXAMPLES = int(os.environ.get("CHARGEGRID_FUZZ_EXAMPLES", "8"))

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

STATIONS = [
    *(f"VALID-{v}" for v in VERSIONS),
    *(f"INVALID-{v}" for v in VERSIONS),
    *(f"ACTION-{v}" for v in VERSIONS),
    *(f"JUNK-{v}" for v in VERSIONS),
    *(f"BYSTANDER-{v}" for v in VERSIONS),
    *(f"WATCHER-{v}" for v in VERSIONS),
    *(f"CASE-{v}" for v in VERSIONS),
    *(f"PENDING-{v}" for v in VERSIONS),
    *(f"SECURITY-{v}" for v in VERSIONS),
]


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCsms]:
    with live_csms(tmp_path_factory.mktemp("conformance"), STATIONS) as server:
        yield server


@pytest.fixture(scope="session")
def bystanders(live: LiveCsms) -> Iterator[dict[str, RawStation]]:
    """One booted station per version that stays connected through the whole suite; every
    test checks that they are still answered."""
    stations = {v: live.station(f"BYSTANDER-{v}", v) for v in VERSIONS}
    for station in stations.values():
        station.boot()
    yield stations
    for station in stations.values():
        station.close()


def assert_bystanders_answered(bystanders: dict[str, RawStation]) -> None:
    for version, station in bystanders.items():
        assert station.heartbeat_ok(), f"bystander {version} not answered"


__all__ = ["EXAMPLES", "FUZZ", "STATIONS", "assert_bystanders_answered"]
