"""Head office's tables in PostgreSQL.

- `hq_event`: every event of every branch, once: the primary key is (branch, seq, n, at) -- the
  journal row and place that name the event (qbus.messages.Event) plus the partition key, which
  replay derives identically, so a redelivery conflicts and is dropped (ON CONFLICT DO NOTHING).
  Partitioned by month of `at` (head office's time zone): a month's reports read one partition,
  and an old month is detached or dropped whole. `received` is the order head office stored them.
- `hq_day`: the per-branch business-day roll-up the month's reports read (arrivals, served, rated,
  satisfied, VIP within target ...). It is advanced only by the rows an insert really added
  (INSERT ... RETURNING), so it is as idempotent as `hq_event` itself.
- `hq_ticket`: each branch's tickets now (waiting or not, since when), last writer by (seq, n):
  the live "over target now" view reads only the waiting rows (a partial index).
- `hq_state`: the branches' latest retained state (queues, counters, hall, stats) as sent.
- `hq_link`: each bridge's up/down notification; `hq_archive`: the parts of day archives as sent
  (qhistory.parts), kept until the day is whole and archived into the history's own tables
  (`history_day`, `ticket_fact`, ... from qhistory.schema, in the same schema); `hq_teller_day`:
  each archived day's served / rated / satisfied per teller, which the month's star-teller ranking
  reads (a month of a thousand branches' tickets is millions of rows; this is thousands);
  `hq_branch`: branch -> region, from the head-office config; `hq_rejected`: payloads that failed
  the schema, kept with the reason (acknowledged so they cannot block the queue, never lost).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import psycopg

from qhistory.schema import schema_sql

DDL = """
CREATE SEQUENCE IF NOT EXISTS hq_received;
CREATE TABLE IF NOT EXISTS hq_event (
    branch    text        NOT NULL,
    seq       bigint      NOT NULL,
    n         integer     NOT NULL,
    at        timestamptz NOT NULL,
    type      text        NOT NULL,
    number    text        NOT NULL DEFAULT '',
    counter   integer     NOT NULL DEFAULT 0,
    business  text        NOT NULL DEFAULT '',
    tier      text        NOT NULL DEFAULT '',
    teller    text        NOT NULL DEFAULT '',
    stars     integer     NOT NULL DEFAULT 0,
    waited_s  real,
    service_s real,
    body      jsonb       NOT NULL,
    received  bigint      NOT NULL DEFAULT nextval('hq_received'),
    PRIMARY KEY (branch, seq, n, at)
) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS hq_day (
    branch        text    NOT NULL,
    day           date    NOT NULL,
    arrivals      integer NOT NULL DEFAULT 0,
    called        integer NOT NULL DEFAULT 0,
    wait_sum_s    double precision NOT NULL DEFAULT 0,
    served        integer NOT NULL DEFAULT 0,
    cancelled     integer NOT NULL DEFAULT 0,
    rated         integer NOT NULL DEFAULT 0,
    satisfied     integer NOT NULL DEFAULT 0,
    vip_called    integer NOT NULL DEFAULT 0,
    vip_in_target integer NOT NULL DEFAULT 0,
    alerts        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (branch, day)
);
CREATE TABLE IF NOT EXISTS hq_ticket (
    branch   text        NOT NULL,
    number   text        NOT NULL,
    waiting  boolean     NOT NULL,
    since    timestamptz,
    business text        NOT NULL DEFAULT '',
    tier     text        NOT NULL DEFAULT '',
    seq      bigint      NOT NULL,
    n        integer     NOT NULL,
    PRIMARY KEY (branch, number)
);
CREATE INDEX IF NOT EXISTS hq_ticket_waiting ON hq_ticket (since) WHERE waiting;
CREATE TABLE IF NOT EXISTS hq_state (
    branch text NOT NULL, key text NOT NULL, body jsonb NOT NULL, received timestamptz NOT NULL,
    PRIMARY KEY (branch, key)
);
CREATE TABLE IF NOT EXISTS hq_link (
    branch text PRIMARY KEY, up boolean NOT NULL, since timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS hq_archive (
    branch text NOT NULL, day text NOT NULL, part integer NOT NULL, parts integer NOT NULL,
    body jsonb NOT NULL, received timestamptz NOT NULL,
    PRIMARY KEY (branch, day, part)
);
CREATE TABLE IF NOT EXISTS hq_teller_day (
    branch text NOT NULL, day date NOT NULL, teller text NOT NULL,
    served integer NOT NULL, rated integer NOT NULL, satisfied integer NOT NULL,
    PRIMARY KEY (branch, day, teller)
);
CREATE TABLE IF NOT EXISTS hq_branch (
    branch text PRIMARY KEY, name text NOT NULL DEFAULT '', region text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS hq_rejected (
    id bigserial PRIMARY KEY, topic text NOT NULL, reason text NOT NULL, payload bytea NOT NULL,
    received timestamptz NOT NULL DEFAULT now()
);
"""


def create(conn: psycopg.Connection[tuple[object, ...]], schema: str = "public") -> None:
    """Create the tables (idempotent) in `schema`, which becomes the connection's search path."""
    with conn.transaction():
        # Several ingest workers may start at once: CREATE ... IF NOT EXISTS is not atomic.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"qcall-hq-schema:{schema}",))
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(DDL)
        for stmt in schema_sql("postgres"):  # the history's tables: the archives land there
            conn.execute(stmt)


def month_bounds(t: float, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (in head office's time zone) that contains epoch time `t`."""
    local = dt.datetime.fromtimestamp(t, ZoneInfo(tz))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def partition_name(start: dt.datetime) -> str:
    return f"hq_event_{start:%Y_%m}"


def ensure_month(conn: psycopg.Connection[tuple[object, ...]], t: float, tz: str) -> str:
    """Create the month's partition of hq_event if it is missing; returns its name."""
    start, end = month_bounds(t, tz)
    name = partition_name(start)
    # Held to the end of the caller's transaction: a second worker waits, then finds the table.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"qcall-hq-partition:{name}",))
    conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF hq_event "
                 f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
    return name
