from __future__ import annotations

from pathlib import Path

from csms.telemetry.outbox import Outbox


def test_fifo_and_removal_only_on_request(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.append(["a 1", "b 2", "c 3"]) == 0
    assert box.depth == 3 and box.size_bytes == 9
    batch = box.peek(2)
    assert [line for _, line in batch] == ["a 1", "b 2"]
    assert box.depth == 3  # peeking removes nothing
    assert box.remove(batch[0][0], batch[-1][0]) == 2
    assert [line for _, line in box.peek(10)] == ["c 3"]
    assert box.depth == 1 and box.size_bytes == 3


def test_survives_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.append([f"m v={i}" for i in range(100)])
    box.remove(*(s for s, _ in box.peek(10)[::9]))
    box.close()
    again = Outbox(path)
    assert again.depth == 90
    assert [line for _, line in again.peek(1000)] == [f"m v={i}" for i in range(10, 100)]


def test_sequence_numbers_never_repeat(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.append(["x"])
    ((seq, _),) = box.peek(1)
    box.remove(seq, seq)
    box.append(["y"])
    ((seq2, _),) = box.peek(1)
    assert seq2 > seq
    assert box.remove(seq, seq) == 0  # a stale range does not touch newer points
    assert box.depth == 1


def test_drop_oldest_keeps_the_newest_within_the_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=10)
    assert box.append(["aa", "bb", "cc"]) == 0
    assert box.append(["dd", "ee", "ff"]) == 1
    assert [line for _, line in box.peek(10)] == ["bb", "cc", "dd", "ee", "ff"]
    assert box.size_bytes == 10
    # more than the whole bound at once: everything old goes, then the oldest new lines
    assert box.append(["0123456789", "abcdefghijk"]) == 7
    assert [line for _, line in box.peek(10)] == []
    assert box.append(["0123456789"]) == 0
    assert box.size_bytes == 10


def test_drop_newest_refuses_what_does_not_fit(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=7, drop_policy="drop_newest")
    assert box.append(["aa", "bb"]) == 0
    assert box.append(["cc", "dd", "ee"]) == 2
    assert [line for _, line in box.peek(10)] == ["aa", "bb", "cc"]


def test_set_aside_moves_a_point_to_rejected(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", keep_rejected=2)
    box.append(["good", "bad1", "bad2", "bad3"])
    rows = box.peek(10)
    for seq, line in rows[1:]:
        box.set_aside(seq, line, f"refused {line}")
    assert [line for _, line in box.peek(10)] == ["good"]
    assert box.depth == 1 and box.size_bytes == 4
    assert box.rejected() == [("bad2", "refused bad2"), ("bad3", "refused bad3")]


def test_an_unreadable_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    box = Outbox(path)
    assert box.depth == 0
    box.append(["m v=1 1"])
    assert box.depth == 1
    box.close()
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith("o.sqlite3.corrupt-")
