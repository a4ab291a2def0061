"""Queue-core benchmarks. Prints one JSON object on its last line:

cycle_ops_per_s     issue + call + start + finish, in-process (each counted as one op)
call_latency_ratio  median call_next latency with 1,000,000 waiting / with 10 waiting
durable_ops_per_s   requests acknowledged after their group commit (SQLite WAL, synchronous=FULL)
replay_s            start-up rebuild of a busy day (5,000 tickets, all their events) from the journal
snapshot_stall_ms   the longest extra reply delay a snapshot causes at 40,000 tickets (capture in the
                    service thread, encode + write in the background), over the median turn
restart_after_config_edit_s  start-up after editing the hall notice, moving the journal and changing
                    the broker port, with 60 days of journal (the snapshot is kept: no full replay)

Run: .venv/bin/python bench/core.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from qbus import messages as m
from qbus.config import BranchConfig, load
from qcore import BranchCore
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from qserver.tuning import tune_gc, tune_latency

_EXAMPLE = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
# Hundreds of thousands of tickets in one business day: far more numbers than a branch may
# configure (rules.number_width 2..4), so the core never refuses for numbers_exhausted here.
CFG = msgspec.structs.replace(_EXAMPLE, rules=msgspec.structs.replace(_EXAMPLE.rules, number_width=7))
# the bench's made-up PINs (each teller's id), hashed cheaply: logins are not what it measures
PINS = PinBook.example_for(CFG, CHEAP_COST)


def fresh_core(cfg: BranchConfig = CFG) -> BranchCore:
    core = BranchCore(cfg)
    core.reset_day(0.0, "2026-11-23")
    for c in cfg.counter:
        core.login(0.0, c.id, cfg.teller[c.id - 1].id)
    return core


def cycles(n: int = 50_000, reps: int = 5) -> dict[str, float]:
    core = fresh_core()
    now = 1.0
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(n):
            now += 1.0
            core.issue(now, "cash")
            core.call_next(now, 1)
            core.start(now, 1)
            core.finish(now, 1, False)
            if not i % 1000:
                core.events.clear()
        best = max(best, 4 * n / (time.perf_counter() - t0))
    return {"cycle_ops_per_s": round(best)}


def call_latency(waiting: int, calls: int = 3000) -> float:
    """Median ns of one call_next with `waiting` tickets queued (kept constant while measuring)."""
    core = fresh_core()
    now = 10.0
    tiers = ["normal"] * 8 + ["vip", "priority"]
    for i in range(waiting):
        core.issue(now, "cash", tiers[i % 10])
        if not i % 10_000:
            core.events.clear()
    core.events.clear()
    samples = []
    pc = time.perf_counter_ns
    for i in range(calls):
        t0 = pc()
        core.call_next(now, 1)
        samples.append(pc() - t0)
        core.start(now, 1)
        core.finish(now, 1, False)
        core.issue(now, "cash", tiers[i % 10])
        core.events.clear()
    return statistics.median(samples)


def durable(total: int = 60_000, batch: int = 200) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = DurableCore(CFG, Path(tmp) / "j.db", snapshot_every=10**9, pins=PINS)
        now = 1.0
        store.submit("reset", "core", m.ResetDay(day="2026-11-23"), now)
        for c in CFG.counter:
            t = CFG.teller[c.id - 1]
            store.submit(f"login{c.id}", f"counter{c.id}", m.Login(counter=c.id, teller=t.id, pin=t.id), now)
        store.commit()
        cmds: list[tuple[str, m.Command]] = []
        for _ in range(total // 4):
            cmds += [("kiosk1", m.Issue(business="cash")), ("counter1", m.CallNext(counter=1)),
                     ("counter1", m.StartService(counter=1)),
                     ("counter1", m.FinishService(counter=1, request_rating=False))]
        t0 = time.perf_counter()
        for start in range(0, len(cmds), batch):
            now += 1.0
            for j, (dev, cmd) in enumerate(cmds[start:start + batch]):
                store.submit(f"r{start + j}", dev, cmd, now)
            store.commit()
            store.core.events.clear()
        elapsed = time.perf_counter() - t0
        store.close()
    return {"durable_ops_per_s": round(len(cmds) / elapsed), "durable_batch": batch}


def busy_day_journal(path: Path, tickets: int = 5000) -> int:
    """Write a busy day's journal: 5,000 tickets, each called, served and rated; some recalls/skips."""
    store = DurableCore(CFG, path, snapshot_every=10**9, pins=PINS)
    busy_day(store, "2026-11-23", 1_795_395_600.0, tickets)
    rows = store.journal.last_seq
    store.close()
    return rows


def busy_day(store: DurableCore, day: str, now: float, tickets: int) -> float:
    """Append one busy day (reset, logins, `tickets` served and rated) to `store`; returns the
    time of its last row. bench/report.py strings many of these into a journal of months."""
    store.submit(f"reset-{day}", "core", m.ResetDay(day=day), now)
    for c in CFG.counter:
        t = CFG.teller[c.id - 1]
        store.submit(f"{day}-login{c.id}", f"counter{c.id}", m.Login(counter=c.id, teller=t.id, pin=t.id), now)
    counters = [c.id for c in CFG.counter]
    business = {c.id: next(iter(c.serves)) for c in CFG.counter}
    rid = 0
    for i in range(tickets):
        now += 5.0
        cid = counters[i % len(counters)]
        steps: list[tuple[str, m.Command]] = [("kiosk1", m.Issue(business=business[cid]))]
        dev = f"counter{cid}"
        steps.append((dev, m.CallNext(counter=cid)))
        if i % 17 == 0:
            steps.append((dev, m.Recall(counter=cid)))
        if i % 41 == 0:
            steps.append((dev, m.Skip(counter=cid)))
        else:
            steps += [(dev, m.StartService(counter=cid)), (dev, m.FinishService(counter=cid)),
                      (f"pad{cid}", m.Rate(counter=cid, stars=5 if i % 13 else 2))]  # the customer's pad
        for d, cmd in steps:
            rid += 1
            store.submit(f"{day}-r{rid}", d, cmd, now)
        if i % 100 == 0:
            store.commit()
            store.core.events.clear()
    store.commit()
    store.core.events.clear()
    return now


def replay() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.db"
        rows = busy_day_journal(path)
        t0 = time.perf_counter()
        store = DurableCore(CFG, path, snapshot_every=10**9)
        full = time.perf_counter() - t0
        issued = len(store.core.tickets)
        store.snapshot()
        store.close()
        t0 = time.perf_counter()
        store = DurableCore(CFG, path)
        snap = time.perf_counter() - t0
        store.close()
    return {"replay_s": round(full, 3), "replay_rows": rows, "replay_tickets": issued,
            "replay_from_snapshot_s": round(snap, 3)}


def _cycle(store: DurableCore, i: int, now: float) -> None:
    """One service turn's worth: a ticket issued, called, started and finished, then the commit."""
    store.submit(f"k{i}", "kiosk1", m.Issue(business="cash"), now)
    store.submit(f"c{i}", "counter1", m.CallNext(counter=1), now)
    store.submit(f"s{i}", "counter1", m.StartService(counter=1), now)
    store.submit(f"f{i}", "counter1", m.FinishService(counter=1, request_rating=False), now)
    store.commit()
    store.core.events.clear()


def snapshot_stall(tickets: int = 40_000) -> dict[str, float]:
    """Turn latency while a snapshot of a 40,000-ticket day is taken, against the median turn.

    The day is built as the service builds it (a snapshot every 5,000 rows, in the background);
    then, at 40,000 tickets, turns run at about 1,000 a second (4,000 requests/s) while one more
    snapshot is captured and written."""
    with tempfile.TemporaryDirectory() as tmp:
        store = DurableCore(CFG, Path(tmp) / "j.db", snapshot_every=CFG.storage.snapshot_every, pins=PINS)
        now = 1_795_395_600.0
        store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), now)
        store.submit("in1", "counter1", m.Login(counter=1, teller="1001", pin="1001"), now)
        for i in range(tickets):
            now += 0.5
            for rid, dev, cmd in ((f"k{i}", "kiosk1", m.Issue(business="cash")),
                                  (f"c{i}", "counter1", m.CallNext(counter=1)),
                                  (f"s{i}", "counter1", m.StartService(counter=1)),
                                  (f"f{i}", "counter1", m.FinishService(counter=1, request_rating=False))):
                store.submit(rid, dev, cmd, now)
            if i % 250 == 0:
                store.commit()
                store.core.events.clear()
        store.commit()
        store.core.events.clear()
        store.writer.wait_idle()
        store.snapshot_every = 10**9  # from here on, only the measured snapshot
        pc = time.perf_counter
        base = []
        for i in range(200):
            t0 = pc()
            _cycle(store, tickets + i, now)
            base.append(pc() - t0)
            time.sleep(0.001)
        t0 = pc()
        assert store.snapshot(wait=False)  # what commit() does every snapshot_every rows
        capture = pc() - t0
        worst, j = capture, tickets + 200
        while not store.writer.wait_idle(0):
            t1 = pc()
            _cycle(store, j, now)
            worst = max(worst, pc() - t1)
            j += 1
            time.sleep(0.001)
        write_s = pc() - t0
        issued = len(store.core.tickets)
        store.close()
    p50 = statistics.median(base)
    return {"snapshot_stall_ms": round(max(0.0, worst - p50) * 1000, 1),
            "snapshot_capture_ms": round(capture * 1000, 1), "snapshot_write_s": round(write_s, 3),
            "snapshot_tickets": issued, "turn_p50_ms": round(p50 * 1000, 2),
            "turns_during_snapshot": j - tickets - 200}


def _history(path: Path, days: int, per_day: int) -> int:
    """`days` full business days of journal rows, written straight into the journal in big batches
    (what months of real traffic leave behind), then one more day through the durable core with
    its snapshots. Returns the number of rows."""
    from qserver.journal import Journal

    j = Journal(path)
    enc = msgspec.json.encode
    logins = [(f"counter{c.id}", enc(m.Login(counter=c.id, teller=CFG.teller[c.id - 1].id, pin="")))
              for c in CFG.counter]
    steps = [("kiosk1", enc(m.Issue(business="cash"))), ("counter1", enc(m.CallNext(counter=1))),
             ("counter1", enc(m.StartService(counter=1))),
             ("counter1", enc(m.FinishService(counter=1, request_rating=False)))]
    day0 = 1_790_298_000.0  # 2026-09-25 09:00 in Shanghai
    for d in range(days):
        start = day0 + d * 86400
        day = time.strftime("%Y-%m-%d", time.gmtime(start + 8 * 3600))
        rows = [(start, f"core-reset-{day}", "core", enc(m.ResetDay(day=day)))]
        rows += [(start, f"in-{d}-{k}", dev, cmd) for k, (dev, cmd) in enumerate(logins)]
        for i in range(per_day):
            at = start + 5.0 * i
            rows += [(at, f"{d}-{i}-{k}", dev, cmd) for k, (dev, cmd) in enumerate(steps)]
        j.append(rows)
    j.close()
    return days * (1 + len(logins) + 4 * per_day)


def restart_after_config_edit(days: int = 60, per_day: int = 2000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "var" / "journal.db"
        rows = _history(path, days - 1, per_day)
        t0 = time.perf_counter()
        store = DurableCore(CFG, path)  # the first start: every row replayed once
        full = time.perf_counter() - t0
        now = store.core.clock + 86400
        for i in range(per_day):  # the 60th day, live: snapshots every 5,000 rows
            _cycle(store, i, now + 5.0 * i)
        store.writer.wait_idle()
        rows = store.journal.last_seq
        store.journal.set_meta("published_seq", str(rows))  # the service's mark: all confirmed
        store.close()
        moved = Path(tmp) / "ssd" / "journal.db"
        moved.parent.mkdir()
        for suffix in ("", ".id"):
            (path.parent / (path.name + suffix)).rename(moved.parent / (moved.name + suffix))
        edited = msgspec.structs.replace(
            CFG, display=msgspec.structs.replace(CFG.display, notice_zh="今日理财讲座 14:00 二楼"),
            storage=msgspec.structs.replace(CFG.storage, journal=str(moved)),
            bus=msgspec.structs.replace(CFG.bus, port=8883))
        t0 = time.perf_counter()
        store = DurableCore(edited, moved, outbox=True)
        restart = time.perf_counter() - t0
        replayed = store.replayed
        store.close()
    return {"restart_after_config_edit_s": round(restart, 3), "restart_replayed_rows": replayed,
            "journal_days": days, "journal_rows": rows, "full_replay_s": round(full, 3)}


def main() -> None:
    tune_gc()
    out: dict[str, object] = {}
    out.update(cycles())
    lat = {n: call_latency(n) for n in (10, 1000, 100_000, 1_000_000)}
    out["call_latency_ns"] = {str(k): round(v) for k, v in lat.items()}
    out["call_latency_ratio"] = round(lat[1_000_000] / lat[10], 3)
    out.update(durable())
    out.update(replay())
    tune_latency()  # as `qcall serve` runs: the writer thread and the service thread share the GIL
    out.update(snapshot_stall())
    out.update(restart_after_config_edit())
    out["cpus"] = os.cpu_count()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
