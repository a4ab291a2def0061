"""Head office at bank scale on one machine: 1,000 simulated branches feeding the central Mosquitto,
the real ingest (`qhq.ingest`, batched COPY) into a real PostgreSQL, and the reports' queries.

Phases:
1. busy hour: 1,000 branches at a realistic busy-hour rate (100 customers an hour each, ~8 events
   per customer, plus retained state) for a few seconds: the ingest keeps up (`steady_lag_ms`);
2. burst: the ingest away while the branches keep publishing, then back: the backlog's drain rate
   is `ingest_events_per_s` (events newly stored per second, de-duplication and roll-ups included)
   with one worker, and the same burst again with two workers on one shared subscription;
3. one WAN link back after an hour: a real branch Mosquitto bridged to the central one queues a busy
   hour while the central broker is down; `backlog_catchup_s` from the link's return to the last of
   it stored;
4. queries over a month of 1,000 branches (its day roll-up and live ticket rows made directly with
   COPY): `live_over_target_query_ms`, `month_ranking_query_ms` (medians of 7 runs).

The simulated branches publish as the bridges would (each into its own tree), through one
connection with a bench user that may write every tree; the central ACL is otherwise the real one.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qbus import hqlink
from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.config import load
from qbus.provision import Grant, password_hash, provision, render_acl
from qhq.config import HqConfig, parse
from qhq.ingest import Ingest, filters
from qhq.report import Reports
from tests.pg_cluster import PgCluster

BRANCHES = 1000
T0 = 1_772_416_800.0  # 2026-03-02 10:00, Shanghai
PER_CUSTOMER = ("issued", "counter", "called", "started", "finished", "rated", "counter", "counter")
FEED = "bench-feed"
WORKERS = 2  # ingest processes on one shared subscription for the burst (docs/hq.md, scaling)


def events_for(branch: int, customer: int, seq0: int) -> list[tuple[str, bytes]]:
    """One customer's life at branch `branch` as the core publishes it (8 events)."""
    b = f"br{branch:04d}"
    at = T0 + customer * 36.0
    number = f"A{customer % 1000:03d}"
    tier = "vip" if customer % 5 == 0 else "normal"
    wait = 120.0 + (customer * 37 % 900)
    view = m.TicketView(id=f"2026-03-02/{number}", number=number, business="cash", tier=tier, issued_at=at)
    evs: list[Any] = [
        m.TicketIssued(at=at, seq=seq0, ticket=view),
        m.CounterChanged(at=at + wait, seq=seq0 + 1, counter=1, status=m.CounterStatus.CALLED, number=number),
        m.TicketCalled(at=at + wait, seq=seq0 + 1, n=1, number=number, counter=1, business="cash", tier=tier,
                       waited_s=wait, teller="1001"),
        m.ServiceStarted(at=at + wait + 20, seq=seq0 + 2, number=number, counter=1, teller="1001"),
        m.ServiceFinished(at=at + wait + 300, seq=seq0 + 3, number=number, counter=1, service_s=280.0),
        m.ServiceRated(at=at + wait + 305, seq=seq0 + 4, number=number, counter=1, stars=5 if customer % 7 else 2),
        m.CounterChanged(at=at + wait + 305, seq=seq0 + 4, n=1, counter=1, status=m.CounterStatus.RATING),
        m.CounterChanged(at=at + wait + 306, seq=seq0 + 5, counter=1, status=m.CounterStatus.IDLE),
    ]
    return [(f"qcall/v1/{b}/event/{type(e).__struct_config__.tag}", m.encode(e)) for e in evs]


class Feed:
    """The 1,000 branches' traffic through one QoS 1 connection (as their bridges would send it)."""

    def __init__(self, port: int, password: str) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=FEED, protocol=mqtt.MQTTv311)
        self.c.username_pw_set(FEED, password)
        self.c.max_inflight_messages_set(2000)
        self.c.max_queued_messages_set(0)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.customers = [0] * BRANCHES
        self.sent = 0
        self.last: mqtt.MQTTMessageInfo | None = None

    def customer(self, branch: int) -> None:
        k = self.customers[branch]
        self.customers[branch] += 1
        for topic, payload in events_for(branch, k, 1 + 6 * k):
            self.c.publish(topic, payload, qos=1)
        self.last = self.c.publish(f"qcall/v1/br{branch:04d}/state/queues", b'{"v":1,"waiting":{"cash":3}}', qos=1)
        self.sent += len(PER_CUSTOMER)

    def flush(self, timeout: float = 40.0) -> None:
        """paho's publish() only queues: wait until the broker has acknowledged everything."""
        if self.last is not None:
            self.last.wait_for_publish(timeout)
        deadline = time.monotonic() + timeout
        while self.c._out_messages and time.monotonic() < deadline:  # what paho still has in flight
            time.sleep(0.01)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


_BROKERS: list[MosquittoBroker] = []


def _LOGS() -> str:
    return "\n".join(b.log_text()[-3000:] for b in _BROKERS)


def count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM hq_event").fetchone()
        return int(row[0]) if row else 0


def wait_count(dsn: str, want: int, timeout: float) -> float:
    start = time.perf_counter()
    while count(dsn) < want:
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"head office stored {count(dsn)} of {want} events in {timeout:g} s\n{_LOGS()}")
        time.sleep(0.02)
    return time.perf_counter() - start


def central(tmp: Path) -> tuple[MosquittoBroker, hqlink.Central, str]:
    ids = [f"br{i:04d}" for i in range(BRANCHES)] + ["wan"]
    files = hqlink.provision_central(ids, tmp / "central", local_port=free_port(), persistence_dir="",
                                     workers=WORKERS + 1)
    feed_pw = "bench-feed-password"
    # The bench feed may write every tree (it stands in for 1,000 bridges); everyone else as provisioned.
    files.acl.write_text(render_acl([*hqlink.central_grants("qcall", ids, WORKERS + 1),
                                     Grant(FEED, "bench", ("qcall/v1/#",), ())]))
    with files.passwd.open("a") as f:
        f.write(f"{FEED}:{password_hash(feed_pw)}\n")
    broker = MosquittoBroker(tmp / "central-run", conf=files.settings).start()
    _BROKERS.append(broker)
    return broker, files, feed_pw


def open_session(port: int, user: str, password: str, share: str = "") -> None:
    """The ingest worker's persistent session, made before anything is published (as at installation)."""
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, clean_session=False, protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)
    c.on_subscribe = lambda *_a: done.set()
    c.connect("127.0.0.1", port)
    c.subscribe([(f, 1) for f in filters("qcall", share)])
    c.loop_start()
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def close_session(port: int, user: str, password: str) -> None:
    """End a worker's persistent session (a clean connect), so the broker stops queueing for it."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, clean_session=True, protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def hq_cfg(port: int, dsn: str, password_file: Path, user: str = "hq-ingest1") -> HqConfig:
    return parse({"broker": {"port": port, "username": user, "password_file": str(password_file)},
                  "database": {"dsn": dsn, "batch_max": 5000, "batch_wait_ms": 20},
                  "targets": {"wait_minutes": {"vip": 10, "normal": 20}},
                  "branch": [{"id": f"br{i:04d}", "region": f"region{i % 8}"} for i in range(BRANCHES)]
                  + [{"id": "wan", "region": "region0"}]})


def busy_hour(feed: Feed, dsn: str, seconds: float) -> float:
    """1,000 branches x 100 customers an hour = ~28 customers a second across the bank."""
    rate = BRANCHES * 100 / 3600.0
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * rate)
        while n < due:
            feed.customer(random.randrange(BRANCHES))
            n += 1
        time.sleep(0.005)
    sent_at, want = time.perf_counter(), feed.sent
    wait_count(dsn, want, 30)
    return (time.perf_counter() - sent_at) * 1000


def _worker(cfg: HqConfig, share: str, ready: Any, stop: Any) -> None:
    ingest = Ingest(cfg, share=share).start()
    ready.set()
    stop.wait()
    ingest.stop()


def burst(feed: Feed, cfgs: list[HqConfig], dsn: str, customers: int) -> tuple[float, int]:
    """The ingest away while the branches publish `customers` customers' lives; then its workers
    (each its own process, on one shared subscription when there are several) drain it."""
    for k in range(customers):
        feed.customer(k % BRANCHES)
    feed.flush()  # the whole backlog is at the broker, queued for the ingest's session(s)
    want, have = feed.sent, count(dsn)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    procs = []
    for cfg in cfgs:
        ready = ctx.Event()
        proc = ctx.Process(target=_worker, args=(cfg, "hq" if len(cfgs) > 1 else "", ready, stop))
        proc.start()
        procs.append((proc, ready))
    start = time.perf_counter()
    try:
        wait_count(dsn, want, 45)
        return (want - have) / (time.perf_counter() - start), want - have
    finally:
        stop.set()
        for proc, _ in procs:
            proc.join(10)


def wan_link(tmp: Path, cen: MosquittoBroker, files: hqlink.Central, dsn: str) -> tuple[float, int]:
    """A real branch broker bridged to head office; the link down for a busy hour of this branch."""
    cfg = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
    hq = msgspec.structs.replace(cfg.hq, host="127.0.0.1", port=cen.port, reconnect_min_s=1, reconnect_max_s=1,
                                 password_file=str(files.credentials["branch-wan"]))
    cfg = msgspec.structs.replace(cfg, branch=msgspec.structs.replace(cfg.branch, id="wan"), hq=hq)
    (tmp / "wan-data").mkdir()
    prov = provision(cfg, tmp / "wan", listen_port=free_port())
    branch = MosquittoBroker(tmp / "wan-run", conf=dataclasses.replace(prov.settings,
                                                                       persistence_dir=str(tmp / "wan-data"))).start()
    core = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="core", protocol=mqtt.MQTTv311)
    core.username_pw_set("core", prov.password("core"))
    core.max_inflight_messages_set(1000)
    core.connect("127.0.0.1", branch.port)
    core.loop_start()
    try:
        cen.stop()  # the WAN link is down
        before = count(dsn)
        n = 0
        for k in range(150):  # a busy hour of one big branch: 150 customers
            for topic, payload in events_for(0, k, 1 + 6 * k):
                info = core.publish(topic.replace("br0000", "wan"), payload, qos=1)
                n += 1
            core.publish("qcall/v1/wan/state/queues", b'{"v":1,"waiting":{"cash":3}}', qos=1)
        info.wait_for_publish(10)
        time.sleep(0.3)
        cen.start()  # back: the bridge reconnects and sends the hour
        start = time.perf_counter()
        wait_count(dsn, before + n, 40)
        return time.perf_counter() - start, n
    finally:
        core.loop_stop()
        core.disconnect()
        branch.close()


def month_rows(dsn: str) -> None:
    """A month of 1,000 branches in the roll-up the ranking reads, and each branch's tickets of today
    (5 % still waiting) in the live table, written with COPY."""
    rnd = random.Random(7)
    with psycopg.connect(dsn, autocommit=True) as c, c.cursor() as cur:
        cur.execute("TRUNCATE hq_day, hq_ticket, hq_teller_day")
        with cur.copy("COPY hq_day (branch, day, arrivals, called, wait_sum_s, served, cancelled, rated, "
                      "satisfied, vip_called, vip_in_target, alerts) FROM STDIN") as cp:
            for b in range(BRANCHES):
                for d in range(1, 32):
                    arrivals = rnd.randint(250, 450)
                    rated = int(arrivals * 0.7)
                    vip = arrivals // 6
                    cp.write_row((f"br{b:04d}", f"2026-03-{d:02d}", arrivals, arrivals - 5, arrivals * 400.0,
                                  arrivals - 8, 3, rated, int(rated * rnd.uniform(0.7, 0.99)), vip,
                                  int(vip * rnd.uniform(0.75, 1.0)), rnd.randint(0, 5)))
        with cur.copy("COPY hq_teller_day (branch, day, teller, served, rated, satisfied) FROM STDIN") as cp:
            for b in range(BRANCHES):  # six tellers a day, each with ~40 rated services
                for d in range(1, 32):
                    for t in range(6):
                        rated = rnd.randint(30, 50)
                        cp.write_row((f"br{b:04d}", f"2026-03-{d:02d}", f"{1001 + t}", rated + 10, rated,
                                      int(rated * rnd.uniform(0.75, 1.0))))
        now = T0 + 4 * 3600
        with cur.copy("COPY hq_ticket (branch, number, waiting, since, business, tier, seq, n) FROM STDIN") as cp:
            for b in range(BRANCHES):
                for k in range(300):
                    waiting = k >= 270  # the last half hour of arrivals still waits
                    since = now - (300 - k) * 60.0
                    cp.write_row((f"br{b:04d}", f"A{k:03d}", waiting,
                                  time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(since)),
                                  "cash", "vip" if k % 5 == 0 else "normal", k + 1, 0))
        cur.execute("ANALYZE hq_day")
        cur.execute("ANALYZE hq_teller_day")
        cur.execute("ANALYZE hq_ticket")


def timed_ms(fn: Any) -> float:
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(runs), 2)


def main() -> None:
    random.seed(1)
    out: dict[str, Any] = {"branches": BRANCHES}
    with tempfile.TemporaryDirectory(prefix="qcall-bench-hq-") as d, PgCluster() as pg:
        tmp = Path(d)
        cen, files, feed_pw = central(tmp)
        try:
            cfg = hq_cfg(cen.port, pg.dsn, files.credentials["hq-ingest1"])
            open_session(cen.port, "hq-ingest1", files.password("hq-ingest1"))
            ingest = Ingest(cfg).start()
            feed = Feed(cen.port, feed_pw)
            out["steady_lag_ms"] = round(busy_hour(feed, pg.dsn, 4.0), 1)
            out["steady_events"] = feed.sent
            ingest.stop()
            rate, n = burst(feed, [cfg], pg.dsn, 5_000)
            out["ingest_events_per_s"] = round(rate)  # one worker: the default deployment
            out["burst_events"] = n
            # The same burst again with WORKERS processes on one shared subscription.
            close_session(cen.port, "hq-ingest1", files.password("hq-ingest1"))
            users = [hqlink.ingest_user(w) for w in range(2, WORKERS + 2)]
            shared = [hq_cfg(cen.port, pg.dsn, files.credentials[u], u) for u in users]
            for u in users:
                open_session(cen.port, u, files.password(u), "hq")
            rate, n = burst(feed, shared, pg.dsn, 5_000)
            out[f"ingest_events_per_s_{WORKERS}_workers_shared"] = round(rate)
            feed.close()
            for u in users:
                close_session(cen.port, u, files.password(u))
            open_session(cen.port, "hq-ingest1", files.password("hq-ingest1"))
            ingest = Ingest(cfg).start()
            catchup, n = wan_link(tmp, cen, files, pg.dsn)
            ingest.stop()
            out["backlog_catchup_s"] = round(catchup, 2)
            out["backlog_events"] = n
            month_rows(pg.dsn)
            with psycopg.connect(pg.dsn, autocommit=True) as conn:
                r = Reports(cfg, conn)
                now = T0 + 4 * 3600
                over = r.live_over_target(now)
                out["live_over_target_query_ms"] = timed_ms(lambda: r.live_over_target(now))
                out["live_branches_over_target"] = len(over)
                out["month_ranking_query_ms"] = timed_ms(lambda: r.ranking(now, "2026-03"))
                out["vip_by_region_query_ms"] = timed_ms(lambda: r.vip_by_region(now, "2026-03"))
                out["month_rows"] = BRANCHES * 31
                out["month_teller_rows"] = BRANCHES * 31 * 6
        finally:
            cen.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
