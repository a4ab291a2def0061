"""The history wired to the journal: archive closed days, close the current one, compact.

Triggered by the core service when a day is reset (`qcall serve`, the demo) and by
`qcall day close`. Each closed day's journal rows (from its `reset_day` row to the next accepted
one) are replayed through a fresh core (qhistory.replay), folded into facts (qhistory.collect) and
written in one transaction (qhistory.store), with a complaint for each 1-2 star rating.
Already-archived days are skipped, so running this any number of times, or after a crash
mid-archive, gives the same store.

Head office: when the branch has an `[hq]` link, each archived day is also published on the
branch broker as `archive/<day>/<part>` (qhistory.parts: `public(DayFacts)`, no customer hash,
split so each part fits the broker's `max_packet_size`), QoS 1; the bridge carries it to head
office, whose ingest archives it into its own history store (docs/hq.md). The journal's meta
`hq_sent_through` is the newest day the branch broker acknowledged whole (every earlier one
too); each close sends the archived days after it (at most the last RESEND_DAYS), so a day whose
parts never reached the broker (the core stopped first, the broker was away) goes at the next
close. Head office stores a day once however often it comes.

Compaction: archived days older than `[history] keep_days_in_journal` are cut out of the journal
after a snapshot, at a day boundary and never past what the broker has confirmed, so start-up
time and the file stay bounded however many days the branch has run.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from qbus.client import BusClient
from qbus.config import BranchConfig
from qbus.topics import Topics
from qhistory import complaints as cm
from qhistory import parts
from qhistory.collect import facts_of
from qhistory.facts import DayFacts
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


Publish = Callable[[str, bytes, Callable[[], None]], bool]
"""Publish `payload` on `topic` at QoS 1 (the core's bus client), calling the callback once the
broker acknowledged it; False if it was not queued."""

HQ_SENT = "hq_sent_through"  # journal meta: the newest day the branch broker acknowledged whole
RESEND_DAYS = 7  # a close sends at most this many unacknowledged days (a week's outage or crash)


def qos1(bus: BusClient) -> Publish:
    """The core's own bus client as the archive's publisher (QoS 1: queued while offline)."""
    return lambda topic, payload, on_sent: bus.publish_raw(topic, payload, qos=1, on_sent=on_sent)


def publish_archive(cfg: BranchConfig, facts: DayFacts, publish: Publish,
                    on_all_sent: Callable[[], None] = lambda: None) -> int:
    """Send a closed day to head office: its public facts in parts that each fit the branch
    broker's `max_packet_size` (the central broker's is the same default; a bigger one there
    changes nothing). `on_all_sent` runs once the broker acknowledged every part. Returns the
    parts queued; a part the client refused is logged, and the day goes again at the next close."""
    t = Topics(cfg.bus.prefix, cfg.branch.id)
    rec = facts.record
    # The topic and MQTT's header take < 100 bytes of the packet; keep a round margin.
    payloads = parts.split(facts, cfg.bus.max_packet_size - 512)
    left = [len(payloads)]
    lock = threading.Lock()

    def acked() -> None:  # on the bus client's network thread
        with lock:
            left[0] -= 1
            done = left[0] == 0
        if done:
            on_all_sent()

    sent = 0
    for k, payload in enumerate(payloads, 1):
        if publish(t.archive(rec.day, k), payload, acked):
            sent += 1
        else:
            _LOG.error("head office: part %d of %d of day %s was not sent", k, len(payloads), rec.day)
    _LOG.info("head office: day %s sent in %d part(s), %d bytes", rec.day, len(payloads), sum(map(len, payloads)))
    return sent


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

    def __init__(self, cfg: BranchConfig, durable: DurableCore, target: str = "",
                 publish: Publish | None = None) -> None:
        self.cfg = cfg
        self.durable = durable
        self.target = target or store_target(cfg, durable.journal.path)
        # Only a branch linked to head office sends its days there.
        self.publish = publish if cfg.hq.host else None
        self._acked: set[str] = set()  # days the broker acknowledged whole since this start
        self._lock = threading.Lock()

    def send_pending(self, store: SqlStore) -> list[str]:
        """Send head office the archived days after the acknowledged mark (the newest
        RESEND_DAYS of them), first moving the mark over the days acknowledged since; returns the
        days sent. Runs in the service thread, which owns the journal's meta."""
        if self.publish is None:
            return []
        j, branch = self.durable.journal, self.cfg.branch.id
        days = [d.day for d in store.days(branch, "0000-00-00", "9999-99-99")]
        mark = old = j.meta(HQ_SENT)
        with self._lock:
            acked = set(self._acked)
        for d in days:
            if d <= mark:
                continue
            if d not in acked:
                break
            mark = d
        if mark != old:
            j.set_meta(HQ_SENT, mark)
        sent = []
        for d in [d for d in days if d > mark][-RESEND_DAYS:]:
            facts = store.day_facts(branch, d)
            if facts is None:
                continue
            try:
                publish_archive(self.cfg, facts, self.publish, functools.partial(self._ack, d))
                sent.append(d)
            except Exception:  # never let head office's copy stop the branch's own archive
                _LOG.exception("head office: day %s could not be sent", d)
        return sent

    def _ack(self, day: str) -> None:
        with self._lock:
            self._acked.add(day)

    def acknowledged(self) -> set[str]:
        """Days the broker acknowledged whole since this closer was made."""
        with self._lock:
            return set(self._acked)

    def __call__(self, day: str, published_seq: int | None = None) -> None:
        try:
            store = open_store(self.target)
        except Exception:
            _LOG.exception("history store %s cannot be opened; day %s stays in the journal", self.target, day)
            return
        try:
            archive_journal(self.cfg, self.durable.journal, store)
            self.send_pending(store)
            compact(self.cfg, self.durable, store, published_seq)
        except Exception:  # the queue must keep running; the next reset (or `qcall day close`) retries
            _LOG.exception("archiving into the history failed; the journal keeps the days")
        finally:
            store.close()
