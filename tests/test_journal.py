"""Durability: the journal survives restarts, replays to the live state, and refuses damage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qbus import messages as m
from qbus.config import load
from qcore import BranchCore
from qserver.errors import JournalCorrupt
from qserver.journal import Journal
from qserver.pins import CHEAP_COST, PinBook
from qserver.salvage import repair
from qserver.store import DurableCore
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)


def state(core: BranchCore) -> tuple[object, ...]:
    """What a person could observe of the core: tickets, counters, queues, the hall view."""
    tickets = sorted((t.number, t.state.name, t.counter, t.wait_from, t.rating, t.recalls)
                     for t in core.tickets.values())
    return (core.day, tickets, core.counter_states(), core.queue_state(), core.hall_view(),
            [t.number for t in core.waiting_list()])


def busy(store: DurableCore, n: int = 40) -> None:
    now = 1_795_395_600.0
    store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), now)
    for cid, tid in ((1, "1001"), (3, "1003")):
        store.submit(f"in{cid}", f"counter{cid}", m.Login(counter=cid, teller=tid, pin=tid), now)
    for i in range(n):
        now += 7
        store.submit(f"i{i}", "kiosk1", m.Issue(business=("cash", "personal")[i % 2],
                                               tier=("normal", "vip")[i % 5 == 0]), now)
        if i % 3 == 0:
            cid = (1, 3)[i % 2]
            store.submit(f"c{i}", f"counter{cid}", m.CallNext(counter=cid), now + 1)
            store.submit(f"s{i}", f"counter{cid}", m.StartService(counter=cid), now + 2)
            store.submit(f"f{i}", f"counter{cid}", m.FinishService(counter=cid), now + 3)
            if i % 2:
                store.submit(f"r{i}", f"counter{cid}", m.Rate(counter=cid, stars=4), now + 4)
        if i % 10 == 0:
            store.commit()
    store.commit()


def test_restart_rebuilds_exactly_the_live_state(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db")
    busy(store)
    live = state(store.core)
    store.close()
    again = DurableCore(CFG, tmp_path / "j.db")
    assert state(again.core) == live
    again.close()


def test_snapshot_and_replay_agree(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db", snapshot_every=25)
    busy(store, 80)
    live = state(store.core)
    assert store.snap_seq > 0
    store.close()
    from_snapshot = DurableCore(CFG, tmp_path / "j.db")
    assert from_snapshot.snap_seq > 0 and state(from_snapshot.core) == live
    from_snapshot.close()
    db = sqlite3.connect(tmp_path / "j.db")
    db.execute("DELETE FROM snapshots")
    db.commit()
    db.close()
    full = DurableCore(CFG, tmp_path / "j.db")
    assert full.snap_seq == 0 and state(full.core) == live
    full.close()


def test_uncommitted_requests_are_not_durable(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db")
    store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), 1.0)
    store.commit()
    store.submit("i1", "kiosk1", m.Issue(business="cash"), 2.0)  # never committed, never acknowledged
    store.close()
    again = DurableCore(CFG, tmp_path / "j.db")
    assert "A001" not in again.core.tickets
    reply = again.submit("i2", "kiosk1", m.Issue(business="cash"), 3.0)
    assert reply.number == "A001"  # nobody holds the unacknowledged A001, so it is free
    again.close()


def test_retried_request_gets_the_same_reply_after_restart(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db")
    busy(store, 5)
    first = store.submit("again", "kiosk1", m.Issue(business="cash"), 1_795_400_000.0)
    store.commit()
    store.close()
    store = DurableCore(CFG, tmp_path / "j.db")
    retry = store.submit("again", "kiosk1", m.Issue(business="cash"), 1_795_400_010.0)
    assert retry == first
    assert sum(1 for t in store.core.tickets.values() if t.issued_at >= 1_795_400_000.0) == 1
    store.close()


def test_pin_is_never_journaled(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db", pins=PinBook.example_for(CFG, CHEAP_COST))
    store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), 1.0)
    assert store.submit("in", "counter1", m.Login(counter=1, teller="1001", pin="1001"), 2.0).ok
    bad = store.submit("in2", "counter2", m.Login(counter=2, teller="1002", pin="0000"), 2.0)
    assert not bad.ok and bad.error is not None and bad.error.code == "bad_pin"
    store.commit()
    store.close()
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir())
    assert b'"teller":"1001"' in raw
    assert b'"pin":"1001"' not in raw and b"0000" not in raw


def _corrupt_row(path: Path, seq: int) -> None:
    db = sqlite3.connect(path)
    (cmd,) = db.execute("SELECT cmd FROM journal WHERE seq = ?", (seq,)).fetchone()
    damaged = bytes(cmd[:-2]) + bytes([cmd[-2] ^ 0x01]) + bytes(cmd[-1:])  # one bit flipped
    db.execute("UPDATE journal SET cmd = ? WHERE seq = ?", (damaged, seq))
    db.commit()
    db.close()


def test_corrupt_row_is_reported_never_used(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = DurableCore(CFG, path)
    busy(store, 10)
    store.close()
    _corrupt_row(path, 5)
    with pytest.raises(JournalCorrupt, match="row 5 fails its checksum") as info:
        DurableCore(CFG, path)
    assert info.value.seq == 5


def test_missing_rows_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = DurableCore(CFG, path)
    busy(store, 10)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM journal WHERE seq = 7")
    db.commit()
    db.close()
    with pytest.raises(JournalCorrupt, match="rows 7..7 are missing"):
        DurableCore(CFG, path)


def test_damaged_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = DurableCore(CFG, path)
    busy(store, 30)
    store.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    for i in range(4096, len(data), 97):  # scribble over every page after the header
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        DurableCore(CFG, path)


def test_repair_cuts_before_the_bad_row_and_keeps_a_copy(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = DurableCore(CFG, path)
    busy(store, 10)
    store.close()
    _corrupt_row(path, 9)
    j = Journal(path)
    with pytest.raises(JournalCorrupt) as info:
        j.verify()
    j.close()
    assert info.value.seq == 9
    report = repair(path)
    assert report.kept == 8 and report.backup.exists()
    j = Journal(path)
    assert j.verify() == 8
    j.close()
    DurableCore(CFG, path).close()


def test_corrupt_snapshot_falls_back_to_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = DurableCore(CFG, path, snapshot_every=20)
    busy(store, 40)
    live = state(store.core)
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] > 0
    for seq, part, blob in db.execute("SELECT seq, part, data FROM snapshot_parts").fetchall():
        flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        db.execute("UPDATE snapshot_parts SET data = ? WHERE seq = ? AND part = ?", (flipped, seq, part))
    db.commit()
    db.close()
    again = DurableCore(CFG, path)
    assert again.snap_seq == 0 and state(again.core) == live
    again.close()
