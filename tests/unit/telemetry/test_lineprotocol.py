from __future__ import annotations

import pytest
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from csms.telemetry.exceptions import LineProtocolError
from csms.telemetry.lineprotocol import _parse_escaped, meter_line, parse_line

CASES = [
    dict(
        station="CP1",
        evse=1,
        connector=1,
        measurand="Power.Active.Import",
        unit="W",
        value=7400.0,
        time=1_700_000_000_000,
    ),
    dict(
        station="CP 2,x=y",
        evse=0,
        connector=0,
        measurand="Voltage",
        unit="V",
        value=230.25,
        time=1,
        phase="L1-N",
        location="Outlet",
        context="Sample.Periodic",
        transaction_id=42,
    ),
    dict(
        station="trail\\",
        evse=2,
        connector=1,
        measurand="SoC",
        unit="Percent",
        value=1e20,
        time=5,
        context='say "hi" \\ ok',
    ),
    dict(
        station="CP\n3", evse=3, connector=2, measurand="Power.Factor", unit="", value=-0.5, time=7
    ),
]


def _point(case: dict[str, object]) -> str:
    p = Point("meter")
    for key in ("station", "evse", "connector", "measurand", "unit", "phase", "location"):
        if case.get(key) is not None:
            p.tag(key, str(case[key]))
    p.field("value", case["value"])
    if case.get("context") is not None:
        p.field("context", case["context"])
    if case.get("transaction_id") is not None:
        p.field("transaction_id", case["transaction_id"])
    p.time(case["time"], WritePrecision.MS)
    return str(p.to_line_protocol())


@pytest.mark.parametrize("case", CASES)
def test_meter_line_is_what_point_writes(case: dict[str, object]) -> None:
    assert meter_line(**case) == _point(case)  # type: ignore[arg-type]


def test_parse_reads_back_every_part() -> None:
    line = meter_line(**CASES[1])  # type: ignore[arg-type]
    parsed = parse_line(line)
    assert parsed.measurement == "meter"
    assert parsed.tags == {
        "connector": "0",
        "evse": "0",
        "location": "Outlet",
        "measurand": "Voltage",
        "phase": "L1-N",
        "station": "CP 2,x=y",
        "unit": "V",
    }
    assert parsed.fields == {"context": "Sample.Periodic", "transaction_id": 42, "value": 230.25}
    assert parsed.time == 1


def test_parse_types_and_escaped_strings() -> None:
    parsed = parse_line('m,a=1 s="x \\"y\\" z",b=true,i=-3i,f=1.5 99')
    assert parsed.fields == {"s": 'x "y" z', "b": True, "i": -3, "f": 1.5}
    assert parse_line("m v=1").time is None


@pytest.mark.parametrize(
    "bad", ["", "m", "m v", "m v=x", 'm v="open', "m,t v=1 1", "m v=1 notatime", ",a=1 v=1"]
)
def test_parse_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(LineProtocolError):
        parse_line(bad)


PLAIN_LINES = [
    "meter,station=CP-1,evse=1,measurand=Power.Active.Import,phase=L1 value=7.4e3 1767225600000",
    "meter,station=CP-1 value=1i,ok=t 1",
    "status,station=CP-2 code=3u",
    "m value=1",
    "m,station=CP-1 value=x 1",  # bad field value
    "m,station value=1 1",  # bad tag
    "m value=1 1 2",  # too many sections
    ",station=CP-1 value=1 1",  # empty measurement
    "m value=1 soon",  # bad timestamp
]


@pytest.mark.parametrize("line", PLAIN_LINES)
def test_plain_lines_parse_as_the_escape_aware_parser_does(line: str) -> None:
    """Lines without escapes or quotes take a fast path that must agree exactly."""
    try:
        expected = _parse_escaped(line.strip(), line)
    except LineProtocolError as exc:
        with pytest.raises(LineProtocolError) as got:
            parse_line(line)
        assert str(got.value) == str(exc)
    else:
        assert parse_line(line) == expected
