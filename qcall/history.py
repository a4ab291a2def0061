"""The history wired to the journal: archive closed days, close the current one, compact.

Triggered by the core service when a day is reset (`qcall serve`, the demo) and by
`qcall day close`. Each closed day's journal rows (from its `reset_day` row to the next accepted
one) are replayed through a fresh core (qhistory.replay), folded into facts (qhistory.collect) and
written in one transaction (qhistory.store), with a complaint for each 1-2 star rating.
Already-archived days are skipped, so running this any number of times, or after a crash
mid-archive, gives the same store.

Compaction: archived days older than `[history] keep_days_in_journal` are cut out of the journal
after a snapshot, at a day boundary and never past what the broker has confirmed, so start-up
time and the file stay bounded however many days the branch has run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from qbus.config import BranchConfig
from qhistory import complaints as cm
from qhistory.collect import facts_of
from qhistory.replay import booking_rows, day_starts, replay_day
from qhistory.store import SqlStore, open_store
from qserver.journal import Journal, Row
from qserver.store import DurableCore

_LOG = logging.getLogger(__name__)


def store_target(cfg: BranchConfig, journal: str | Path) -> str:
    """`[history] store`, or history.db beside the journal."""
    return cfg.history.store or str(Path(journal).with_name("history.db"))


def open_history(cfg: BranchConfig, journal: str | Path, target: str = "") -> SqlStore:
    return open_store(target or store_target(cfg, journal))


def archive_journal(cfg: BranchConfig, journal: Journal, store: SqlStore, *, include_current: bool = False,
                    now: float | None = None) -> list[str]:
    """Archive every closed day of the journal not yet in the store (and, with `include_current`,
    the journal's current day as it stands, closed at `now`); returns the days written."""
    starts = day_starts(journal.reset_rows())
    archived = {d.day for d in store.days(cfg.branch.id, "0000-00-00", "9999-99-99")}
    done = []
    carried: list[Row] | None = None
    for i, (seq, day) in enumerate(starts):
        last = starts[i + 1][0] if i + 1 < len(starts) else None
        if day in archived or (last is None and not include_current):
            continue
        if carried is None:  # one pass: the bookings each day's replay needs from the days before
            carried = booking_rows(journal.rows_between(journal.first_seq, starts[-1][0]))
        before = [r for r in carried if r.seq < seq]
        replayed = replay_day(cfg, journal.rows_between(seq, last), close_at=now, before=before)
        facts = facts_of(cfg, replayed, archived_at=time.time() if now is None else now)
        if store.archive(facts, cm.from_ratings(cfg, facts)):
            done.append(day)
            _LOG.info("history: day %s archived (%d tickets)", day, len(facts.tickets))
    return done


def compact(cfg: BranchConfig, durable: DurableCore, store: SqlStore, published_seq: int | None = None) -> int:
    """Cut archived days out of the journal after a snapshot, keeping the live day and the
    `keep_days_in_journal` days before it; returns how many rows went.

    As docs/architecture.md asks of compaction: the rows deleted end just before a day's
    `reset_day` row, and only where a snapshot start-up will use is stored at or after the cut:
    same schema and rules, and at or before the confirmed-published mark as the journal has it
    (start-up skips a snapshot past that mark to re-derive the outbox). `published_seq`, the
    service's own mark, may be newer than the stored one; the lower of the two counts."""
    keep = cfg.history.keep_days_in_journal
    j = durable.journal
    if keep <= 0:
        return 0
    starts = day_starts(j.reset_rows())
    if len(starts) <= keep + 1:  # the live day and `keep` days before it stay
        return 0
    archived = {d.day for d in store.days(cfg.branch.id, "0000-00-00", "9999-99-99")}
    cut = starts[-(keep + 1)][0]  # the oldest day kept starts here
    for seq, day in starts[:-(keep + 1)]:
        if day not in archived:
            cut = seq
            break
    if cut <= j.first_seq:
        return 0
    if not durable.pending:
        durable.snapshot()  # waits for the writer: the snapshot is stored when this returns
    mark = j.meta("published_seq")
    published = int(mark) if mark else (0 if durable.track_published else j.last_seq)
    if published_seq is not None:
        published = min(published, published_seq)
    usable = [s.seq for s in j.snapshots() if s.schema == durable.schema and s.config == durable.config_digest
              and s.seq <= published]
    if not usable:
        return 0
    cut = max((s for s, _ in starts if s <= min(cut, max(usable) + 1)), default=0)
    if cut <= j.first_seq:
        return 0
    return j.compact(cut)


def close_day(cfg: BranchConfig, journal_path: str | Path, target: str = "", now: float | None = None) -> list[str]:
    """`qcall day close`: archive every closed day and the current one as it stands."""
    path = Path(journal_path)
    journal = Journal(path)
    try:
        store = open_history(cfg, path, target)
        try:
            return archive_journal(cfg, journal, store, include_current=True, now=now)
        finally:
            store.close()
    finally:
        journal.close()


class DayCloser:
    """The core service's hook: when a day is reset, archive the day it closed, then compact."""

    def __init__(self, cfg: BranchConfig, durable: DurableCore, target: str = "") -> None:
        self.cfg = cfg
        self.durable = durable
        self.target = target or store_target(cfg, durable.journal.path)

    def __call__(self, day: str, published_seq: int | None = None) -> None:
        try:
            store = open_store(self.target)
        except Exception:
            _LOG.exception("history store %s cannot be opened; day %s stays in the journal", self.target, day)
            return
        try:
            archive_journal(self.cfg, self.durable.journal, store)
            compact(self.cfg, self.durable, store, published_seq)
        except Exception:  # the queue must keep running; the next reset (or `qcall day close`) retries
            _LOG.exception("archiving into the history failed; the journal keeps the days")
        finally:
            store.close()
