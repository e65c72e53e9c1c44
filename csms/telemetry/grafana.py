"""The Grafana dashboard and provisioning files, generated from the telemetry schema.

Every measurement, tag and field a panel queries is named through the schema's constants
(:mod:`csms.telemetry.schema`), so a schema change that breaks a panel breaks the generator's
tests, not a fleet manager's dashboard. The committed files under ``dashboards/grafana/`` are
:func:`render_files` written out (``chargegrid telemetry grafana``); a test keeps them equal.

Panels query InfluxDB with InfluxQL (1.x, or 2.x through its v1-compatible ``/query`` with a
DBRP mapping). Each query names the columns it returns (:attr:`Query.columns`), and
:func:`expand` substitutes the Grafana macros and variables the way Grafana does, so the
queries can be run and checked without Grafana.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from csms.telemetry.grafana_panels import (
    CONSTRAINT_ANNOTATION,
    PANEL_ROWS,
    VARIABLES,
    Panel,
    Query,
    Variable,
)
from csms.telemetry.schema import SCHEMA_VERSION

__all__ = [
    "DASHBOARD_FILE",
    "DASHBOARD_UID",
    "DATASOURCE_V1_UID",
    "DATASOURCE_V2_UID",
    "Panel",
    "Query",
    "Variable",
    "dashboard",
    "expand",
    "iter_queries",
    "provisioning",
    "regex_value",
    "render_files",
    "to_yaml",
]

DASHBOARD_UID = "chargegrid-fleet"
DASHBOARD_FILE = "chargegrid-fleet.json"
DATASOURCE_V1_UID = "chargegrid-influxdb-v1"
DATASOURCE_V2_UID = "chargegrid-influxdb-v2"
#: The dashboard JSON model version this generator writes (Grafana 10 and 11 read it).
SCHEMA_VERSION_GRAFANA = 39
#: Where the dashboard provider looks for the JSON (copy or mount the file there).
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/chargegrid"

_DS = {"type": "influxdb", "uid": "${datasource}"}


# -- the dashboard ------------------------------------------------------------------------
def _target(q: Query) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": q.ref,
        "datasource": _DS,
        "query": q.text,
        "rawQuery": True,
        "resultFormat": q.result_format,
    }
    if q.alias:
        target["alias"] = q.alias
    return target


def _field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    overrides: list[dict[str, Any]] = []
    if p.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "bars" if p.bars else "line",
            "lineWidth": 1,
            "fillOpacity": 60 if p.bars else (30 if p.stacked else 0),
            "spanNulls": True,
            "showPoints": "never",
            "stacking": {"mode": "normal" if p.stacked else "none", "group": "A"},
            "axisLabel": p.axis_label,
        }
        for q in p.queries:
            if q.dashed:
                overrides.append(
                    {
                        "matcher": {"id": "byFrameRefID", "options": q.ref},
                        "properties": [
                            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                            {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
                        ],
                    }
                )
    return {"defaults": defaults, "overrides": overrides}


def _options(p: Panel) -> dict[str, Any]:
    if p.kind == "table":
        return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"},
    }


def _panel_json(p: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": _DS,
        "gridPos": {"h": p.height, "w": p.width, "x": x, "y": y},
        "fieldConfig": _field_config(p),
        "options": _options(p),
        "targets": [_target(q) for q in p.queries],
    }


def _variable_json(v: Variable) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "label": v.label,
        "type": "query",
        "datasource": _DS,
        "query": v.query,
        "regex": v.regex,
        "refresh": 2,  # on a time range change
        "sort": 1,
        "multi": v.multi,
        "includeAll": v.multi,
        "hide": 0,
    }
    if v.multi:
        out["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return out


def _annotation() -> dict[str, Any]:
    """Grid constraints marked on every time chart (from the ``grid_constraint`` points)."""
    return {
        "name": "Grid constraints",
        "datasource": _DS,
        "enable": True,
        "iconColor": "orange",
        "target": {
            "refId": "Anno",
            "query": CONSTRAINT_ANNOTATION.text,
            "rawQuery": True,
            "resultFormat": "table",
        },
        # Grafana's InfluxDB plugin reads the column roles from the annotation itself.
        "textColumn": "reason",
        "tagsColumn": "kind",
    }


def dashboard() -> dict[str, Any]:
    """The fleet dashboard as Grafana's JSON model."""
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row_title, row in PANEL_ROWS:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        panel_id += 1
        y += 1
        x = 0
        line_height = 0
        for p in row:
            if x + p.width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel_json(p, panel_id, x, y))
            panel_id += 1
            x += p.width
            line_height = max(line_height, p.height)
        y += line_height
    datasource_var: dict[str, Any] = {
        "name": "datasource",
        "label": "InfluxDB",
        "type": "datasource",
        "query": "influxdb",
        "regex": "",
        "hide": 0,
        "refresh": 1,
    }
    return {
        "uid": DASHBOARD_UID,
        "title": "chargegrid fleet",
        "description": (
            "EV charging sites from chargegrid telemetry (schema version "
            f"{SCHEMA_VERSION}). Generated by `chargegrid telemetry grafana`; edit the "
            "generator, not this file."
        ),
        "tags": ["chargegrid", "ev-charging", f"telemetry-schema-{SCHEMA_VERSION}"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION_GRAFANA,
        "version": 1,
        "templating": {"list": [datasource_var, *(_variable_json(v) for v in VARIABLES)]},
        "annotations": {"list": [_annotation()]},
        "panels": panels,
    }


def iter_queries() -> Iterator[tuple[str, Query]]:
    """Every query of the dashboard with its panel's title (and the annotation's)."""
    for _row, panels in PANEL_ROWS:
        for p in panels:
            for q in p.queries:
                yield p.title, q
    yield "annotation: grid constraints", CONSTRAINT_ANNOTATION


# -- provisioning ---------------------------------------------------------------------------
def provisioning() -> dict[str, dict[str, Any]]:
    """The provisioning files by path: a dashboard provider and one datasource file per
    InfluxDB generation (install the one you run; both may be installed side by side)."""
    v1 = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "chargegrid InfluxDB 1.x",
                "uid": DATASOURCE_V1_UID,
                "type": "influxdb",
                "access": "proxy",
                "url": "${INFLUXDB_URL}",
                "user": "${INFLUXDB_USERNAME}",
                "jsonData": {"dbName": "${INFLUXDB_DATABASE}", "httpMode": "GET"},
                "secureJsonData": {"password": "${INFLUXDB_PASSWORD}"},
                "isDefault": True,
                "editable": False,
            }
        ],
    }
    v2 = {
        "apiVersion": 1,
        "datasources": [
            {
                # InfluxQL through 2.x's v1-compatible /query: the bucket needs a DBRP mapping
                # whose database is the bucket's name (docs/grafana.md).
                "name": "chargegrid InfluxDB 2.x (InfluxQL)",
                "uid": DATASOURCE_V2_UID,
                "type": "influxdb",
                "access": "proxy",
                "url": "${INFLUXDB_V2_URL}",
                "jsonData": {
                    "dbName": "${INFLUXDB_V2_BUCKET}",
                    "httpMode": "GET",
                    "httpHeaderName1": "Authorization",
                },
                "secureJsonData": {"httpHeaderValue1": "Token ${INFLUXDB_V2_TOKEN}"},
                "editable": False,
            }
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "chargegrid",
                "orgId": 1,
                "folder": "chargegrid",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }
    return {
        "provisioning/datasources/chargegrid-influxdb-v1.yaml": v1,
        "provisioning/datasources/chargegrid-influxdb-v2.yaml": v2,
        "provisioning/dashboards/chargegrid.yaml": provider,
    }


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ./-]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping | list):  # only empty ones come here
        return "{}" if isinstance(value, Mapping) else "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in ("true", "false", "null", "yes", "no"):
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars (what the provisioning files need)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 2).rstrip("\n"))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            body = to_yaml(item, indent + 2).rstrip("\n")
            lines.append(f"{pad}- {body.lstrip()}")
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines) + "\n"


def render_files() -> dict[str, str]:
    """Every generated file (path under ``dashboards/grafana/`` -> text)."""
    files = {DASHBOARD_FILE: json.dumps(dashboard(), indent=2) + "\n"}
    header = "# Generated by `chargegrid telemetry grafana`; see docs/grafana.md.\n"
    for path, doc in provisioning().items():
        files[path] = header + to_yaml(doc)
    return files


# -- running the queries outside Grafana -----------------------------------------------------
_REGEX_SPECIAL = re.compile(r"([\\/^$.|?*+()\[\]{}-])")


def regex_value(values: Sequence[str]) -> str:
    """A variable's value inside an InfluxQL regex, as Grafana writes it: one value escaped,
    several as ``(a|b)``."""
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def expand(
    text: str,
    *,
    start: datetime,
    stop: datetime,
    interval_s: int,
    variables: Mapping[str, Sequence[str]],
) -> str:
    """The query as Grafana sends it: ``$timeFilter``, ``$__interval`` and each variable
    (every variable here stands inside a regex literal, so it is regex-formatted)."""
    start_ms, stop_ms = int(start.timestamp() * 1000), int(stop.timestamp() * 1000)
    out = text.replace("$timeFilter", f"time >= {start_ms}ms and time <= {stop_ms}ms")
    out = out.replace("$__interval", f"{interval_s}s")
    for name in sorted(variables, key=len, reverse=True):
        out = out.replace(f"${name}", regex_value(variables[name]))
    return out
