"""The history store, the same tests on SQLite and on a real PostgreSQL: a day round-trips exactly,
archiving is idempotent (twice changes nothing) and survives a kill -9 mid-archive, complaints keep
their deadlines and outcome, and bad input is refused with a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from qhistory import complaints as cm
from qhistory.facts import DayFacts
from qhistory.schema import schema_sql
from qhistory.store import HistoryError, SqlStore, UnknownComplaint, open_store
from tests.coretools import DAY, T0
from tests.history_helpers import booking_days, cfg_with, hand_facts, make_store, same, target_of

CFG = cfg_with('[targets]\nreferral_businesses = ["loan"]\n')
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    yield from make_store(request.param, tmp_path, request)


def _counts(store: SqlStore) -> dict[str, int]:
    return {t: store._query(f"SELECT count(*) FROM {t}")[0][0]
            for t in ("history_day", "ticket_fact", "counter_span", "alert_fact", "kiosk_fact", "booking_fact",
                      "complaint")}


def test_a_day_comes_back_exactly_as_archived(store: SqlStore) -> None:
    facts = hand_facts(CFG)
    assert store.archive(facts, cm.from_ratings(CFG, facts))
    assert [d.day for d in store.days("hist", DAY, DAY)] == [DAY]
    back = DayFacts(record=store.days("hist", DAY, DAY)[0], tickets=store.tickets("hist", DAY, DAY),
                    spans=store.spans("hist", DAY, DAY), alerts=store.alerts("hist", DAY, DAY),
                    kiosk=store.kiosk("hist", DAY, DAY))
    assert same(back, facts)
    assert store.tickets("hist", "2026-03-03", "2026-03-31") == []
    assert store.branches() == ["hist"]


def test_a_days_bookings_come_back_exactly_as_archived(store: SqlStore) -> None:
    days = booking_days(CFG)
    for facts in days:
        assert store.archive(facts)
    for facts in days:
        d = facts.record.day
        back = store.bookings("hist", d, d)
        assert [b.code for b in back] == [b.code for b in facts.bookings] and same(
            DayFacts(record=facts.record, bookings=back), DayFacts(record=facts.record, bookings=facts.bookings))
    assert {b.outcome for b in store.bookings("hist", DAY, "2026-03-03")} == {"kept", "late", "missed", "cancelled"}
    assert not store.archive(days[0]) and _counts(store)["booking_fact"] == 5


def test_archiving_a_day_twice_changes_nothing(store: SqlStore) -> None:
    facts = hand_facts(CFG)
    assert store.archive(facts, cm.from_ratings(CFG, facts)) is True
    before = _counts(store)
    again = hand_facts(CFG)
    assert store.archive(again, cm.from_ratings(CFG, again)) is False
    assert _counts(store) == before
    assert before["ticket_fact"] == 6 and before["complaint"] == 1  # B001's two stars


def test_complaints_keep_deadlines_progress_and_outcome(store: SqlStore) -> None:
    c = cm.new(CFG, source="comment_book", opened_at=T0, text="叫号声音太小", contact="13800000000")
    cid = store.add_complaint(c)
    got = store.complaint(cid)
    assert got.contact_due == T0 + 24 * 3600 and got.reply_due == T0 + 3 * 86400
    assert got.close_due == T0 + 30 * 86400
    assert got.overdue(T0 + 25 * 3600) == ["contact"]
    cm.advance(store, cid, T0 + 3600, contacted=True, handler="lobby1")
    assert store.complaint(cid).overdue(T0 + 4 * 86400) == ["reply"]
    cm.close(store, cid, T0 + 2 * 86400, "已调整音量并回电 / volume raised, customer called back", "lobby1")
    done = store.complaint(cid)
    assert done.status == "closed" and done.closed_by == "lobby1" and done.overdue(T0 + 99 * 86400) == []
    with pytest.raises(cm.ComplaintError, match="already closed"):
        cm.close(store, cid, T0 + 3 * 86400, "again", "lobby1")
    with pytest.raises(UnknownComplaint):
        cm.close(store, 999, T0, "x", "lobby1")
    assert [x.id for x in store.complaints("hist", open_only=True)] == []


@pytest.mark.parametrize(("text", "source", "message"), [
    ("  ", "phone", "needs its text"),
    ("x" * 2001, "phone", "at most 2000"),
    ("ok", "pigeon", "source"),
])
def test_bad_complaints_are_refused(text: str, source: str, message: str) -> None:
    with pytest.raises(cm.ComplaintError, match=message):
        cm.new(CFG, source=source, opened_at=T0, text=text)


def test_closing_needs_outcome_and_person(store: SqlStore) -> None:
    cid = store.add_complaint(cm.new(CFG, source="phone", opened_at=T0, text="排队太久"))
    with pytest.raises(cm.ComplaintError, match="outcome"):
        cm.close(store, cid, T0, " ", "lobby1")
    with pytest.raises(cm.ComplaintError, match="person"):
        cm.close(store, cid, T0, "done", "")
    assert store.complaint(cid).status == "open"


def test_a_damaged_sqlite_store_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "history.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="cannot open the history store"):
        open_store(bad)


def test_the_schema_is_derived_from_the_facts() -> None:
    pg = "\n".join(schema_sql("postgres"))
    assert "life JSONB NOT NULL" in pg and "PRIMARY KEY (branch, day, number)" in pg
    assert "customer_hash TEXT" in "\n".join(schema_sql("sqlite"))


KILLER = """
import sys, msgspec
from qhistory.store import open_store
from qhistory.facts import DayFacts
facts = msgspec.json.decode(open(sys.argv[2], 'rb').read(), type=DayFacts)
store = open_store(sys.argv[1])
def stop_here():
    print("inside", flush=True)
    sys.stdin.readline()  # the parent kills us here, inside the open transaction
store._archiving_hook = stop_here
store.archive(facts)
print("committed", flush=True)
"""


def test_a_kill_9_mid_archive_leaves_nothing_and_archiving_again_gives_the_same(
        store: SqlStore, tmp_path: Path) -> None:
    facts = hand_facts(CFG)
    data = tmp_path / "day.json"
    data.write_bytes(msgspec.json.encode(facts))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLER, target_of(store), str(data)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "inside"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    if store.dialect == "postgres":  # the server notices the dead client and rolls back
        store._query("SELECT pg_sleep(0)")
    assert _counts(store)["ticket_fact"] == 0 and store.days("hist", DAY, DAY) == []
    assert store.archive(facts)
    clean = tmp_path / "clean.db"
    ref = open_store(clean)
    ref.archive(hand_facts(CFG))
    assert same(DayFacts(record=store.days("hist", DAY, DAY)[0], tickets=store.tickets("hist", DAY, DAY),
                         spans=store.spans("hist", DAY, DAY)),
                DayFacts(record=ref.days("hist", DAY, DAY)[0], tickets=ref.tickets("hist", DAY, DAY),
                         spans=ref.spans("hist", DAY, DAY)))
    ref.close()
