"""History benchmarks. Prints one JSON object on its last line:

archive_day_s       close a 5,000-ticket day: replay its journal rows through a fresh core, fold the
                    events into facts, write them to SQLite in one transaction (target <= 1 s)
report_month_s      HTML (with its charts) + CSV for 26 days x 3,000 tickets from SQLite (<= 2 s)
report_month_cpu_s  the CPU time of report_month_s (steadier on a shared machine)
report_month_pg_s   the same from PostgreSQL (a throw-away cluster)
startup_1_day_s     the core's restart with 1 archived day behind it
startup_60_days_s   ... with 60 archived days behind it, compacted after a snapshot (<= 1 s)
journal_mb_1_day, journal_mb_60_days   the journal file's size then: it does not grow with the days

Run: .venv/bin/python bench/report.py
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.core import CFG, PINS, busy_day
from qbus.config import BranchConfig
from qcall.history import archive_journal, compact
from qhistory import period, render, report
from qhistory.facts import CounterSpan, DayFacts, DayRecord, Step, TicketFact
from qhistory.store import SqlStore, open_store
from qserver.store import DurableCore
from qserver.tuning import tune_gc

DAY0 = dt.date(2026, 11, 2)
T_DAY0 = 1_793_577_600.0  # 2026-11-02 09:00 +08:00


def archive_day() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        live = DurableCore(CFG, Path(tmp) / "journal.db", snapshot_every=10**9, pins=PINS)
        end = busy_day(live, "2026-11-23", 1_795_395_600.0, 5000)
        busy_day(live, "2026-11-24", end + 3600, 1)  # the reset that closes the busy day
        store = open_store(Path(tmp) / "history.db")
        t0 = time.perf_counter()
        done = archive_journal(CFG, live.journal, store)
        took = time.perf_counter() - t0
        assert done[0] == "2026-11-23" and len(store.tickets(CFG.branch.id, done[0], done[0])) == 5000
        store.close()
        live.close()
    return took


def synthetic_day(cfg: BranchConfig, d: dt.date, tickets: int, rng: random.Random) -> DayFacts:
    """A plausible day of facts without running the core (only the report's speed is measured)."""
    day = d.isoformat()
    start = T_DAY0 + (d - DAY0).days * 86400
    tellers = [t.id for t in cfg.teller if t.role == "teller"]
    business = [b.code for b in cfg.business]
    out = []
    for i in range(tickets):
        issued = start + i * 28800 / tickets
        wait = rng.expovariate(1 / 600)
        svc = rng.lognormvariate(5.5, 0.5)
        counter = i % len(cfg.counter) + 1
        teller = tellers[counter % len(tellers)]
        stars = rng.choice([5, 5, 5, 4, 4, 3, 0, 2])
        outcome = "served" if i % 40 else ("no_show" if i % 80 else "abandoned")
        life = [Step(at=issued, kind="issued"), Step(at=issued + wait, kind="called", counter=counter, teller=teller)]
        if outcome == "served":
            life += [Step(at=issued + wait + 20, kind="started", counter=counter, teller=teller),
                     Step(at=issued + wait + 20 + svc, kind="finished", counter=counter, teller=teller),
                     Step(at=issued + wait + 25 + svc, kind="rated", counter=counter, teller=teller,
                          detail=str(stars))]
        out.append(TicketFact(
            branch=cfg.branch.id, day=day, number=f"A{i:04d}", business=business[i % len(business)],
            first_business=business[i % len(business)], tier="vip" if i % 10 == 0 else "normal",
            via="bank_card" if i % 3 else "button", issued_at=issued, first_called_at=issued + wait,
            started_at=issued + wait + 20, finished_at=issued + wait + 20 + svc, ended_at=issued + wait + 20 + svc,
            outcome=outcome, wait_s=wait, service_s=svc if outcome == "served" else 0.0, counter=counter,  # type: ignore[arg-type]
            teller=teller, stars=stars if outcome == "served" else -1, rating_source="pad", life=life))
    spans = [CounterSpan(branch=cfg.branch.id, day=day, counter=c.id, kind="open", teller=tellers[c.id % len(tellers)],
                         start_at=start, end_at=start + 8 * 3600) for c in cfg.counter]
    rec = DayRecord(branch=cfg.branch.id, day=day, archived_at=start, opened_at=start, closed_at=start + 9 * 3600,
                    tickets=tickets)
    return DayFacts(record=rec, tickets=out, spans=spans)


def fill_month(store: SqlStore, days: int = 26, tickets: int = 3000) -> period.Period:
    rng = random.Random(1)
    d, n = DAY0, 0
    while n < days:
        if d.isoweekday() != 7:  # 26 working days: Monday to Saturday
            store.archive(synthetic_day(CFG, d, tickets, rng))
            n += 1
        d += dt.timedelta(days=1)
    return period.span(DAY0.isoformat(), (d - dt.timedelta(days=1)).isoformat())


def report_month(store: SqlStore, p: period.Period) -> tuple[float, float]:
    """(wall, CPU) seconds of this process for HTML + CSV of the month. The CPU figure is steadier
    on a shared machine; on a quiet one the two are the same."""
    t0, c0 = time.perf_counter(), time.process_time()
    data = report.load(store, CFG.branch.id, p)
    rep = report.build_from(CFG, p, data, by="teller")
    html = render.html(rep)
    text = render.csv_lives(data.tickets, CFG.branch.timezone)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(data.tickets) == 26 * 3000 and "<svg" in html and text.count("\n") == 26 * 3000 + 1
    return took, cpu


def startup(days: int) -> tuple[float, float]:
    """Restart time of a core whose journal has `days` archived days behind the live one, each
    archived and compacted at its reset as the service does; and the journal file's size (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.db"
        live = DurableCore(CFG, path, snapshot_every=10**9, pins=PINS)
        store = open_store(Path(tmp) / "history.db")
        now = 1_790_000_000.0
        for k in range(days + 1):
            day = (dt.date(2026, 9, 1) + dt.timedelta(days=k)).isoformat()
            now = busy_day(live, day, now + 3600, 300) + 17 * 3600
            archive_journal(CFG, live.journal, store)
            compact(CFG, live, store)
        store.close()
        live.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size / 1e6
        live.close()
        t0 = time.perf_counter()
        again = DurableCore(CFG, path)
        took = time.perf_counter() - t0
        again.close()
    return took, size


def main() -> None:
    tune_gc()
    out: dict[str, float | int] = {"archive_day_s": round(archive_day(), 3)}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "history.db")
        p = fill_month(store)
        report_month(store, p)  # warm: matplotlib's font cache, imports
        wall, cpu = report_month(store, p)
        out["report_month_s"], out["report_month_cpu_s"] = round(wall, 3), round(cpu, 3)
        store.close()
    try:
        from tests.pg_cluster import PgCluster

        with PgCluster() as pg:
            store = open_store(pg.dsn)
            p = fill_month(store)
            out["report_month_pg_s"] = round(report_month(store, p)[0], 3)
            store.close()
    except Exception as err:  # no PostgreSQL on this machine: say so, measure the rest
        print(f"report_month_pg_s skipped: {err}", file=sys.stderr)
    (out["startup_1_day_s"], out["journal_mb_1_day"]) = (round(x, 3) for x in startup(1))
    (out["startup_60_days_s"], out["journal_mb_60_days"]) = (round(x, 3) for x in startup(60))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
