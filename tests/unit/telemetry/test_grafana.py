"""The Grafana dashboard and provisioning files: the committed files are the generator's
output, the dashboard is Grafana's model (checked against the model generated from Grafana's
schema), its layout holds, and its queries name only what the telemetry schema defines."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from chargegrid.cli import main
from csms.telemetry.grafana import (
    DASHBOARD_FILE,
    DATASOURCE_V1_UID,
    DATASOURCE_V2_UID,
    dashboard,
    expand,
    iter_queries,
    provisioning,
    regex_value,
    render_files,
    to_yaml,
)
from csms.telemetry.grafana_panels import VARIABLES
from csms.telemetry.schema import MEASUREMENTS

COMMITTED = Path(str(files("dashboards") / "grafana"))


def test_the_committed_files_are_the_generators_output() -> None:
    rendered = render_files()
    on_disk = {
        str(p.relative_to(COMMITTED)): p.read_text(encoding="utf-8")
        for p in COMMITTED.rglob("*")
        if p.is_file()
    }
    assert on_disk == rendered, "run: chargegrid telemetry grafana"


def test_the_check_command_finds_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["telemetry", "grafana", "--check", "--out", str(COMMITTED)]) == 0
    assert main(["telemetry", "grafana", "--out", str(tmp_path)]) == 0
    assert main(["telemetry", "grafana", "--check", "--out", str(tmp_path)]) == 0
    board = tmp_path / DASHBOARD_FILE
    board.write_text(board.read_text().replace("Power per EVSE", "Power"))
    assert main(["telemetry", "grafana", "--check", "--out", str(tmp_path)]) == 1
    assert f"out of date: {board}" in capsys.readouterr().err


def _differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """What Grafana's model lost or changed of ours (it may add its defaults)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = [f"{path}/{k} not in Grafana's model" for k in ours if k not in theirs]
        for k in ours.keys() & theirs.keys():
            out += _differences(ours[k], theirs[k], f"{path}/{k}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items became {len(theirs)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


def test_the_dashboard_is_grafanas_model() -> None:
    """Read into the Grafana 11.6 dashboard model (generated from Grafana's schema) and written
    back, nothing of ours is lost: every key is one the schema (or the panel plugin's options
    and field config) defines. It checks names and structure, not every value's type."""
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

    plugins.register_default_plugins()
    ours = dashboard()
    model = Dashboard.from_json(json.loads(json.dumps(ours)))
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    # Outside what the schema can say: its annotation target is the built-in "grafana"
    # datasource's (a TODO in Grafana's schema: any datasource's query goes there), and the
    # InfluxDB plugin reads the column roles from the annotation itself.
    unchecked = (
        "/annotations/list[0]/target/",
        "/annotations/list[0]/textColumn",
        "/annotations/list[0]/tagsColumn",
    )
    problems = [d for d in _differences(ours, back) if not d.startswith(unchecked)]
    assert problems == []
    assert model.schema_version == ours["schemaVersion"]
    kinds = {
        type(p.options).__module__.rsplit(".", 1)[-1]
        for p in model.panels or []
        if isinstance(p, Panel)
    }
    assert kinds == {"timeseries", "table"}  # the plugins' own option models were used


def test_the_layout_fits_and_ids_are_unique() -> None:
    board = dashboard()
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells
        if p["type"] == "row":
            continue
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs) and refs
        for t in p["targets"]:
            assert t["datasource"] == {"type": "influxdb", "uid": "${datasource}"}
            assert t["rawQuery"] is True
        assert p["description"] and p["fieldConfig"]["defaults"]["unit"]


def test_queries_name_only_the_schema_and_defined_variables() -> None:
    names = set(MEASUREMENTS)
    for tags, fields in MEASUREMENTS.values():
        names |= set(tags) | set(fields)
    variables = {v.name for v in VARIABLES} | {"timeFilter", "__interval"}
    queries = [(title, q.text, q.columns) for title, q in iter_queries()]
    queries += [(f"variable {v.name}", v.query, ()) for v in VARIABLES]
    for title, text, columns in queries:
        aliases = set(re.findall(r' AS "([^"]+)"', text))
        for ident in re.findall(r'"([^"]+)"', text):
            assert ident in names | aliases, f"{title}: {ident!r} is not in the schema"
        for var in re.findall(r"\$(\w+)", text):
            assert var in variables, f"{title}: ${var} is not defined"
        if columns:
            assert columns[0] == "time"
            # what a query selects AS is what it says it returns
            assert aliases <= set(columns), title


def test_provisioning_files_parse_to_the_datasources_and_provider() -> None:
    rendered = render_files()
    for path, doc in provisioning().items():
        assert yaml.safe_load(rendered[path]) == doc, path
    v1 = provisioning()["provisioning/datasources/chargegrid-influxdb-v1.yaml"]["datasources"][0]
    v2 = provisioning()["provisioning/datasources/chargegrid-influxdb-v2.yaml"]["datasources"][0]
    assert (v1["uid"], v1["type"], v1["jsonData"]["dbName"]) == (
        DATASOURCE_V1_UID,
        "influxdb",
        "${INFLUXDB_DATABASE}",
    )
    # 2.x: InfluxQL over the v1-compatible API, the bucket as database, a token header
    assert v2["uid"] == DATASOURCE_V2_UID
    assert v2["jsonData"]["httpHeaderName1"] == "Authorization"
    assert v2["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUXDB_V2_TOKEN}"


def test_yaml_of_awkward_values_reads_back() -> None:
    doc = {
        "a": [],
        "b": {},
        "c": None,
        "d": ["x: y", "true", 3, 2.5, False, {"e": "${VAR}", "f": [1, {"g": "h"}]}],
        "i": "plain words",
    }
    assert yaml.safe_load(to_yaml(doc)) == doc


def test_expand_writes_macros_and_variables_as_grafana_does() -> None:
    start = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    stop = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    text = (
        'SELECT x FROM m WHERE "station" =~ /^$station$/ AND $timeFilter GROUP BY time($__interval)'
    )
    assert expand(
        text, start=start, stop=stop, interval_s=60, variables={"station": ["WORK-0001", "A.B"]}
    ) == (
        'SELECT x FROM m WHERE "station" =~ /^(WORK\\-0001|A\\.B)$/ AND '
        f"time >= {int(start.timestamp()) * 1000}ms and time <= {int(stop.timestamp()) * 1000}ms "
        "GROUP BY time(60s)"
    )
    assert regex_value(["depot"]) == "depot"
    assert regex_value(["a/b"]) == "a\\/b"
