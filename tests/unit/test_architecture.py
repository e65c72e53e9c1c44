"""The shape of the production code, checked: the rules of docs/architecture.md that an import
graph and a line count can see.

Every production module (``chargegrid``, ``csms``, ``dashboards``, ``optimizer``,
``simulators``, ``storage_ctrl``) is read as text (nothing is imported) and checked for

- ``cycle``: modules that import each other, directly or round a longer loop (every import
  counts: module level, inside a function, under ``TYPE_CHECKING``);
- ``private-import``: a name starting with ``_`` taken from another module (by
  ``from m import _x``, or as ``m._x`` on an imported module), or a module so named imported
  from outside its package;
- ``forbidden-import``: an import the layers do not allow (the table ``_FORBIDDEN``: the
  optimizer and simulators never import ``csms``; the store, core and telemetry never import
  the command line, the app or the API; the store never imports the tables above it; only
  ``csms.cli`` imports ``csms.cli``);
- ``long-module``: a module over 500 lines; ``long-function``: a function over 80 lines.

What is true today and has a reason stands in ``architecture_allowlist.txt``, one entry a
line, sorted: ``<kind> <subject> # <reason>``. An entry whose reason starts ``TODO issue 12``
is a known debt; remove the line when the code no longer violates it: an entry that no longer
matches anything fails the test too, so the list only shrinks honestly.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chargegrid", "csms", "dashboards", "optimizer", "simulators", "storage_ctrl")
ALLOWLIST = Path(__file__).with_name("architecture_allowlist.txt")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
KINDS = ("cycle", "forbidden-import", "long-function", "long-module", "private-import")


@dataclass(frozen=True)
class Import:
    target: str  # the module imported from (or imported)
    name: str | None  # the name taken from it (None: the module itself)
    line: int


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    lines: int
    imports: list[Import] = field(default_factory=list)
    bound: dict[str, str] = field(default_factory=dict)  # local name -> module it names

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name, is_package = _module_name(path)
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(path))
            found[name] = Module(name, path, is_package, tree, len(text.splitlines()))
    for module in found.values():
        module.imports = list(_imports(module, found))
    return found


def _imports(module: Module, known: dict[str, Module]) -> Iterator[Import]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in known:
                    module.bound[alias.asname] = alias.name
                yield Import(alias.name, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    module.bound[alias.asname or alias.name] = submodule
                    yield Import(submodule, None, node.lineno)
                else:
                    yield Import(source, alias.name, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(node.args[0].value, None, node.lineno)


def _owner(target: str, known: dict[str, Module]) -> str | None:
    """The production module an import reaches (the longest known prefix), or None."""
    parts = target.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def _top(name: str) -> str:
    return name.partition(".")[0]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_cli(name: str) -> bool:
    parts = name.split(".")
    return "cli" in parts


def _forbidden(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target``, or None when it may."""
    if _within(target, "csms.cli") and not _within(importer, "csms.cli"):
        return "only the command line imports the command line"
    for part in ("optimizer", "simulators"):
        if _within(importer, part) and _top(target) == "csms":
            return f"{part} never imports csms"
    if _within(importer, "csms.store") and (
        _within(target, "csms.api") or _within(target, "csms.sites")
    ):
        return "the store sits below the API's and the sites' tables"
    for layer in ("csms.store", "csms.core", "csms.telemetry"):
        if _within(importer, layer) and (
            _is_cli(target) or target == "csms.app" or _within(target, "csms.api")
        ):
            return f"{layer} never imports the command line, the app or the API"
    return None


def _import_graph(known: dict[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in known}
    for module in known.values():
        for imp in module.imports:
            owner = _owner(imp.target, known)
            if owner is not None and owner != module.name:
                graph[module.name].add(owner)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return groups


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _private_uses(module: Module, known: dict[str, Module]) -> Iterator[str]:
    """``owner.name`` for each private name this module takes from another module, and for
    each private module it imports from outside that module's package."""
    for imp in module.imports:
        owner = _owner(imp.target, known)
        if owner is None or owner == module.name:
            continue
        if imp.name is not None and _is_private(imp.name):
            yield f"{owner}.{imp.name}"
        private = [i for i, part in enumerate(owner.split(".")) if _is_private(part)]
        if private:
            home = ".".join(owner.split(".")[: private[0]])
            if not _within(module.name, home):
                yield owner
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module.bound
            and _is_private(node.attr)
        ):
            yield f"{module.bound[node.value.id]}.{node.attr}"


def violations() -> dict[str, set[str]]:
    """Every violation today, as allowlist subjects by kind."""
    known = modules()
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    found["cycle"] = {" ".join(group) for group in _cycles(_import_graph(known))}
    for module in known.values():
        if module.lines > MAX_MODULE_LINES:
            found["long-module"].add(module.name)
        for qualname, node in _functions(module.tree):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            end = node.end_lineno or node.lineno
            if end - node.lineno + 1 > MAX_FUNCTION_LINES:
                found["long-function"].add(f"{module.name}:{qualname}")
        for used in _private_uses(module, known):
            found["private-import"].add(f"{module.name} -> {used}")
        for imp in module.imports:
            owner = _owner(imp.target, known) or imp.target
            if _forbidden(module.name, owner):
                found["forbidden-import"].add(f"{module.name} -> {owner}")
    return found


@dataclass(frozen=True)
class Entry:
    kind: str
    subject: str
    reason: str
    line: int


def allowlist() -> list[Entry]:
    entries = []
    for number, raw in enumerate(ALLOWLIST.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        head, sep, reason = raw.partition(" # ")
        kind, _, subject = head.strip().partition(" ")
        entries.append(Entry(kind, subject.strip(), reason.strip() if sep else "", number))
    return entries


def test_allowlist_is_one_sorted_entry_a_line_each_with_a_reason() -> None:
    entries = allowlist()
    problems = [
        f"line {e.line}: {e.kind} {e.subject}: "
        + ("unknown kind" if e.kind not in KINDS else "no reason after ' # '")
        for e in entries
        if e.kind not in KINDS or not e.subject or not e.reason
    ]
    keys = [(e.kind, e.subject) for e in entries]
    if keys != sorted(keys):
        problems.append("entries are not sorted (LC_ALL=C sort the entry lines)")
    if len(set(keys)) != len(keys):
        problems.append("an entry stands twice")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", KINDS)
def test_no_new_violation_and_no_stale_entry(kind: str) -> None:
    found = violations()[kind]
    allowed = {e.subject for e in allowlist() if e.kind == kind}
    new = sorted(found - allowed)
    stale = sorted(allowed - found)
    message = []
    if new:
        message.append(f"new {kind} (fix it, or add a line with a reason):")
        message += [f"  {kind} {subject} # <reason>" for subject in new]
    if stale:
        message.append(f"stale {kind} entries (fixed: remove them from {ALLOWLIST.name}):")
        message += [f"  {kind} {subject}" for subject in stale]
    assert not message, "\n".join(message)


def test_the_central_systems_command_line_is_one_package() -> None:
    elsewhere = sorted(
        name
        for name in modules()
        if _is_cli(name) and _top(name) == "csms" and not _within(name, "csms.cli")
    )
    assert not elsewhere, f"command-line modules outside csms.cli: {elsewhere}"


def test_the_checks_see_what_they_check() -> None:
    """A check that reads nothing passes vacuously: the reading itself is checked here."""
    known = modules()
    assert {"csms.app", "optimizer.model", "simulators.station", "chargegrid.clock"} <= set(known)
    imports = {i.target for i in known["csms.app"].imports}
    assert "csms.config" in imports
    assert _forbidden("optimizer.model", "csms.domain")
    assert _forbidden("csms.store.sql", "csms.api.tables")
    assert _forbidden("csms.telemetry.points", "csms.app")
    assert not _forbidden("csms.api.app", "csms.store.sql")
    assert _is_private("_helper") and not _is_private("__all__")
    loop = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(loop) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
