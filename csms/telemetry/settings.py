"""Telemetry settings: a pydantic model the CSMS configuration embeds (``[telemetry]``).

Every option is documented in ``docs/telemetry.md``. With no ``url`` telemetry goes to the
embedded SQLite store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from csms.quantities import SettingsSection
from csms.telemetry.lineprotocol import Precision

__all__ = ["TelemetrySettings"]


class TelemetrySettings(SettingsSection):
    """Where telemetry goes and how the durable pipeline behaves."""

    enabled: bool = True
    # -- server -----------------------------------------------------------------------------
    url: str | None = Field(
        default=None, description="InfluxDB base URL, e.g. http://127.0.0.1:8086; none = embedded"
    )
    api: Literal["auto", "v1", "v2"] = "auto"
    database: str = "chargegrid"
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    create_database: bool = True
    token: SecretStr | None = None
    org: str = ""
    bucket: str | None = None
    precision: Precision = "ms"
    timeout_s: float = Field(default=10.0, gt=0)
    # -- embedded store ---------------------------------------------------------------------
    embedded_path: Path = Path("data/telemetry.sqlite3")
    embedded_retention_s: float | None = Field(default=30 * 86400.0, gt=0)
    # -- durable outbox ---------------------------------------------------------------------
    outbox_path: Path = Path("data/telemetry-outbox.sqlite3")
    outbox_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    drop_policy: Literal["drop_oldest", "drop_newest"] = "drop_oldest"
    outbox_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    # -- batching and retries ---------------------------------------------------------------
    batch_size_points: int = Field(default=5000, gt=0)
    batch_interval_s: float = Field(default=1.0, gt=0)
    flush_interval_s: float = Field(default=0.05, gt=0)
    max_buffer_items: int = Field(default=100_000, gt=0)
    plan_steps: int = Field(
        default=8,
        ge=0,
        description="steps of each plan written per EVSE, storage unit and node (the next 2 h at "
        "15-min steps); 0 = every step (a day of 1,000 EVSEs is 96,000 points a re-plan)",
    )
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    retry_multiplier: float = Field(default=2.0, ge=1)
    close_timeout_s: float = Field(default=10.0, ge=0)
    # -- input checks -----------------------------------------------------------------------
    max_future_s: float = Field(default=300.0, ge=0)
    max_past_s: float = Field(default=30 * 86400.0, ge=0)
    site: str = "default"
    log_every_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> TelemetrySettings:
        if self.api == "v2" and self.url and not self.bucket:
            raise ValueError("api 'v2' needs a bucket")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self
