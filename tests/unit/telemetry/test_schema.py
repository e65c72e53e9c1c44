from __future__ import annotations

import re
from pathlib import Path

from csms.telemetry.schema import MEASUREMENTS, SCHEMA_VERSION, expected_series

PAGE = Path(__file__).parents[3] / "docs" / "telemetry-schema.md"


def test_the_schema_page_names_every_measurement_tag_and_field() -> None:
    text = PAGE.read_text()
    assert f"**Schema version: {SCHEMA_VERSION}**" in text
    for measurement, (tags, fields) in MEASUREMENTS.items():
        section = text.split(f"### `{measurement}`", 1)
        assert len(section) == 2, measurement
        body = section[1].split("\n### ", 1)[0]
        for key in (*tags, *fields):
            assert f"`{key}`" in body, (measurement, key)


def test_the_schema_page_quotes_the_computed_series_count() -> None:
    text = PAGE.read_text()
    estimate = expected_series()
    assert f"**total** | **{estimate.total:,}**" in text
    for measurement, count in estimate.per_measurement.items():
        assert re.search(rf"\| `{measurement}` \| {count:,} \|", text), measurement


def test_tags_are_sorted_and_never_unbounded_ids() -> None:
    for tags, fields in MEASUREMENTS.values():
        assert list(tags) == sorted(tags)
        assert not {"transaction_id", "plan_id", "time", "id_token"} & set(tags)
        assert not set(tags) & set(fields)
