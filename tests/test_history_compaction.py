"""Archived days compacted out of the journal: the restarted core is the same, the journal keeps
only the days not yet archived or kept, and the service archives each day at its reset."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus import messages as m
from qcall.history import DayCloser, archive_journal, compact
from qcore import BranchCore
from qhistory.store import open_store
from qserver.errors import JournalCorrupt
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from tests.coretools import DAY
from tests.history_helpers import cfg_with, commands_of_hand_day, sender

CFG = cfg_with('[history]\nkeep_days_in_journal = 1\n')


def day_commands(k: int) -> list[tuple[float, Any]]:
    """The hand-built day moved k days later."""
    day = (dt.date.fromisoformat(DAY) + dt.timedelta(days=k)).isoformat()
    out = []
    for at, cmd in commands_of_hand_day():
        if isinstance(cmd, m.ResetDay):
            cmd = m.ResetDay(day=day)
        out.append((at + k * 86400, cmd))
    return out


def run_days(store: DurableCore, days: range) -> None:
    for k in days:
        for i, (at, cmd) in enumerate(day_commands(k)):
            assert store.submit(f"d{k}-{i}", sender(cmd), cmd, at).ok, cmd
        store.commit()


def state(core: BranchCore) -> bytes:
    return msgspec.json.encode([core.day, core.counter_states(), core.queue_state(),
                                sorted((t.number, int(t.state), t.issued_at) for t in core.tickets.values())])


def test_compacting_archived_days_keeps_the_restart_identical(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    live = DurableCore(CFG, journal, snapshot_every=10**9,
                       pins=PinBook.example_for(CFG, CHEAP_COST))
    run_days(live, range(4))  # four days; the fourth is the live one
    hist = open_store(tmp_path / "history.db")
    assert archive_journal(CFG, live.journal, hist) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    rows_before = live.journal.last_seq
    removed = compact(CFG, live, hist)
    # keep_days_in_journal = 1: the last archived day and the live one stay.
    kept_from = live.journal.first_seq
    assert removed == kept_from - 1 and 0 < removed < rows_before
    first = next(live.journal.rows(kept_from - 1))
    assert msgspec.json.decode(first.cmd)["day"] == "2026-03-04"
    want = state(live.core)
    live.close()
    again = DurableCore(CFG, journal, snapshot_every=10**9)
    assert state(again.core) == want
    assert archive_journal(CFG, again.journal, hist) == []  # nothing lost, nothing twice
    assert again.journal.verify() == rows_before - removed  # `qcall journal check` on what is kept
    # Without a usable snapshot the rows it stood for are gone: start-up says so, never guesses.
    again.journal.db.execute("DELETE FROM snapshot_parts")
    again.journal.db.execute("DELETE FROM snapshots")
    again.close()
    with pytest.raises(JournalCorrupt, match="were archived; replay needs a snapshot"):
        DurableCore(CFG, journal, snapshot_every=10**9)
    hist.close()


def test_compaction_waits_for_the_broker_to_confirm_the_snapshots_rows(tmp_path: Path) -> None:
    """The service's outbox re-derives events after the published mark: a snapshot past it is not
    used at start-up, so no cut may depend on it."""
    live = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9, outbox=True,
                       pins=PinBook.example_for(CFG, CHEAP_COST))
    run_days(live, range(4))
    hist = open_store(tmp_path / "history.db")
    archive_journal(CFG, live.journal, hist)
    live.journal.set_meta("published_seq", "10")  # the broker confirmed only the first rows
    assert compact(CFG, live, hist) == 0 and live.journal.first_seq == 1
    live.journal.set_meta("published_seq", str(live.journal.last_seq))
    assert compact(CFG, live, hist) > 0
    live.close()
    again = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9, outbox=True)
    assert again.outbox == [] and again.core.day == "2026-03-05"
    again.close()
    hist.close()


def test_a_day_not_archived_is_never_compacted(tmp_path: Path) -> None:
    live = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9,
                       pins=PinBook.example_for(CFG, CHEAP_COST))
    run_days(live, range(3))
    hist = open_store(tmp_path / "history.db")
    assert compact(CFG, live, hist) == 0  # nothing archived yet
    assert live.journal.first_seq == 1
    hist.close()
    live.close()


def test_the_service_hook_archives_the_day_a_reset_closes(tmp_path: Path) -> None:
    live = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9,
                       pins=PinBook.example_for(CFG, CHEAP_COST))
    run_days(live, range(2))
    closer = DayCloser(CFG, live, str(tmp_path / "history.db"))
    closer("2026-03-03", live.journal.last_seq)
    hist = open_store(tmp_path / "history.db")
    assert [d.day for d in hist.days("hist", "2026-01-01", "2026-12-31")] == ["2026-03-02"]
    assert len(hist.tickets("hist", "2026-03-02", "2026-03-02")) == 6
    hist.close()
    live.close()


def test_a_broken_history_store_never_stops_the_queue(tmp_path: Path) -> None:
    live = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9,
                       pins=PinBook.example_for(CFG, CHEAP_COST))
    run_days(live, range(2))
    bad = tmp_path / "history.db"
    bad.write_bytes(b"not a database" * 100)
    DayCloser(CFG, live, str(bad))("2026-03-03", live.journal.last_seq)  # logs, does not raise
    assert live.journal.first_seq == 1
    live.close()
