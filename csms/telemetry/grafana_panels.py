"""What the Grafana fleet dashboard shows: its variables, rows, panels and their InfluxQL.

Every measurement, tag and field is named through the telemetry schema's constants. Each
:class:`Query` lists the columns InfluxDB answers with (its ``AS`` names), which the
integration test checks against a real ``influxd`` filled by a simulated run.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargegrid.measurands import Measurand
from csms.telemetry.schema import Field as F
from csms.telemetry.schema import Measurement as M
from csms.telemetry.schema import Tag as T

__all__ = ["CONSTRAINT_ANNOTATION", "PANEL_ROWS", "VARIABLES", "Panel", "Query", "Variable"]


def q(name: str) -> str:
    """An InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Query:
    ref: str
    text: str
    #: the columns of InfluxDB's answer, ``time`` first (group-by tags are not columns)
    columns: tuple[str, ...]
    alias: str | None = None
    result_format: str = "time_series"
    #: drawn dashed and not stacked (a plan beside what happened)
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # or "table"
    unit: str = "watt"
    axis_label: str = ""
    width: int = 12
    height: int = 8
    stacked: bool = False
    bars: bool = False
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    label: str
    query: str
    regex: str = ""
    multi: bool = False


SITE = f"{q(T.SITE)} =~ /^$site$/"
STATIONS = f"{q(T.STATION)} =~ /^$station$/"
WINDOW = "GROUP BY time($__interval)"

VARIABLES = (
    Variable("site", "Site", f"SHOW TAG VALUES FROM {q(M.PLAN)} WITH KEY = {q(T.SITE)}"),
    # The stations of the site: the EVSEs the site's plans name (STATION/EVSE).
    Variable(
        "station",
        "Station",
        f"SHOW TAG VALUES FROM {q(M.PLAN)} WITH KEY = {q(T.ASSET)} "
        f"WHERE {SITE} AND {q(T.ASSET_KIND)} = 'evse'",
        regex="/^([^/]+)\\//",
        multi=True,
    ),
)


def _site_plan(field: str, alias_as: str, kind: str = "site") -> str:
    return (
        f"SELECT last({q(field)}) AS {q(alias_as)} FROM {q(M.PLAN)} WHERE {SITE} "
        f"AND {q(T.ASSET_KIND)} = '{kind}' AND $timeFilter {WINDOW} fill(previous)"
    )


_EVSE_POWER = (
    f'SELECT mean({q(F.VALUE)}) AS "power_w" FROM {q(M.METER)} WHERE {STATIONS} '
    f"AND {q(T.MEASURAND)} = 'Power.Active.Import' AND {q(T.PHASE)} = '' "
    f"AND {q(T.EVSE)} != '0' AND $timeFilter {WINDOW}, {q(T.STATION)}, {q(T.EVSE)} "
    "fill(previous)"
)

SITE_ROW = (
    Panel(
        "Site import and the limit in force",
        "Import at the grid connection (the site meter, `site.import_w`) against the import "
        "limit in force there (the site's limit or a grid operator's stricter cap, from the "
        "plan) and the import the plan intended (dashed).",
        (
            Query(
                "A",
                f'SELECT mean({q(F.IMPORT_W)}) AS "import_w" FROM {q(M.SITE)} WHERE {SITE} '
                f"AND $timeFilter {WINDOW} fill(none)",
                ("time", "import_w"),
                alias="measured import",
            ),
            Query("B", _site_plan(F.LIMIT_W, "limit_w"), ("time", "limit_w"), alias="limit"),
            Query(
                "C",
                _site_plan(F.POWER_W, "planned_w"),
                ("time", "planned_w"),
                alias="planned import",
                dashed=True,
            ),
        ),
    ),
    Panel(
        "PV and site load",
        "PV production (from the readings the site's energy management posts) and the "
        "site's load behind the grid meter.",
        (
            Query(
                "A",
                f'SELECT mean({q(F.PV_W)}) AS "pv_w", mean({q(F.LOAD_W)}) AS "load_w" '
                f"FROM {q(M.SITE)} WHERE {SITE} AND $timeFilter {WINDOW} fill(none)",
                ("time", "pv_w", "load_w"),
            ),
        ),
    ),
    Panel(
        "Import price",
        "The import price per kWh each plan used: the tariff's time-of-use price or a "
        "price signal in force.",
        (
            Query(
                "A",
                _site_plan(F.IMPORT_PRICE_PER_KWH, "price"),
                ("time", "price"),
                alias="import price",
            ),
        ),
        unit="none",
        axis_label="per kWh",
        decimals=3,
        width=24,
        height=6,
    ),
)

CHARGING_ROW = (
    Panel(
        "Power per EVSE",
        "Active power each EVSE reports (`Power.Active.Import`), stacked.",
        (Query("A", _EVSE_POWER, ("time", "power_w"), alias="$tag_station/$tag_evse"),),
        stacked=True,
    ),
    Panel(
        "Plan against actual per EVSE",
        "The power the plan gave each EVSE (dashed) beside what it drew.",
        (
            Query(
                "A",
                f'SELECT last({q(F.POWER_W)}) AS "planned_w" FROM {q(M.PLAN)} WHERE {SITE} '
                f"AND {q(T.ASSET_KIND)} = 'evse' AND {q(T.ASSET)} =~ /^$station\\// "
                f"AND $timeFilter {WINDOW}, {q(T.ASSET)} fill(previous)",
                ("time", "planned_w"),
                alias="plan $tag_asset",
                dashed=True,
            ),
            Query("B", _EVSE_POWER, ("time", "power_w"), alias="$tag_station/$tag_evse"),
        ),
    ),
    Panel(
        "Limits sent to stations",
        "The TxProfile limits the planner sent, per EVSE, in the unit each station takes (W or A).",
        (
            Query(
                "A",
                f'SELECT last({q(F.LIMIT)}) AS "limit" FROM {q(M.CHARGING_LIMIT)} '
                f"WHERE {STATIONS} AND {q(T.PURPOSE)} = 'TxProfile' AND $timeFilter "
                f"{WINDOW}, {q(T.STATION)}, {q(T.EVSE)}, {q(T.UNIT)} fill(previous)",
                ("time", "limit"),
                alias="$tag_station/$tag_evse ($tag_unit)",
            ),
        ),
        unit="none",
        width=24,
    ),
)

SESSIONS_ROW = (
    Panel(
        "Energy per day",
        "Energy of the sessions that ended each day (UTC days).",
        (
            Query(
                "A",
                f'SELECT sum({q(F.ENERGY_WH)}) AS "energy_wh" FROM {q(M.TRANSACTION)} '
                f"WHERE {STATIONS} AND {q(T.EVENT)} = 'ended' AND $timeFilter "
                "GROUP BY time(1d) fill(0)",
                ("time", "energy_wh"),
                alias="energy",
            ),
        ),
        unit="watth",
        bars=True,
        width=8,
    ),
    Panel(
        "Sessions started and ended",
        "Sessions starting and ending per interval.",
        (
            Query(
                "A",
                f'SELECT count({q(F.TRANSACTION_ID)}) AS "sessions" FROM {q(M.TRANSACTION)} '
                f"WHERE {STATIONS} AND {q(T.EVENT)} =~ /^(started|ended)$/ AND $timeFilter "
                f"{WINDOW}, {q(T.EVENT)} fill(0)",
                ("time", "sessions"),
                alias="$tag_event",
            ),
        ),
        unit="short",
        bars=True,
        width=8,
    ),
    Panel(
        "Recent sessions",
        "The last sessions that ended, with their energy and why they stopped.",
        (
            Query(
                "A",
                f"SELECT {q(T.STATION)}, {q(T.EVSE)}, {q(F.TRANSACTION_ID)}, "
                f"{q(F.ENERGY_WH)}, {q(F.STOP_REASON)} FROM {q(M.TRANSACTION)} "
                f"WHERE {STATIONS} AND {q(T.EVENT)} = 'ended' AND $timeFilter "
                "ORDER BY time DESC LIMIT 50",
                ("time", "station", "evse", "transaction_id", "energy_wh", "stop_reason"),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
        width=8,
    ),
)

STORAGE_ROW = (
    Panel(
        "Storage state of charge",
        "Each storage unit's state of charge as the site's energy management reports it.",
        (
            Query(
                "A",
                f'SELECT mean({q(F.SOC_PCT)}) AS "soc_pct" FROM {q(M.STORAGE)} WHERE {SITE} '
                f"AND $timeFilter {WINDOW}, {q(T.STORAGE)} fill(none)",
                ("time", "soc_pct"),
                alias="$tag_storage",
            ),
        ),
        unit="percent",
    ),
    Panel(
        "Storage power",
        "Each storage unit's measured power: positive charging (drawn from the site), "
        "negative discharging.",
        (
            Query(
                "A",
                f'SELECT mean({q(F.POWER_W)}) AS "power_w" FROM {q(M.STORAGE)} WHERE {SITE} '
                f"AND $timeFilter {WINDOW}, {q(T.STORAGE)} fill(none)",
                ("time", "power_w"),
                alias="$tag_storage",
            ),
        ),
    ),
    Panel(
        "Battery swaps",
        "Swaps at the site's racks per interval: served from a ready pack (ready_pack), and "
        "those that found none at the rack's readiness threshold (no_ready_pack).",
        (
            Query(
                "A",
                f'SELECT count({q(F.READY_PACK)}) AS "swaps" FROM {q(M.SWAP)} '
                f"WHERE {SITE} AND {q(T.EVENT)} =~ /^(ready_pack|no_ready_pack)$/ "
                f"AND $timeFilter {WINDOW}, {q(T.EVENT)} fill(0)",
                ("time", "swaps"),
                alias="$tag_event",
            ),
        ),
        unit="short",
        bars=True,
    ),
    Panel(
        "Battery swap sessions",
        "The last swaps done or timed out at the site's swap stations: packs in and out, "
        "their state of charge, the energy each way, how long.",
        (
            Query(
                "A",
                f"SELECT {q(T.STATION)}, {q(T.EVENT)}, {q(F.PACKS_IN)}, {q(F.SOC_IN_PCT)}, "
                f"{q(F.PACKS_OUT)}, {q(F.SOC_OUT_PCT)}, {q(F.ENERGY_IN_WH)}, "
                f"{q(F.ENERGY_OUT_WH)}, {q(F.DURATION_S)} FROM {q(M.SWAP)} "
                f"WHERE {SITE} AND {q(T.EVENT)} =~ /^(out|timed_out)$/ AND $timeFilter "
                "ORDER BY time DESC LIMIT 50",
                (
                    "time",
                    "station",
                    "event",
                    "packs_in",
                    "soc_in_pct",
                    "packs_out",
                    "soc_out_pct",
                    "energy_in_wh",
                    "energy_out_wh",
                    "duration_s",
                ),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
    ),
)

GRID_ROW = (
    Panel(
        "Grid constraints",
        "Caps, demand-response reductions and price signals grid operators set: the start "
        "(active, with the value and who set it) and the end or cancellation of each.",
        (
            Query(
                "A",
                f"SELECT {q(T.NODE)}, {q(T.KIND)}, {q(F.VALUE)}, {q(T.UNIT)}, {q(F.ACTIVE)}, "
                f"{q(F.REASON)}, {q(F.CONSTRAINT_ID)} FROM {q(M.GRID_CONSTRAINT)} "
                f"WHERE {SITE} AND $timeFilter ORDER BY time DESC LIMIT 100",
                ("time", "node", "kind", "value", "unit", "active", "reason", "constraint_id"),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
        width=24,
        height=7,
    ),
    Panel(
        "DER control events",
        "DER controls set, cleared, reported, started and stopped on the units, and the "
        "DER alarms they raised, newest first (every station).",
        (
            Query(
                "A",
                f"SELECT {q(T.STATION)}, {q(T.EVENT)}, {q(T.CONTROL_TYPE)}, "
                f"{q(F.CONTROL_ID)}, {q(F.IN_FORCE)}, {q(F.GRID_EVENT_FAULT)} FROM {q(M.DER)} "
                "WHERE $timeFilter ORDER BY time DESC LIMIT 100",
                (
                    "time",
                    "station",
                    "event",
                    "control_type",
                    "control_id",
                    "in_force",
                    "grid_event_fault",
                ),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
        width=24,
        height=7,
    ),
)

STATIONS_ROW = (
    Panel(
        "Station status",
        "The last status each connector reported in the time range, with its error code.",
        (
            Query(
                "A",
                f'SELECT last({q(F.STATUS)}) AS "status", last({q(F.ERROR_CODE)}) AS '
                f'"error_code" FROM {q(M.STATUS)} WHERE {STATIONS} AND $timeFilter '
                f"GROUP BY {q(T.STATION)}, {q(T.EVSE)}, {q(T.CONNECTOR)}",
                ("time", "status", "error_code"),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
    ),
    Panel(
        "Connections, boots and heartbeats",
        "Connection events per interval: a station that reconnects often or stops sending "
        "heartbeats stands out.",
        (
            Query(
                "A",
                f'SELECT count({q(F.VALUE)}) AS "events" FROM {q(M.CONNECTION)} '
                f"WHERE {STATIONS} AND $timeFilter {WINDOW}, {q(T.EVENT)} fill(0)",
                ("time", "events"),
                alias="$tag_event",
            ),
        ),
        unit="short",
        bars=True,
    ),
)

HEALTH_ROW = (
    Panel(
        "Telemetry arriving",
        "Meter points and plan points written per interval across the whole fleet: a drop "
        "means stations, the CSMS or its telemetry outbox stalled.",
        (
            Query(
                "A",
                f'SELECT count({q(F.VALUE)}) AS "meter_points" FROM {q(M.METER)} '
                f"WHERE $timeFilter {WINDOW} fill(0)",
                ("time", "meter_points"),
                alias="meter points",
            ),
            Query(
                "B",
                f'SELECT count({q(F.POWER_W)}) AS "plan_points" FROM {q(M.PLAN)} '
                f"WHERE {SITE} AND $timeFilter {WINDOW} fill(0)",
                ("time", "plan_points"),
                alias="plan points",
            ),
        ),
        unit="short",
    ),
    Panel(
        "Last meter reading per station",
        "When each station last sent its energy register in the time range: a silent "
        "station's time falls behind.",
        (
            Query(
                "A",
                f'SELECT last({q(F.VALUE)}) AS "energy_wh" FROM {q(M.METER)} '
                f"WHERE {STATIONS} AND {q(T.MEASURAND)} = "
                f"'{Measurand.ENERGY_ACTIVE_IMPORT_REGISTER}' "
                f"AND $timeFilter GROUP BY {q(T.STATION)}",
                ("time", "energy_wh"),
                result_format="table",
            ),
        ),
        kind="table",
        unit="none",
    ),
)

PANEL_ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("Site", SITE_ROW),
    ("Charging", CHARGING_ROW),
    ("Sessions and energy", SESSIONS_ROW),
    ("Storage and swaps", STORAGE_ROW),
    ("Grid operators", GRID_ROW),
    ("Stations", STATIONS_ROW),
    ("Telemetry health", HEALTH_ROW),
)

#: Grid constraints as annotations on the time charts: each start with its value and source.
CONSTRAINT_ANNOTATION = Query(
    "annotations",
    f"SELECT {q(F.VALUE)}, {q(F.REASON)}, {q(T.KIND)} FROM {q(M.GRID_CONSTRAINT)} "
    f"WHERE {SITE} AND {q(F.ACTIVE)} = true AND $timeFilter",
    ("time", "value", "reason", "kind"),
    result_format="table",
)
