"""Snapshots (issue 16, issue 10 §5): an explicit versioned structure, refused after a change of
the core's shape, kept across config edits that do not change the core's behaviour, written in
the background, and compatible with a journal whose old rows were archived. Real SQLite files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus import messages as m
from qbus.config import BranchConfig, load
from qcore import BranchCore, snapshot
from qcore.ticket import Ticket
from qserver import store as store_mod
from qserver.store import DurableCore
from tests.core_export import export
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
T0 = 1_796_000_400.0  # 2026-11-30 09:00 in Shanghai
CARD = "9f2c" + "0" * 60  # a card's keyed hash (as the kiosk sends it), never its number


def busy_day(store: DurableCore, n: int = 120) -> None:
    """Issues of every kind, calls, transfers, skips, a pending rating, an appointment, bookings
    (one checked in by its card's hash, one for tomorrow, one cancelled)."""
    now = T0
    store.submit("reset", "manager", m.ResetDay(day="2026-11-30"), now)
    for code, at, customer in (("SNAP01", T0 + 1800, CARD), ("SNAP02", T0 + 86400, ""), ("SNAP03", T0 + 3600, "")):
        store.submit(f"b{code}", "manager1", m.Book(code=code, at=at, business="cash", customer=customer,
                                                    masked_name="李*"), now)
    store.submit("xSNAP03", "manager1", m.CancelBooking(code="SNAP03", by="zhaomin"), now)
    for cid in (1, 2, 3):
        tid = CFG.teller[cid - 1].id
        store.submit(f"in{cid}", f"counter{cid}", m.Login(counter=cid, teller=tid, pin=tid), now)
    for i in range(n):
        now += 11
        store.submit(f"i{i}", "kiosk1", m.Issue(business=("cash", "personal")[i % 2],
                                               tier=("normal", "vip", "normal")[i % 3]), now)
        if i % 4 == 0:
            cid = (1, 2, 3)[i % 3]
            dev = f"counter{cid}"
            store.submit(f"c{i}", dev, m.CallNext(counter=cid), now)
            store.submit(f"s{i}", dev, m.StartService(counter=cid), now + 1)
            if i % 8 == 0:
                store.submit(f"f{i}", dev, m.FinishService(counter=cid), now + 2)
            else:
                store.submit(f"t{i}", dev, m.Transfer(counter=cid, to_business="cash"), now + 2)
        if i == 100:  # 12 minutes before SNAP01's time: its card checks in
            store.submit("ci", "kiosk1", m.CheckIn(customer=CARD, kiosk="kiosk1"), now)
        if i % 30 == 7:
            store.submit(f"a{i}", "manager1", m.Issue(business="cash", appointment_at=now + 600), now)
        store.commit()
        store.core.events.clear()


def test_restore_from_a_snapshot_equals_the_live_core(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = DurableCore(CFG, path, snapshot_every=10**6)
    busy_day(store)
    assert store.snapshot()  # captured here, written by the background writer
    assert store.writer.written == [store.journal.last_seq]
    live = export(store.core)
    assert [(b["code"], b["status"]) for b in live["bookings"]["bookings"]] == [
        ("SNAP01", "checked_in"), ("SNAP03", "cancelled"), ("SNAP02", "booked")]
    store.close()
    again = DurableCore(CFG, path)
    assert again.snap_seq > 0 and again.replayed == 0
    assert export(again.core) == live  # bookings too: tomorrow's still there, SNAP01's card hash kept
    assert again.core.bookings["SNAP01"].customer == CARD
    again.close()


def _a_snapshot_and_then_some(path: Path, cfg: BranchConfig = CFG) -> dict[str, Any]:
    store = DurableCore(cfg, path, snapshot_every=10**6)
    busy_day(store, 60)
    assert store.snapshot()
    store.submit("late", "kiosk1", m.Issue(business="cash"), T0 + 3600)
    store.commit()
    live = export(store.core)
    store.close()
    return live


def test_a_change_of_the_cores_shape_refuses_the_old_snapshot(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    live = _a_snapshot_and_then_some(path)

    class TicketRowV2(snapshot.TicketRow, array_like=True):  # a developer adds a ticket field
        priority_note: str = ""

    old = snapshot.SCHEMA
    monkeypatch.setattr(snapshot, "TicketRow", TicketRowV2)
    new = snapshot.schema()
    assert new != old, "the schema follows the structure: no hand-bumped version"
    monkeypatch.setattr(snapshot, "SCHEMA", new)
    again = DurableCore(CFG, path)
    assert again.snap_seq == 0 and again.replayed == again.journal.last_seq  # refused: replayed
    assert export(again.core) == live
    again.close()


def test_a_core_attribute_the_snapshot_does_not_cover_is_refused_not_dropped(tmp_path: Path) -> None:
    class FatTicket(Ticket):
        __slots__ = ("vip_note",)

    with pytest.raises(snapshot.SnapshotError, match="vip_note"):
        snapshot.check_shape(ticket=FatTicket)

    class FatCore(BranchCore):
        def __init__(self) -> None:
            super().__init__(CFG, "2026-11-30")
            self.vip_notes: dict[str, str] = {}  # new state, no snapshot field for it

    core = FatCore()
    with pytest.raises(snapshot.SnapshotError, match="vip_notes"):
        snapshot.capture(core)
    assert "vip_notes" not in snapshot.CORE_STATE | snapshot.CORE_DERIVED
    assert snapshot.schema() == snapshot.SCHEMA


def test_editing_the_notice_the_journal_path_or_the_broker_keeps_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    live = _a_snapshot_and_then_some(path)
    moved = tmp_path / "var2" / "journal.db"
    moved.parent.mkdir()
    for suffix in ("", ".id"):  # a person moves the journal (and its marker) and edits the config
        shutil.move(path.with_name(path.name + suffix), moved.with_name(moved.name + suffix))
    edited = msgspec.structs.replace(
        CFG, display=msgspec.structs.replace(CFG.display, notice_zh="今日理财讲座 14:00"),
        storage=msgspec.structs.replace(CFG.storage, journal=str(moved)),
        bus=msgspec.structs.replace(CFG.bus, port=18883),
        pins=msgspec.structs.replace(CFG.pins, file="/elsewhere/pins.toml", max_failures=3))
    again = DurableCore(edited, moved)
    assert again.snap_seq > 0 and again.replayed == 1
    assert export(again.core) == {**live, "hall_view": export(again.core)["hall_view"]}
    again.close()
    rules = msgspec.structs.replace(CFG, rules=msgspec.structs.replace(CFG.rules, interleave_priority=3))
    replayed = DurableCore(rules, moved)  # the calling rules changed: replay under the new ones
    assert replayed.snap_seq == 0 and replayed.replayed == replayed.journal.last_seq
    replayed.close()


def test_old_rows_archived_after_a_snapshot_still_start(tmp_path: Path) -> None:
    """What issue 11's compaction will do: drop rows up to a snapshot, record the first row kept."""
    path = tmp_path / "journal.db"
    live = _a_snapshot_and_then_some(path)
    store = DurableCore(CFG, path)
    cut = store.snap_seq
    store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM journal WHERE seq <= ?", (cut,))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('first_seq', ?)", (str(cut + 1),))
    db.commit()
    again = DurableCore(CFG, path)
    assert again.snap_seq == cut and export(again.core) == live
    again.close()
    db.execute("DELETE FROM snapshots")
    db.commit()
    db.close()
    from qserver.errors import JournalCorrupt

    with pytest.raises(JournalCorrupt, match="archived; replay needs a snapshot"):
        DurableCore(CFG, path)


def test_snapshots_are_written_in_the_background_every_n_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = DurableCore(CFG, path, snapshot_every=100)
    busy_day(store, 200)
    store.writer.wait_idle()
    assert store.writer.written and store.writer.failed == 0
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] <= 3  # the newest three kept
    orphans = db.execute("SELECT count(*) FROM snapshot_parts WHERE seq NOT IN "
                         "(SELECT seq FROM snapshots)").fetchone()[0]
    db.close()
    assert orphans == 0
    live = export(store.core)
    store.close()
    again = DurableCore(CFG, path)
    assert again.snap_seq == store.writer.written[-1] and export(again.core) == live
    again.close()
    assert store_mod.snapshot_schema() == again.schema
