"""Shared pieces of the history tests: a store on either backend, hand-built days through the
real core, a simulated month."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus.config import BranchConfig, loads
from qcore import BranchCore
from qhistory.collect import collect
from qhistory.facts import DayFacts
from qhistory.store import SqlStore, open_store
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from tests.coretools import BUSINESS, DAY, MIN, T0, TIERS
from tests.pg_cluster import PgCluster

_n = itertools.count()


def fresh_pg_dsn(pg: PgCluster) -> str:
    """A new empty database on the session's cluster (tests never see each other's rows)."""
    import psycopg

    name = f"h{next(_n)}"
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return pg.dsn.replace("dbname=qcall", f"dbname={name}")


# What each store made by make_store was opened from (a file path or a DSN), for tests that open
# the same database again in another process; the stores themselves do not keep it.
_TARGETS: weakref.WeakKeyDictionary[SqlStore, str] = weakref.WeakKeyDictionary()


def target_of(store: SqlStore) -> str:
    """The SQLite path or PostgreSQL DSN `store` was opened from (a store from make_store)."""
    return _TARGETS[store]


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    if kind == "sqlite":
        target = str(tmp_path / "history.db")
    else:
        target = fresh_pg_dsn(request.getfixturevalue("postgres"))
    store = open_store(target)
    _TARGETS[store] = target
    try:
        yield store
    finally:
        store.close()


def cfg_with(extra: str = "") -> BranchConfig:
    """The small test branch (cash, loan; vip, prio, normal; counters 1-3) plus TOML `extra`."""
    return loads(cfg_toml(extra))


def cfg_toml(extra: str = "") -> str:
    """The TOML of cfg_with (for commands that read a config file)."""
    return (f'[branch]\nid = "hist"\nname_zh = "测试支行"\nname_en = "Test branch"\n'
            f'[hours]\nopen = "09:00"\nclose = "17:00"\n{BUSINESS}{TIERS}'
            '[[counter]]\nid = 1\nserves = { cash = 1, loan = 1 }\n'
            '[[counter]]\nid = 2\nserves = { cash = 1, loan = 1 }\n'
            '[[counter]]\nid = 3\nserves = { loan = 1 }\n'
            + "".join(f'[[teller]]\nid = "{tid}"\nname = "{name}"\nrole = "{role}"\n'
                      for tid, name, role in (("t1", "王芳", "teller"), ("t2", "李娜", "teller"),
                                              ("t3", "张伟", "teller"), ("lobby1", "赵敏", "lobby")))
            + extra)


def hand_day(cfg: BranchConfig) -> tuple[BranchCore, list[Any]]:
    """A small day with known answers (times in minutes after 09:00, T0):

    A001 normal cash  issued 0, called 2 at c1 (wait 2 min), served 3..7, 5 stars
    A002 normal cash  issued 1, called 7 at c1 (wait 6), no-show (skipped at 8)
    B001 vip loan     issued 3 (granted by lobby1), called 3 at c2 (wait 0), served 4..10, 2 stars
    A003 normal cash  issued 4, called 8 at c1 (wait 4), started 9, transferred to loan at 10,
                      called 10 at c3 (loan only), served 11..21, rating not requested
    A004 normal cash  issued 5, cancelled at 6
    A005 normal cash  issued 20, still waiting at close: abandoned; it waited until the day's last
                      counter activity (the logouts at 17:30, later than the 17:00 closing hour)
    Counter 2 pauses for lunch from 30 to 60. Everybody logs out at 8 h 30 min (17:30).
    """
    core = BranchCore(cfg)
    for at, cmd in commands_of_hand_day():
        core.execute(cmd, at)
    return core, core.drain()


def sender(cmd: Any) -> str:
    """The device a command of the hand day comes from: a rating from the counter's customer pad
    (the core takes stars from nobody else, and stamps that pad as the rating's `source`, as the
    hand day's commands already say), everything else from the manager's tools."""
    from qbus import messages as m

    return f"pad{cmd.counter}" if isinstance(cmd, m.Rate) else "manager1"


def journaled_hand_day(cfg: BranchConfig, path: Path) -> DurableCore:
    """The hand day's commands through a durable core into the journal at `path`, committed, as
    the core service would have written them; the caller closes it (or goes on with the day)."""
    store = DurableCore(cfg, path, snapshot_every=10**9, pins=PinBook.example_for(cfg, CHEAP_COST))
    for i, (at, cmd) in enumerate(commands_of_hand_day()):
        store.submit(f"r{i}", sender(cmd), cmd, at)
    store.commit()
    return store


def commands_of_hand_day() -> list[tuple[float, Any]]:
    """The hand-built day as (time, bus command), in order (see hand_day)."""
    from qbus import messages as m

    def at(minutes: float) -> float:
        return T0 + minutes * MIN

    out: list[tuple[float, Any]] = [(T0 - 3600, m.ResetDay(day=DAY))]
    out += [(T0, m.Login(counter=c, teller=t, pin=t)) for c, t in ((1, "t1"), (2, "t2"), (3, "t3"))]
    out += [
        (at(0), m.Issue(business="cash")), (at(1), m.Issue(business="cash")),
        (at(2), m.CallNext(counter=1)), (at(3), m.StartService(counter=1)),
        (at(3), m.Issue(business="loan", tier="vip", via="bank_card", granted_by="lobby1")),
        (at(3), m.CallNext(counter=2)), (at(4), m.StartService(counter=2)),
        (at(4), m.Issue(business="cash", via="id_card")), (at(5), m.Issue(business="cash")),
        (at(6), m.Cancel(number="A004")),
        (at(7), m.FinishService(counter=1)), (at(7), m.Rate(counter=1, stars=5, source="pad1")),
        (at(7), m.CallNext(counter=1)), (at(8), m.Skip(counter=1)),
        (at(8), m.CallNext(counter=1)), (at(9), m.StartService(counter=1)),
        (at(10), m.Transfer(counter=1, to_business="loan")),
        (at(10), m.FinishService(counter=2)), (at(10), m.Rate(counter=2, stars=2, source="pad2")),
        (at(10), m.CallNext(counter=3)), (at(11), m.StartService(counter=3)),
        (at(20), m.Issue(business="cash")), (at(21), m.FinishService(counter=3, request_rating=False)),
        (at(30), m.Pause(counter=2, reason="lunch")), (at(60), m.Resume(counter=2)),
    ]
    out += [(at(510), m.Logout(counter=c)) for c in (1, 2, 3)]
    return out


def hand_facts(cfg: BranchConfig) -> DayFacts:
    core, events = hand_day(cfg)
    return collect(cfg, DAY, events, T0 - 3600, T0 + 18 * 3600, archived_at=T0 + 18 * 3600)


def same(a: msgspec.Struct, b: msgspec.Struct) -> bool:
    return msgspec.json.encode(a) == msgspec.json.encode(b)


DAY2 = "2026-03-03"


def commands_of_booking_days() -> list[tuple[float, Any]]:
    """Two days with bookings (times in minutes after 09:00 of DAY, T0; 30-minute slots, check-in
    from 15 min before to 15 min after the booked time):

    the day before DAY: KEPT01 booked for DAY 10:00 (so its `booked` event is in an earlier day's journal)
    DAY  LATE02 booked for 10:30, MISS03 for 11:00 (nobody comes: missed), CANC04 for 11:30 (cancelled at 3),
         NEXT05 for DAY2 10:00 (the next day's)
         KEPT01 checks in at 9:50 (10 min early: kept), called at 10:04: 4 min from the booked time
         LATE02 checks in at 10:50 (20 min late: a normal ticket), called at 10:56: 6 min after check-in
    DAY2 NEXT05 checks in at 10:00 on time, called at 10:02: 2 min from the booked time (kept)
    """
    from qbus import messages as m

    def at(minutes: float) -> float:
        return T0 + minutes * MIN

    day2 = 24 * 60
    return [
        (T0 - 86400 - 3600, m.ResetDay(day="2026-03-01")),
        (T0 - 86400, m.Book(code="KEPT01", at=at(60), business="cash", by="zhou", source="web")),
        (T0 - 3600, m.ResetDay(day=DAY)),
        (T0, m.Login(counter=1, teller="t1", pin="t1")),
        (at(0), m.Book(code="LATE02", at=at(90), business="cash")),
        (at(1), m.Book(code="MISS03", at=at(120), business="cash")),
        (at(2), m.Book(code="CANC04", at=at(150), business="cash")),
        (at(2), m.Book(code="NEXT05", at=at(day2 + 60), business="cash")),
        (at(3), m.CancelBooking(code="CANC04", by="zhou")),
        (at(50), m.CheckIn(code="KEPT01")), (at(64), m.CallNext(counter=1)),
        (at(65), m.StartService(counter=1)), (at(70), m.FinishService(counter=1, request_rating=False)),
        (at(110), m.CheckIn(code="LATE02")), (at(116), m.CallNext(counter=1)),
        (at(117), m.StartService(counter=1)), (at(120), m.FinishService(counter=1, request_rating=False)),
        (at(510), m.Logout(counter=1)),
        (at(day2 - 60), m.ResetDay(day=DAY2)),  # 08:00 next morning: a day is reset once it has begun
        (at(day2), m.Login(counter=1, teller="t1", pin="t1")),
        (at(day2 + 60), m.CheckIn(code="NEXT05")), (at(day2 + 62), m.CallNext(counter=1)),
        (at(day2 + 63), m.StartService(counter=1)),
        (at(day2 + 70), m.FinishService(counter=1, request_rating=False)),
        (at(day2 + 510), m.Logout(counter=1)),
        (at(2 * day2 - 60), m.ResetDay(day="2026-03-04")),
    ]


def booking_days(cfg: BranchConfig) -> list[DayFacts]:
    """The facts of DAY and DAY2 folded from the live core's events (no journal), each day given
    the bookings open as it began, as the replay gives them."""
    from qbus import messages as m

    core = BranchCore(cfg)
    days: list[DayFacts] = []
    events: list[Any] = []
    carried: list[m.BookingView] = []
    opened = 0.0
    for at, cmd in commands_of_booking_days():
        core.execute(cmd, at)
        got = core.drain()
        if not isinstance(cmd, m.ResetDay):
            events += got
            continue
        if cmd.day in (DAY2, "2026-03-04"):
            events += [e for e in got if not isinstance(e, m.DayReset)]
            days.append(collect(cfg, DAY if cmd.day == DAY2 else DAY2, events, opened, at, archived_at=at,
                                bookings=carried))
        events, opened = [], at
        carried = [msgspec.structs.replace(v) for v in core.bookings_state().bookings]
    return days
