"""The site file (TOML): read, convert kW/kWh to W/Wh, validate, and name the file and line
of every problem.

``tomllib`` gives no line numbers, so :class:`KeyLines` scans the text for table headers
(``[tariff]``, ``[[nodes]]``, ``[[stations.evses]]``) and ``key =`` lines and maps each
key path (``("stations", 0, "evses", 1, "phase")``) to the line where it is written. See
``docs/sites.md`` for the format.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from csms.sites.exceptions import InvalidSite, SiteFileError
from csms.sites.model import Site
from csms.sites.validation import check_site

__all__ = ["KeyLines", "dump_site_toml", "load_site_file", "parse_site_text"]

Path_ = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"))*)\s*="
)
_SCALE = {"_kw": ("_w", 1000.0), "_kwh": ("_wh", 1000.0)}
#: Top-level keys of ``[site]`` that are fields of :class:`Site` itself.
_SITE_KEYS = ("id", "name", "timezone")


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|[^.\s]+", text)
    return [p.strip('"') for p in parts]


class KeyLines:
    """Line numbers (1-based) of tables and keys in a TOML text."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        counts: dict[Path_, int] = {}
        current: Path_ = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                is_array = header.group(1) == "[["
                names = _split_key(header.group(2))
                resolved: Path_ = ()
                for name in names[:-1]:
                    resolved += (name,)
                    if resolved in counts:
                        resolved += (counts[resolved] - 1,)
                resolved += (names[-1],)
                if is_array:
                    counts[resolved] = counts.get(resolved, 0) + 1
                    resolved += (counts[resolved] - 1,)
                current = resolved
                self.lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                self.lines.setdefault(current + tuple(_split_key(key.group(1))), number)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest written ancestor."""
        path = tuple(path)
        while path:
            for candidate in _unit_variants(path):
                if candidate in self.lines:
                    return self.lines[candidate]
            path = path[:-1]
        return None


def _unit_variants(path: Path_) -> list[Path_]:
    out = [path]
    last = path[-1]
    if isinstance(last, str) and "_per_" not in last:
        for file_suffix, (model_suffix, _) in _SCALE.items():
            if last.endswith(model_suffix):
                out.append((*path[:-1], last[: -len(model_suffix)] + file_suffix))
    return out


def _convert(value: Any) -> Any:
    """``*_kw`` / ``*_kwh`` keys become ``*_w`` / ``*_wh`` (x1000), recursively."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            for file_suffix, (model_suffix, factor) in _SCALE.items():
                if "_per_" in key:
                    break  # prices: per kWh / per kW stay as written
                if key.endswith(file_suffix) and isinstance(item, int | float):
                    if not isinstance(item, bool):
                        key, item = key[: -len(file_suffix)] + model_suffix, item * factor
                    break
            out[key] = _convert(item)
        return out
    if isinstance(value, list):
        return [_convert(item) for item in value]
    return value


def _file_path(loc: tuple[str | int, ...]) -> Path_:
    """A location in :class:`Site` to the key path in the file (``id`` lives in ``[site]``)."""
    if loc and loc[0] in _SITE_KEYS:
        return ("site", *loc)
    return tuple(loc)


def _parse_loc(where: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z0-9_]+)|\[(\d+)\]", where):
        out.append(int(index) if index else name)
    return tuple(out)


def _message(source: str, lines: KeyLines, loc: tuple[str | int, ...], text: str) -> str:
    line = lines.line_of(_file_path(loc))
    where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    prefix = f"{source}:{line}" if line is not None else source
    return f"{prefix}: {where}: {text}" if where else f"{prefix}: {text}"


def parse_site_text(text: str, *, source: str = "<site>") -> tuple[Site, list[str]]:
    """Parse and validate a site file's text. Returns the site and the warnings (each naming
    ``source`` and the line); raises :class:`SiteFileError` listing every error."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteFileError([f"{source}: {exc}"]) from exc
    lines = KeyLines(text)
    doc = _convert(raw)
    site_table = doc.pop("site", None)
    if not isinstance(site_table, dict):
        raise SiteFileError([f'{source}:1: missing [site] table with at least id = "..."'])
    unknown = [k for k in site_table if k not in _SITE_KEYS]
    if unknown:
        raise SiteFileError([_message(source, lines, ("site", unknown[0]), "unknown key")])
    try:
        site = Site.model_validate({**site_table, **doc})
    except ValidationError as exc:
        raise SiteFileError(
            [_message(source, lines, tuple(err["loc"]), err["msg"]) for err in exc.errors()]
        ) from exc
    try:
        warnings = check_site(site)
    except InvalidSite as exc:
        raise SiteFileError(
            [_message(source, lines, _parse_loc(where), msg) for where, msg in exc.problems]
        ) from exc
    return site, [_message(source, lines, _parse_loc(where), msg) for where, msg in warnings]


def load_site_file(path: str | Path) -> tuple[Site, list[str]]:
    """Read a site file; see :func:`parse_site_text`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError([f"{path}: cannot read: {exc}"]) from exc
    return parse_site_text(text, source=str(path))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) and value == int(value) else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_table(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        if value is None or isinstance(value, dict) or _is_table_list(value):
            continue
        for file_suffix, (model_suffix, factor) in _SCALE.items():
            if key.endswith(model_suffix) and "_per_" not in key and isinstance(value, float):
                key, value = key[: -len(model_suffix)] + file_suffix, value / factor
                break
        out.append(f"{key} = {_toml_value(value)}")
    return out


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def dump_site_toml(site: Site) -> str:
    """The site as a site file (kW, kWh) that :func:`parse_site_text` reads back equal."""
    data = site.model_dump(mode="json")
    lines = ["[site]", *_toml_table({k: data.pop(k) for k in _SITE_KEYS})]
    for key in ("nodes", "stations", "pv", "storage", "swap", "fleets", "quirks"):
        for item in data[key]:
            lines += ["", f"[[{key}]]", *_toml_table(item)]
            for evse in item.get("evses", []):
                lines += ["", f"[[{key}.evses]]", *_toml_table(evse)]
    if data.get("meter") is not None:
        lines += ["", "[meter]", *_toml_table(data["meter"])]
    tariff = data["tariff"]
    lines += ["", "[tariff]", *_toml_table(tariff)]
    for period in tariff["periods"]:
        lines += ["", "[[tariff.periods]]", *_toml_table(period)]
    lines += ["", "[defaults]", *_toml_table(data["defaults"])]
    return "\n".join(lines) + "\n"
