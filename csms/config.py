"""Settings of the central system: one TOML file plus ``CHARGEGRID_*`` environment variables.

Sections map to nested models; an environment variable names the section and the option
joined by a double underscore, e.g. ``CHARGEGRID_SERVER__PORT=9100`` overrides::

    [server]
    port = 9000

Precedence, highest first: keyword arguments, environment, the TOML file, the defaults.
Every option has a safe default (listen on loopback, reject unknown stations). Other parts
extend :class:`Settings` with their own nested section (``telemetry`` and so on).
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from csms.event_loop import EventLoopName, uvloop_available
from csms.exceptions import ConfigError
from csms.planning.config import PlanningSettings
from csms.quantities import SettingsSection
from csms.security.settings import SecuritySettings
from csms.store.engine import Durability
from csms.telemetry.settings import TelemetrySettings

__all__ = [
    "ApiSettings",
    "DatabaseSettings",
    "OcppSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "TelemetrySettings",
    "UnknownStationPolicy",
    "load_settings",
    "telemetry_settings",
]

UnknownStationPolicy = Literal["reject", "pending", "accept"]

_config_file: ContextVar[Path | None] = ContextVar("chargegrid_config_file", default=None)


class ServerSettings(SettingsSection):
    """The OCPP WebSocket endpoint ``ws://HOST:PORT/ocpp/{station_id}``."""

    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=9000, ge=0, le=65535, description="listen port (0 = any free port)")
    max_frame_bytes: int = Field(
        default=65536,
        ge=1024,
        description="largest WebSocket frame accepted; a larger one closes with 1009",
    )
    ping_interval_s: float | None = Field(
        default=30.0, gt=0, description="WebSocket keepalive ping interval (null = off)"
    )
    ping_timeout_s: float | None = Field(
        default=30.0, gt=0, description="close the connection when a ping is not answered in time"
    )
    unknown_stations: UnknownStationPolicy = Field(
        default="reject",
        description="unregistered stations: reject the handshake, answer Pending until an "
        "operator accepts, or accept (development only)",
    )
    gc_freeze_interval_s: float | None = Field(
        default=5.0,
        gt=0,
        description="move long-lived objects out of the garbage collector's full "
        "collections this often, for short pauses with many stations (null = off)",
    )
    gc_young_threshold: int | None = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="new container objects between two collections of the garbage "
        "collector's youngest generation (Python's default is 700, a collection every few "
        "OCPP calls; null = Python's setting)",
    )
    admin_token: str | None = Field(
        default=None,
        description="token for the admin WebSocket at /admin (station commands from the "
        "CLI); null disables it",
    )
    max_pending_handshakes: int = Field(
        default=0,
        ge=0,
        description="station handshakes being admitted at once; beyond it a handshake is "
        "answered 503 with a spread Retry-After at once instead of timing out (0 = no limit)",
    )
    shed_handshakes_after_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="a handshake that waited longer than this for the server (a reconnect "
        "storm) is answered 503 with a spread Retry-After at once, without a store read, "
        "rather than admitted late or timed out (keep it below "
        "security.handshake_timeout_s)",
    )
    handshakes_at_once: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="station handshakes in progress at once; a connection beyond them "
        "waits its turn with nothing read from it and no handshake timer running, so that "
        "in a reconnect storm each handshake is served quickly in arrival order instead of "
        "all of them slowly (0 = no limit)",
    )
    handshake_wait_max_s: float = Field(
        default=20.0,
        gt=0,
        le=300,
        description="a handshake that waited longer than this since its connection was "
        "accepted (waiting its turn included) is answered 503 with a spread Retry-After "
        "without a store read: its station has most likely given up on it",
    )
    station_cache_max: int = Field(
        default=100_000,
        ge=0,
        le=10_000_000,
        description="registered stations whose admission fields (passwords, registration, "
        "security profiles) are kept in memory, read at start and kept true by the store's "
        "change feed, so a handshake reads no station record (about 0.3 KB each; "
        "0 = every handshake reads the store; decisions 0246, 0248)",
    )
    station_feed_wait_max_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="a handshake waits at most this long for the station change feed "
        "(with the station cache on); a feed later than that sends it to the store's read "
        "instead (decision 0248; keep it well below security.handshake_timeout_s)",
    )
    event_loop: EventLoopName = Field(
        default="auto",
        description="the event loop `serve` and `demo` run on: uvloop (libuv's, less CPU per "
        "OCPP call; not with security.tls_cert_file), asyncio (the standard library's), or "
        "auto = uvloop where it is installed (a dependency except on Windows) and the OCPP "
        "port is plain, else asyncio",
    )
    message_log_frames: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="the newest OCPP frames kept in memory per station for the dashboard "
        "(0 = none), and as many of the central system's commands and their answers, so "
        "meter values never push a command out of view; each costs the frame's size, about "
        "0.5-1 KB for meter values",
    )

    @field_validator("event_loop")
    @classmethod
    def _loop_installed(cls, value: EventLoopName) -> EventLoopName:
        if value == "uvloop" and not uvloop_available():
            raise ValueError("uvloop is not installed here (pip install uvloop, or use auto)")
        return value


class OcppSettings(SettingsSection):
    """Protocol timing."""

    call_timeout_s: float = Field(
        default=30.0, gt=0, description="how long a command waits for the station's answer"
    )
    remote_start_timeout_s: float = Field(
        default=60.0, gt=0, description="how long a remote start waits for the transaction to start"
    )
    heartbeat_interval_s: int = Field(
        default=300, ge=1, description="heartbeat interval given to accepted stations"
    )
    pending_interval_s: int = Field(
        default=60, ge=1, description="BootNotification retry interval given to pending stations"
    )
    boots_per_s: float = Field(
        default=0.0,
        ge=0,
        le=100_000,
        description="BootNotifications accepted per second at most (bursts of one second's "
        "worth); the others are stored and answered Pending, each with the next free second "
        "after those already sent away as its interval (0 = no limit)",
    )
    seen_write_interval_s: float = Field(
        default=60.0, ge=0, description="at most one last-seen write per station per this interval"
    )


class DatabaseSettings(SettingsSection):
    """Persistence."""

    url: str = Field(
        default="sqlite+aiosqlite:///chargegrid.sqlite3",
        description="SQLAlchemy URL: sqlite+aiosqlite:///FILE, "
        "postgresql+asyncpg://USER@HOST/DB, or memory:// (nothing kept)",
    )
    retry_initial_s: float = Field(
        default=0.1,
        gt=0,
        description="first wait before retrying a write while the database is down",
    )
    retry_max_s: float = Field(default=5.0, gt=0, description="longest wait between write retries")
    commit_window_s: float = Field(
        default=0.01,
        ge=0,
        le=1.0,
        allow_inf_nan=False,
        description="how long the store's writer, when idle, waits for more writes to share "
        "a commit with the first (writes arriving one by one, e.g. stations reporting once a "
        "second, then pay one commit between several; 0 = commit each at once)",
    )
    durability: Durability = Field(
        default="power-loss",
        description="what an answered write survives: power-loss = a power cut or an "
        "operating system crash (each commit is flushed to disk: SQLite synchronous=FULL, "
        "PostgreSQL the server's synchronous_commit); crash = a kill -9 or crash of the "
        "central system, the database staying consistent, but a power cut or OS crash (or "
        "a PostgreSQL server crash) can lose about the last second's commits (SQLite "
        "synchronous=NORMAL, PostgreSQL synchronous_commit=off); decision 0251",
    )


class ApiSettings(SettingsSection):
    """The HTTP API (``csms.api``), served by ``chargegrid serve`` beside the OCPP server."""

    enabled: bool = Field(default=True, description="serve the HTTP API")
    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8000, ge=0, le=65535, description="listen port (0 = any free port)")
    stream_queue_events: int = Field(
        default=1000, ge=1, description="events queued per stream client before it is dropped"
    )
    stream_keepalive_s: float = Field(
        default=15.0, gt=0, description="comment line sent on an idle event stream"
    )
    stream_replay_events: int = Field(
        default=1000,
        ge=0,
        description="recent events kept for clients reconnecting with Last-Event-ID (0 = none)",
    )
    stream_max_s: float | None = Field(
        default=None, gt=0, description="close event streams after this long (null = never)"
    )
    job_wait_max_s: float = Field(
        default=60.0, gt=0, description="longest wait_s a client may ask for on a job"
    )
    webhook_max_attempts: int = Field(default=6, ge=1, description="attempts per delivery")
    webhook_initial_backoff_s: float = Field(
        default=1.0, gt=0, description="wait before the first retry (doubles each time)"
    )
    webhook_max_backoff_s: float = Field(default=300.0, gt=0, description="longest retry wait")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="per-attempt timeout")
    webhook_queue: int = Field(default=10000, ge=1, description="deliveries waiting at most")


class Settings(BaseSettings):
    """All settings. Extend with a new nested section for a new part."""

    model_config = SettingsConfigDict(
        env_prefix="CHARGEGRID_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    ocpp: OcppSettings = Field(default_factory=OcppSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    planning: PlanningSettings = Field(default_factory=PlanningSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @model_validator(mode="after")
    def _loop_serves_tls(self) -> Settings:
        if self.server.event_loop == "uvloop" and self.security.tls:
            raise ValueError(
                'server.event_loop = "uvloop" cannot serve TLS (security.tls_cert_file): '
                "uvloop reads a connection before the TLS handshake can start; use auto or "
                "asyncio (decision 0250)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(
    config_file: str | Path | None = None,
    *,
    settings_cls: type[Settings] = Settings,
    **overrides: Any,
) -> Settings:
    """Read the TOML file (if given) and the environment; raise :class:`ConfigError` with the
    file, line or field when something is wrong."""
    path = Path(config_file) if config_file is not None else None
    if path is not None:
        try:
            with path.open("rb") as f:
                tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    token = _config_file.set(path)
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        where = str(path) if path is not None else "environment"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from exc
    finally:
        _config_file.reset(token)


def telemetry_settings(settings: Settings) -> TelemetrySettings:
    """``settings.telemetry`` with the file paths left at their defaults placed beside the
    SQLite database file (in memory for ``memory://``: nothing kept, like the database).
    Paths set explicitly, and every path with another database, stay as given."""
    t = settings.telemetry
    url = settings.database.url
    if url.startswith("memory:"):
        folder: Path | None = None
    elif url.startswith("sqlite") and ":///" in url:
        db_file = url.split(":///", 1)[1].split("?", 1)[0]
        folder = None if db_file in ("", ":memory:") else Path(db_file).parent
    else:
        return t
    update: dict[str, Path] = {}
    for name in ("embedded_path", "outbox_path"):
        if name not in t.model_fields_set:
            default = getattr(t, name)
            update[name] = Path(":memory:") if folder is None else folder / Path(default).name
    return t.model_copy(update=update) if update else t
