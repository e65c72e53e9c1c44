"""Reaching the real services integration tests need.

A test that needs a service calls :func:`unavailable` when it cannot have it: the test skips
with the reason on a developer machine without the service, and fails when
``CHARGEGRID_REQUIRE_SERVICES=1`` (CI sets it), so CI never passes by skipping.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

__all__ = ["POSTGRES_ADMIN_URL", "free_port", "port_open", "services_required", "unavailable"]

#: The PostgreSQL server of this machine kind (trust auth on loopback); override with
#: CHARGEGRID_TEST_POSTGRES (an asyncpg-style URL to a database the tests may create others from).
POSTGRES_ADMIN_URL = os.environ.get(
    "CHARGEGRID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def services_required() -> bool:
    return os.environ.get("CHARGEGRID_REQUIRE_SERVICES", "") not in ("", "0", "false")


def unavailable(reason: str) -> NoReturn:
    """Skip (developer machine) or fail (CI) because a required service is missing."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
