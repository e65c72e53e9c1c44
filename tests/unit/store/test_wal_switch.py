"""Two nodes opening one new SQLite file at once: the connection SQLite refuses at once to
break the deadlock of two journal-mode switches tries again, within the busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from csms.store.engine import switch_to_wal


class Cursor:
    """A real connection's cursor that SQLite refuses ``refusals`` times first, as it
    refuses the loser of two simultaneous switches."""

    def __init__(self, path: Path, refusals: int, message: str = "database is locked") -> None:
        self.connection = sqlite3.connect(path)
        self.refusals = refusals
        self.message = message
        self.calls = 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise sqlite3.OperationalError(self.message)
        self.connection.execute(sql)


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return mode


def test_a_refused_switch_is_tried_again_until_it_takes(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    cursor = Cursor(path, refusals=3)
    switch_to_wal(cursor, busy_timeout_s=5.0)
    assert cursor.calls == 4
    assert journal_mode(path) == "wal"


def test_a_switch_still_refused_after_the_busy_timeout_fails(tmp_path: Path) -> None:
    cursor = Cursor(tmp_path / "new.db", refusals=10**9)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(cursor, busy_timeout_s=0.05)
    assert cursor.calls > 1


def test_other_errors_are_not_tried_again(tmp_path: Path) -> None:
    cursor = Cursor(tmp_path / "new.db", refusals=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        switch_to_wal(cursor, busy_timeout_s=5.0)
    assert cursor.calls == 1
