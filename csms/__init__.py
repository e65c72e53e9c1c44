"""The chargegrid central system: OCPP server, domain core, persistence, telemetry, HTTP API."""

from __future__ import annotations

__all__: list[str] = []
