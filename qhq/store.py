"""Writing one batch of messages from the central broker into PostgreSQL, in one transaction.

Events go in with one COPY into a temporary staging table and one INSERT ... SELECT ... ON CONFLICT
DO NOTHING into `hq_event` (a redelivered event conflicts on its key and is dropped); the day
roll-up and the live ticket table are advanced from the same staging rows in the same
transaction, so a crash leaves either the whole batch or none of it. The caller acknowledges the
batch's messages to the broker only after `write()` returned (qhq.ingest).

Day archives come in parts (qhistory.parts); each part is kept in `hq_archive`, and a day whose
parts are all there is handed, after the batch committed, to the history's store
(`PgStore.archive`, idempotent per branch and day). A crash between the two leaves the messages
unacknowledged: they come again, the parts change nothing and the day is archived then. Each
commit that changed what head office shows sends `NOTIFY qcall_hq` (the schema as its payload):
the head-office web re-reads its live board at once instead of polling.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import psycopg

from qbus import messages as m
from qbus.errors import PayloadError
from qbus.topics import event_type
from qhistory import parts
from qhistory.facts import DayFacts
from qhistory.store import HistoryError, PgStore
from qhq import schema
from qhq.config import HqConfig
from qhq.history import open_history

_LOG = logging.getLogger(__name__)

APP_NAME = "qcall-hq-ingest"

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS hq_stage (
    ord integer, branch text, seq bigint, n integer, at_epoch double precision, type text,
    number text, counter integer, business text, tier text, teller text, stars integer,
    waited_s real, service_s real, since_epoch double precision, body text
) ON COMMIT DELETE ROWS
"""
_COLUMNS = ("ord, branch, seq, n, at_epoch, type, number, counter, business, tier, teller, stars, "
            "waited_s, service_s, since_epoch, body")

_INSERT_EVENTS = """
WITH ins AS (
    INSERT INTO hq_event (branch, seq, n, at, type, number, counter, business, tier, teller, stars,
                          waited_s, service_s, body)
    SELECT branch, seq, n, to_timestamp(at_epoch), type, number, counter, business, tier, teller,
           stars, waited_s, service_s, body::jsonb
    FROM hq_stage ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING branch, at, type, tier, stars, waited_s
), roll AS (
    INSERT INTO hq_day AS d (branch, day, arrivals, called, wait_sum_s, served, cancelled, rated,
                             satisfied, vip_called, vip_in_target, alerts)
    SELECT branch, (at AT TIME ZONE %(tz)s - %(reset)s::interval)::date,
           count(*) FILTER (WHERE type = 'issued'),
           count(*) FILTER (WHERE type = 'called'),
           coalesce(sum(waited_s) FILTER (WHERE type = 'called'), 0),
           count(*) FILTER (WHERE type = 'finished'),
           count(*) FILTER (WHERE type = 'cancelled'),
           count(*) FILTER (WHERE type = 'rated' AND stars > 0),
           count(*) FILTER (WHERE type = 'rated' AND stars >= %(sat)s),
           count(*) FILTER (WHERE type = 'called' AND tier = ANY(%(vip)s)),
           count(*) FILTER (WHERE type = 'called' AND tier = ANY(%(vip)s) AND waited_s <= %(vip_s)s),
           count(*) FILTER (WHERE type = 'alert')
    FROM ins GROUP BY 1, 2
    ON CONFLICT (branch, day) DO UPDATE SET
        arrivals = d.arrivals + excluded.arrivals, called = d.called + excluded.called,
        wait_sum_s = d.wait_sum_s + excluded.wait_sum_s, served = d.served + excluded.served,
        cancelled = d.cancelled + excluded.cancelled, rated = d.rated + excluded.rated,
        satisfied = d.satisfied + excluded.satisfied, vip_called = d.vip_called + excluded.vip_called,
        vip_in_target = d.vip_in_target + excluded.vip_in_target, alerts = d.alerts + excluded.alerts
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM roll)
"""

_WAITING = ("issued", "requeued", "transferred")
_TICKET = """
INSERT INTO hq_ticket AS t (branch, number, waiting, since, business, tier, seq, n)
SELECT DISTINCT ON (branch, number) branch, number, type IN ('issued', 'requeued', 'transferred'),
       CASE WHEN since > 0 THEN to_timestamp(since) END, business, tier, seq, n
FROM (SELECT *, max(since_epoch) OVER (PARTITION BY branch, number) AS since FROM hq_stage
      WHERE type IN ('issued', 'requeued', 'transferred', 'called', 'cancelled')) s
ORDER BY branch, number, seq DESC, n DESC
ON CONFLICT (branch, number) DO UPDATE SET
    waiting = excluded.waiting, since = coalesce(excluded.since, t.since),
    business = CASE WHEN excluded.business <> '' THEN excluded.business ELSE t.business END,
    tier = CASE WHEN excluded.tier <> '' THEN excluded.tier ELSE t.tier END,
    seq = excluded.seq, n = excluded.n
WHERE (t.seq, t.n) < (excluded.seq, excluded.n)
"""
_DAY_RESET = """
UPDATE hq_ticket t SET waiting = false FROM hq_stage s
WHERE s.type = 'day_reset' AND t.branch = s.branch AND t.waiting AND (t.seq, t.n) < (s.seq, s.n)
"""


@dataclass(slots=True)
class Written:
    """What one batch did: events new to head office, repeats dropped, payloads refused."""

    events: int = 0
    duplicates: int = 0
    state: int = 0
    rejected: int = 0
    other: int = 0
    days_archived: int = 0  # whole days handed to the history store (new ones)
    branches: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Batch:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    state: dict[tuple[str, str], str] = field(default_factory=dict)
    links: dict[str, bool] = field(default_factory=dict)
    archives: dict[tuple[str, str, int], tuple[int, str]] = field(default_factory=dict)
    rejected: list[tuple[str, str, bytes]] = field(default_factory=list)
    day_reset: bool = False
    skipped: int = 0
    at_min: float = float("inf")
    at_max: float = 0.0


def _event_row(ord_: int, branch: str, ev: Any, payload: bytes) -> tuple[Any, ...]:
    number, since, business, tier = getattr(ev, "number", ""), 0.0, getattr(ev, "business", ""), ""
    if isinstance(ev, m.TicketIssued):
        number, since, business, tier = ev.ticket.number, ev.ticket.issued_at, ev.ticket.business, ev.ticket.tier
    elif isinstance(ev, (m.TicketCalled, m.WaitAlert)):
        tier = ev.tier
    elif isinstance(ev, m.TicketTransferred):
        business = ev.to_business
    return (ord_, branch, ev.seq, ev.n, ev.at, event_type(ev), number, getattr(ev, "counter", 0), business, tier,
            getattr(ev, "teller", ""), getattr(ev, "stars", 0), getattr(ev, "waited_s", None),
            getattr(ev, "service_s", None), since, payload.decode("utf-8"))


class HqStore:
    """One PostgreSQL connection that writes batches (qhq.ingest) and keeps the branch list."""

    def __init__(self, cfg: HqConfig, conn: psycopg.Connection[Any], dsn: str | None = None) -> None:
        self.cfg = cfg
        self.conn = conn
        self._dsn = dsn
        self._history: PgStore | None = None
        self.prefix = f"{cfg.hq.prefix}/v1/"
        self._months: set[str] = set()
        schema.create(conn, cfg.database.schema)
        with conn.transaction():
            conn.execute(_STAGE)
            self.sync_branches()
        self._params = {
            "tz": cfg.hq.timezone, "reset": cfg.hq.daily_reset, "sat": cfg.targets.satisfied_min,
            "vip": list(cfg.targets.vip_tiers), "vip_s": 60.0 * cfg.targets.vip_wait_minutes,
        }

    @classmethod
    def connect(cls, cfg: HqConfig, dsn: str | None = None) -> HqStore:
        # Named, so an operator (and the kill drill) sees head office's writers in pg_stat_activity.
        return cls(cfg, psycopg.connect(dsn or cfg.database.dsn, autocommit=True, application_name=APP_NAME), dsn)

    def close(self) -> None:
        self.conn.close()
        if self._history is not None:
            self._history.close()

    def history(self) -> PgStore:
        """The history's store in head office's schema (its own connection, opened on first use)."""
        if self._history is None:
            self._history = _unwrapped(lambda: open_history(self.cfg, self._dsn))
        return self._history

    def sync_branches(self) -> None:
        """Branch -> name, region from the head-office config (the VIP report groups by region)."""
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hq_branch VALUES (%s, %s, %s) ON CONFLICT (branch) DO UPDATE "
                "SET name = excluded.name, region = excluded.region",
                [(b.id, b.name, b.region) for b in self.cfg.branch])

    # ------------------------------------------------------------------ parsing

    def _sort(self, messages: Iterable[tuple[str, bytes]]) -> _Batch:
        b = _Batch()
        for topic, payload in messages:
            if not topic.startswith(self.prefix):
                b.rejected.append((topic, "not head office's topic tree", payload))
                continue
            branch, _, rest = topic[len(self.prefix):].partition("/")
            kind, _, key = rest.partition("/")
            try:
                self._one(b, branch, kind, key, payload)
            except (PayloadError, UnicodeDecodeError, msgspec.DecodeError) as err:
                b.rejected.append((topic, str(err)[:500], payload))
        return b

    def _one(self, b: _Batch, branch: str, kind: str, key: str, payload: bytes) -> None:
        if kind == "event":
            ev = m.decode_event(payload)
            if isinstance(ev, m.Advice):
                b.skipped += 1  # derived live advice, not a journaled fact: head office can re-derive it
                return
            if not ev.seq:
                raise PayloadError("event without its journal seq (a branch older than head office's schema)")
            b.events.append(_event_row(len(b.events), branch, ev, payload))
            b.at_min, b.at_max = min(b.at_min, ev.at), max(b.at_max, ev.at)
            b.day_reset = b.day_reset or isinstance(ev, m.DayReset)
        elif kind == "alert":
            return  # the same WaitAlert also arrives on event/alert, which is what is stored
        elif kind == "state":
            msgspec.json.decode(payload)  # must be JSON; stored as sent
            b.state[(branch, key)] = payload.decode("utf-8")
        elif kind == "link" and not key:
            b.links[branch] = payload.strip() == b"1"
        elif kind == "archive" and key:
            day, _, k = key.partition("/")
            if not k.isdigit():
                raise PayloadError(f"archive topic {key!r}: archive/<day>/<part>")
            try:
                part = parts.decode(payload, branch, day)
            except (parts.PartError, msgspec.ValidationError) as err:
                raise PayloadError(f"archive: {err}") from err
            if part.part != int(k):
                raise PayloadError(f"archive part {part.part} sent on part {k}'s topic")
            b.archives[(branch, day, part.part)] = (part.parts, msgspec.json.encode(part).decode("utf-8"))
        else:
            raise PayloadError(f"unexpected topic kind {kind!r}")

    # ------------------------------------------------------------------ writing

    def write(self, messages: Iterable[tuple[str, bytes]]) -> Written:
        """Store one batch in one transaction. Safe to call again with the same messages."""
        b = self._sort(messages)
        done = Written(rejected=len(b.rejected), state=len(b.state))
        now = dt.datetime.now(dt.UTC)
        with self.conn.transaction(), self.conn.cursor() as cur:
            if b.events:
                self._ensure_months(b.at_min, b.at_max)
                with cur.copy(f"COPY hq_stage ({_COLUMNS}) FROM STDIN") as copy:
                    for row in b.events:
                        copy.write_row(row)
                cur.execute(_INSERT_EVENTS, self._params)
                got = cur.fetchone()
                done.events = int(got[0]) if got else 0
                done.duplicates = len(b.events) - done.events
                cur.execute(_TICKET)
                if b.day_reset:
                    cur.execute(_DAY_RESET)
                done.branches = {row[1] for row in b.events}
            if b.state:
                cur.executemany(
                    "INSERT INTO hq_state VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (branch, key) "
                    "DO UPDATE SET body = excluded.body, received = excluded.received",
                    [(br, key, body, now) for (br, key), body in b.state.items()])
            if b.links:
                cur.executemany(
                    "INSERT INTO hq_link VALUES (%s, %s, %s) ON CONFLICT (branch) DO UPDATE "
                    "SET up = excluded.up, since = excluded.since WHERE hq_link.up <> excluded.up",
                    [(br, up, now) for br, up in b.links.items()])
            whole: list[DayFacts] = []
            if b.archives:
                cur.executemany(
                    "INSERT INTO hq_archive VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (branch, day, part) "
                    "DO UPDATE SET parts = excluded.parts, body = excluded.body, received = excluded.received",
                    [(br, day, k, n, body, now) for (br, day, k), (n, body) in b.archives.items()])
                whole = self._whole_days(cur, {(br, day) for br, day, _ in b.archives})
            if b.events or b.links or b.archives:
                cur.execute("SELECT pg_notify('qcall_hq', %s)", (self.cfg.database.schema,))
            if b.rejected:
                cur.executemany("INSERT INTO hq_rejected (topic, reason, payload) VALUES (%s, %s, %s)",
                                b.rejected)
                for topic, reason, _ in b.rejected:
                    _LOG.warning("refused a message on %s: %s", topic, reason)
        done.other = len(b.links) + len(b.archives) + b.skipped
        for facts in whole:
            done.days_archived += self._archive(facts)
        return done

    def _whole_days(self, cur: psycopg.Cursor[Any], days: set[tuple[str, str]]) -> list[DayFacts]:
        """The days of this batch's parts that are now whole and not yet in the history."""
        out = []
        for branch, day in sorted(days):
            cur.execute("SELECT 1 FROM history_day WHERE branch = %s AND day = %s", (branch, day))
            if cur.fetchone() is not None:
                continue  # archived already: a replayed part changes nothing
            cur.execute("SELECT body::text FROM hq_archive WHERE branch = %s AND day = %s ORDER BY part",
                        (branch, day))
            got = [msgspec.json.decode(row[0], type=parts.ArchivePart) for row in cur.fetchall()]
            last = [p for p in got if p.parts == got[-1].parts]  # a day re-sent in another split: its own parts
            if parts.complete(last):
                out.append(parts.join(last))
        return out

    def _archive(self, facts: DayFacts) -> int:
        """Hand a whole day to the history's store: 1 if it was new there. A day the store cannot
        take (facts that break its keys) is kept aside in hq_rejected, like any bad payload."""
        rec = facts.record
        try:
            new = int(_unwrapped(lambda: self.history().archive(facts)))
            self._teller_days(facts)  # also after a crash between the two: DO NOTHING if there
            return new
        except HistoryError as err:
            _LOG.error("day %s of %s cannot go into the history: %s", rec.day, rec.branch, err)
            self.conn.execute("INSERT INTO hq_rejected (topic, reason, payload) VALUES (%s, %s, %s)",
                              (f"{self.prefix}{rec.branch}/archive/{rec.day}", str(err)[:500],
                               msgspec.json.encode(facts.record)))
            return 0

    def _teller_days(self, facts: DayFacts) -> None:
        """The day's ratings per teller (served, rated, satisfied) for the star-teller ranking,
        counted as qhistory.figures.tellers counts them (served tickets, stars > 0 rated)."""
        sat = self.cfg.targets.satisfied_min
        per: dict[str, list[int]] = {}
        for t in facts.tickets:
            if t.outcome == "served" and t.teller:
                row = per.setdefault(t.teller, [0, 0, 0])
                row[0] += 1
                row[1] += t.stars > 0
                row[2] += t.stars >= sat
        rec = facts.record
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO hq_teller_day VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            [(rec.branch, rec.day, teller, *row) for teller, row in sorted(per.items())])

    def _ensure_months(self, lo: float, hi: float) -> None:
        t = lo
        while True:
            start, end = schema.month_bounds(t, self.cfg.hq.timezone)
            name = schema.partition_name(start)
            if name not in self._months:
                schema.ensure_month(self.conn, t, self.cfg.hq.timezone)
                self._months.add(name)
            if end.timestamp() > hi:
                return
            t = end.timestamp()


T = TypeVar("T")


def _unwrapped(call: Callable[[], T]) -> T:
    """Run a history-store call; a lost database connection is re-raised as psycopg's own
    OperationalError, so the ingest waits and writes the batch again as for its own tables."""
    try:
        return call()
    except HistoryError as err:
        if isinstance(err.__cause__, psycopg.OperationalError):
            raise err.__cause__ from err
        raise
