"""``csms.demo`` is the one part of the central system that imports the simulators."""

from __future__ import annotations

import ast
from pathlib import Path

CSMS = Path(__file__).resolve().parents[3] / "csms"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_demo_imports_the_simulators() -> None:
    importers = sorted(
        str(p.relative_to(CSMS)) for p in CSMS.rglob("*.py") if "simulators" in _imports(p)
    )
    assert importers and all(p.startswith("demo/") for p in importers), importers
