from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.telemetry.embedded import EmbeddedStore
from csms.telemetry.exceptions import QueryError, WriteRejected
from csms.telemetry.query import (
    Aggregation,
    SeriesResult,
    TelemetryQuery,
    build_influxql,
    parse_influxql_response,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = 1_767_225_600  # T0 in s


def test_influxql_statement() -> None:
    q = TelemetryQuery(
        measurement="meter",
        field="value",
        start=T0,
        stop=T0 + timedelta(hours=1),
        aggregation=Aggregation.MAX,
        window_s=60,
        group_by=("station", "evse"),
        where={"measurand": "Power.Active.Import", "sta'tion": 'x"'},
    )
    assert build_influxql(q, retention_policy="rp1") == (
        'SELECT max("value") FROM "rp1"."meter" WHERE time >= 1767225600000000000 AND '
        "time < 1767229200000000000 AND \"measurand\" = 'Power.Active.Import' AND "
        '"sta\'tion" = \'x"\' GROUP BY time(60s), "station", "evse" fill(none)'
    )
    plain = TelemetryQuery(measurement="site", field="pv_w", start=T0, stop=T0 + timedelta(1))
    assert build_influxql(plain) == (
        'SELECT mean("pv_w") FROM "site" WHERE time >= 1767225600000000000 AND '
        "time < 1767312000000000000 fill(none)"
    )


def test_query_validation() -> None:
    with pytest.raises(QueryError):
        TelemetryQuery(measurement="m", field="f", start=T0, stop=T0)
    with pytest.raises(QueryError):
        TelemetryQuery(measurement="m", field="f", start=T0, stop=T0 + timedelta(1), window_s=0)
    with pytest.raises(ValueError):
        TelemetryQuery(
            measurement="m",
            field="f",
            start=T0,
            stop=T0 + timedelta(1),
            aggregation="median",  # type: ignore[arg-type]
        )


def test_parse_influxql_response() -> None:
    q = TelemetryQuery(
        measurement="m", field="v", start=T0, stop=T0 + timedelta(1), group_by=("b",)
    )
    payload = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {
                        "name": "m",
                        "tags": {"b": "y"},
                        "columns": ["time", "mean"],
                        "values": [[S * 10**9, 2.5], [S * 10**9 + 60 * 10**9, None]],
                    },
                    {
                        "name": "m",
                        "tags": {"b": "x"},
                        "columns": ["time", "mean"],
                        "values": [[S * 10**9, 1]],
                    },
                ],
            }
        ]
    }
    assert parse_influxql_response(payload, q) == [
        SeriesResult(tags={"b": "x"}, points=[(T0, 1.0)]),
        SeriesResult(tags={"b": "y"}, points=[(T0, 2.5)]),
    ]
    with pytest.raises(QueryError, match="boom"):
        parse_influxql_response({"results": [{"error": "boom"}]}, q)
    assert parse_influxql_response({"results": [{"statement_id": 0}]}, q) == []


LINES = [
    # station A, evse 1: 10 at 0 s, 20 at 30 s, 40 at 70 s; evse 2: 5 at 10 s
    f"meter,evse=1,measurand=P,station=A value=10 {S * 1000}",
    f"meter,evse=1,measurand=P,station=A value=20 {S * 1000 + 30_000}",
    f"meter,evse=1,measurand=P,station=A value=40 {S * 1000 + 70_000}",
    f"meter,evse=2,measurand=P,station=A value=5 {S * 1000 + 10_000}",
    f"meter,evse=1,measurand=P,station=B value=100 {S * 1000 + 61_000}",
    f"meter,evse=1,measurand=V,station=B value=230 {S * 1000 + 1_000}",
    f'meter,evse=1,measurand=P,station=B context="x",value=7 {S * 1000 + 200_000}',
]


@pytest.fixture
def store() -> EmbeddedStore:
    s = EmbeddedStore(":memory:", precision="ms")
    s.write(LINES)
    return s


def _q(**kw: object) -> TelemetryQuery:
    base: dict[str, object] = dict(
        measurement="meter",
        field="value",
        start=T0,
        stop=T0 + timedelta(seconds=180),
        where={"measurand": "P"},
    )
    base.update(kw)
    return TelemetryQuery(**base)  # type: ignore[arg-type]


def _at(s: int) -> datetime:
    return T0 + timedelta(seconds=s)


def test_embedded_windows_and_groups(store: EmbeddedStore) -> None:
    assert store.query(_q(window_s=60, group_by=("station",))) == [
        SeriesResult({"station": "A"}, [(_at(0), 35 / 3), (_at(60), 40.0)]),
        SeriesResult({"station": "B"}, [(_at(60), 100.0)]),
    ]
    assert store.query(_q(window_s=60, aggregation="last", group_by=("station",))) == [
        SeriesResult({"station": "A"}, [(_at(0), 20.0), (_at(60), 40.0)]),
        SeriesResult({"station": "B"}, [(_at(60), 100.0)]),
    ]
    assert store.query(_q(aggregation="sum", group_by=("evse",))) == [
        SeriesResult({"evse": "1"}, [(T0, 170.0)]),
        SeriesResult({"evse": "2"}, [(T0, 5.0)]),
    ]
    assert store.query(_q(aggregation="min")) == [SeriesResult({}, [(T0, 5.0)])]
    assert store.query(_q(aggregation="max", group_by=("phase",))) == [
        SeriesResult({"phase": ""}, [(T0, 100.0)])
    ]
    assert store.query(_q(aggregation="count", stop=T0 + timedelta(seconds=60))) == [
        SeriesResult({}, [(T0, 3.0)])
    ]
    # a second write of the same point overwrites it, as in InfluxDB
    store.write([f"meter,evse=2,measurand=P,station=A value=6 {S * 1000 + 10_000}"])
    assert store.query(_q(aggregation="sum", where={"evse": "2"})) == [
        SeriesResult({}, [(T0, 6.0)])
    ]


def test_embedded_stores_the_good_lines_of_a_bad_batch() -> None:
    store = EmbeddedStore(":memory:")
    with pytest.raises(WriteRejected):
        store.write([f"m v=1 {S * 1000}", "garbage", "m v=2"])
    q = TelemetryQuery(measurement="m", field="v", start=T0, stop=T0 + timedelta(1))
    assert store.query(q) == [SeriesResult({}, [(T0, 1.0)])]


def test_embedded_retention_prunes_old_points() -> None:
    store = EmbeddedStore(":memory:", precision="s", retention_s=100, prune_every_s=0)
    store.write([f"m v=1 {S - 1000}", f"m v=2 {S - 50}"])
    store.write([f"m v=3 {S}"])  # pruning runs with this write: S - 1000 is too old now
    q = TelemetryQuery(
        measurement="m",
        field="v",
        start=T0 - timedelta(hours=1),
        stop=T0 + timedelta(1),
        aggregation=Aggregation.COUNT,
    )
    assert store.query(q) == [SeriesResult({}, [(T0 - timedelta(hours=1), 2.0)])]
    assert store.prune() == 0
