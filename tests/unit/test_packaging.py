"""The distribution's package data: each pattern in ``pyproject.toml`` names files that
exist, and each file of a package that is not Python is named by a pattern (the dashboard,
the Grafana files, the migrations' template, the demo's site files ship in the wheel)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_DATA: dict[str, list[str]] = CONFIG["tool"]["setuptools"]["package-data"]
PACKAGES = [p.rstrip("*") for p in CONFIG["tool"]["setuptools"]["packages"]["find"]["include"]]


def _matched(package: str, pattern: str) -> set[Path]:
    return {p for p in (ROOT / package).glob(pattern) if p.is_file()}


def _data_files(package: str) -> set[Path]:
    return {
        p
        for p in (ROOT / package).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


def test_every_pattern_names_files_that_exist() -> None:
    empty = [
        f"{package}: {pattern}"
        for package, patterns in PACKAGE_DATA.items()
        for pattern in patterns
        if not _matched(package, pattern)
    ]
    assert not empty, f"package-data patterns that match no file: {empty}"


def test_every_data_file_is_declared() -> None:
    assert set(PACKAGE_DATA) <= set(PACKAGES)
    missing = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in _data_files(package)
        - set().union(*(_matched(package, p) for p in PACKAGE_DATA.get(package, [])))
    )
    assert not missing, f"files no package-data pattern ships: {missing}"
    assert (ROOT / "dashboards/static/index.html") in _matched("dashboards", "static/**/*")
