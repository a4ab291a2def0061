"""Queue-core benchmarks. Prints one JSON object on its last line:

cycle_ops_per_s     issue + call + start + finish, in-process (each counted as one op)
call_latency_ratio  median call_next latency with 1,000,000 waiting / with 10 waiting
durable_ops_per_s   requests acknowledged after their group commit (SQLite WAL, synchronous=FULL)
replay_s            start-up rebuild of a busy day (5,000 tickets, all their events) from the journal

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qbus import messages as m
from qbus.config import BranchConfig, load
from qcore import BranchCore
from qserver.store import DurableCore
from qserver.tuning import tune_gc

CFG = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")


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
        store = DurableCore(CFG, Path(tmp) / "j.db", snapshot_every=10**9)
        now = 1.0
        store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), now)
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
    store = DurableCore(CFG, path, snapshot_every=10**9)
    now = 1_795_395_600.0
    store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), now)
    for c in CFG.counter:
        t = CFG.teller[c.id - 1]
        store.submit(f"login{c.id}", f"counter{c.id}", m.Login(counter=c.id, teller=t.id, pin=t.id), now)
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
                      (dev, m.Rate(counter=cid, stars=5))]
        for d, cmd in steps:
            rid += 1
            store.submit(f"r{rid}", d, cmd, now)
        if i % 100 == 0:
            store.commit()
            store.core.events.clear()
    store.commit()
    rows = store.journal.last_seq
    store.close()
    return rows


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


def main() -> None:
    tune_gc()
    out: dict[str, object] = {}
    out.update(cycles())
    lat = {n: call_latency(n) for n in (10, 1000, 100_000, 1_000_000)}
    out["call_latency_ns"] = {str(k): round(v) for k, v in lat.items()}
    out["call_latency_ratio"] = round(lat[1_000_000] / lat[10], 3)
    out.update(durable())
    out.update(replay())
    out["cpus"] = os.cpu_count()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
