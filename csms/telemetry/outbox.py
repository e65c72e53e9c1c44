"""The durable outbox: an SQLite-backed FIFO of line-protocol points.

Points enter with :meth:`Outbox.append` and leave only through :meth:`Outbox.remove` once the
server accepted them, so a crash or an outage loses nothing that reached the file; after a
restart :meth:`Outbox.peek` hands out the oldest points first, in the order they came.

Disk use is bounded by ``max_bytes`` of line protocol. When an append would exceed it the
``drop_policy`` decides: ``drop_oldest`` deletes the oldest points to make room (the default:
recent data matters most to operators), ``drop_newest`` refuses the new ones. Either way the
count comes back to the caller, which counts and logs it. Points the server refuses outright
go to a small ``rejected`` table for inspection (the newest ``keep_rejected`` of them).

Sequence numbers never repeat (AUTOINCREMENT), so removing a range that was dropped meanwhile
cannot touch newer points. The object is shared by the pipeline's threads; one lock
serializes its SQLite work.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = ["DropPolicy", "Outbox"]

logger = logging.getLogger(__name__)

DropPolicy = Literal["drop_oldest", "drop_newest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, line TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL
);
"""


class Outbox:
    """A FIFO of line-protocol strings in an SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        drop_policy: DropPolicy = "drop_oldest",
        synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL",
        keep_rejected: int = 1000,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.drop_policy: DropPolicy = drop_policy
        self.keep_rejected = keep_rejected
        self._lock = threading.Lock()
        try:
            self._db, row = self._open(synchronous)
        except sqlite3.DatabaseError as exc:
            if str(path) == ":memory:":
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.error(
                "telemetry outbox %s is unreadable (%s); moved it to %s and starting empty",
                self.path,
                exc,
                aside,
            )
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db, row = self._open(synchronous)
        self._depth: int = row[0]
        self._bytes: int = row[1]
        if self._depth:
            logger.info("telemetry outbox %s holds %d points from before", self.path, self._depth)

    def _open(self, synchronous: str) -> tuple[sqlite3.Connection, tuple[int, int]]:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.executescript(_SCHEMA)
            row = db.execute(
                "SELECT count(*), coalesce(sum(length(line)), 0) FROM outbox"
            ).fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db, (int(row[0]), int(row[1]))

    @property
    def depth(self) -> int:
        """Points waiting."""
        return self._depth

    @property
    def size_bytes(self) -> int:
        """Line-protocol bytes waiting (the quantity ``max_bytes`` bounds)."""
        return self._bytes

    def append(self, lines: Sequence[str]) -> int:
        """Store ``lines`` durably, in order; returns how many points were dropped to stay
        within ``max_bytes`` (old ones or these, per the drop policy)."""
        if not lines:
            return 0
        incoming = sum(map(len, lines))
        dropped = 0
        with self._lock:
            if self._bytes + incoming > self.max_bytes:
                if self.drop_policy == "drop_newest":
                    room = self.max_bytes - self._bytes
                    keep = 0
                    for line in lines:
                        room -= len(line)
                        if room < 0:
                            break
                        keep += 1
                    dropped = len(lines) - keep
                    lines = lines[:keep]
                    incoming = sum(map(len, lines))
                else:
                    dropped = self._drop_oldest_locked(self._bytes + incoming - self.max_bytes)
                    if incoming > self.max_bytes:  # a single append bigger than the bound
                        cut = 0
                        while incoming > self.max_bytes:
                            incoming -= len(lines[cut])
                            cut += 1
                        dropped += cut
                        lines = lines[cut:]
            if lines:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO outbox(line) VALUES (?)", ((s,) for s in lines))
                self._db.execute("COMMIT")
                self._depth += len(lines)
                self._bytes += incoming
        return dropped

    def _drop_oldest_locked(self, need_bytes: int) -> int:
        dropped = 0
        freed = 0
        while freed < need_bytes and self._depth > 0:
            rows = self._db.execute(
                "SELECT seq, length(line) FROM outbox ORDER BY seq LIMIT 1000"
            ).fetchall()
            if not rows:
                break
            cut = rows[0][0]
            for seq, n in rows:
                cut = seq
                freed += n
                dropped += 1
                self._depth -= 1
                self._bytes -= n
                if freed >= need_bytes:
                    break
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (cut,))
        return dropped

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` points as ``(seq, line)``, oldest first; nothing is removed."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, line FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()

    def remove(self, first_seq: int, last_seq: int, *, count: int = -1, nbytes: int = 0) -> int:
        """Remove the points ``first_seq..last_seq`` (inclusive) once they are safe on the
        server; returns how many were still there.

        A caller that peeked the range passes its ``count`` points and ``nbytes`` bytes, which
        saves reading the lines back; if fewer rows were there (the drop policy removed some
        meanwhile), the byte count is recomputed.
        """
        with self._lock:
            if count < 0:
                rows = self._db.execute(
                    "DELETE FROM outbox WHERE seq BETWEEN ? AND ? RETURNING length(line)",
                    (first_seq, last_seq),
                ).fetchall()
                self._depth -= len(rows)
                self._bytes -= sum(n for (n,) in rows)
                return len(rows)
            removed = self._db.execute(
                "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first_seq, last_seq)
            ).rowcount
            if removed == count:
                self._depth -= removed
                self._bytes -= nbytes
            else:
                row = self._db.execute(
                    "SELECT count(*), coalesce(sum(length(line)), 0) FROM outbox"
                ).fetchone()
                self._depth, self._bytes = row[0], row[1]
            return int(removed)

    def set_aside(self, seq: int | None, line: str, reason: str) -> None:
        """Move a point the server refused to the ``rejected`` table (``seq=None``: a point
        that never was in the outbox)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO rejected(seq, line, reason, at) VALUES (?, ?, ?, ?)",
                (seq, line, reason[:500], time.time()),
            )
            rows = (
                self._db.execute(
                    "DELETE FROM outbox WHERE seq = ? RETURNING length(line)", (seq,)
                ).fetchall()
                if seq is not None
                else []
            )
            self._db.execute(
                "DELETE FROM rejected WHERE seq NOT IN "
                "(SELECT seq FROM rejected ORDER BY seq DESC LIMIT ?)",
                (self.keep_rejected,),
            )
            self._db.execute("COMMIT")
            self._depth -= len(rows)
            self._bytes -= sum(n for (n,) in rows)

    def rejected(self) -> list[tuple[str, str]]:
        """The points set aside, oldest first, as ``(line, reason)``."""
        with self._lock:
            return self._db.execute("SELECT line, reason FROM rejected ORDER BY seq").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
