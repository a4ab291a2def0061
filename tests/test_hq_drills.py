"""Head-office drills on loopback: three branch Mosquittos bridged (Mosquitto's own bridge) to a
central Mosquitto, each branch's real core on a virtual clock, the ingest into a real PostgreSQL.

The link is cut for a busy simulated hour, brokers restart, the ingest is killed with -9 in the
middle of a backlog: every event the branch published reaches head office exactly once, in the
branch's order, and the branches never notice (every request answered, their figures the same)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties  # noqa: F401  (MQTT 5 reason codes below)

from qbus import hqlink
from qbus import messages as m
from qhq.store import APP_NAME, HqStore
from tests.hq_rig import (
    T0,
    BranchSite,
    CentralSite,
    IngestProcess,
    db_rows,
    hq_config,
    in_process_ingest,
    start_branch,
    until,
    write_hq_toml,
)
from tests.pg_cluster import PgCluster

Sites = tuple[CentralSite, list[BranchSite]]  # the sites fixture: head office and its branches

BRANCHES = ["b1", "b2", "b3"]


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    central = CentralSite(tmp_path, BRANCHES)
    branches: list[BranchSite] = []
    try:
        for b in BRANCHES:
            branches.append(start_branch(tmp_path, b, central))
        for site in branches:
            site.open_counters()
        yield central, branches
    finally:
        for site in branches:
            site.close()
        central.broker.close()


def stored(dsn: str, schema: str, branch: str) -> list[tuple[int, int]]:
    """(seq, n) of a branch's events at head office, in the order head office stored them."""
    return [(r[0], r[1]) for r in db_rows(dsn, schema, "SELECT seq, n FROM hq_event WHERE branch = %s "
                                                       "ORDER BY received", branch)]


def kill_inside_a_batch(proc: IngestProcess, dsn: str) -> None:
    """Kill the ingest -9 the moment PostgreSQL shows it inside a batch's transaction."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                               "AND state IN ('active', 'idle in transaction') AND (query LIKE 'COPY hq_stage%%' "
                               "OR query LIKE '%%WITH ins AS%%' OR query LIKE '%%INSERT INTO hq_ticket%%')",
                               (APP_NAME,)).fetchone()
            if row and row[0]:
                proc.kill()
                return
    raise AssertionError("the ingest was never seen inside a batch")


def all_arrived(dsn: str, schema: str, branches: list[BranchSite]) -> bool:
    return all(len(stored(dsn, schema, s.id)) >= len(s.seen) for s in branches)


def assert_exactly_once_in_order(dsn: str, schema: str, branches: list[BranchSite]) -> None:
    for site in branches:
        got = stored(dsn, schema, site.id)
        assert len(got) == len(set(got)), f"{site.id}: an event stored twice"
        assert set(got) == site.seen, f"{site.id}: head office differs from what the branch published"
        assert got == sorted(got), f"{site.id}: stored out of the branch's order"


def assert_head_office_figures_match(dsn: str, schema: str, site: BranchSite) -> None:
    k = site.kpis()
    got = db_rows(dsn, schema, "SELECT sum(arrivals), sum(served), sum(rated) FROM hq_day WHERE branch = %s",
                  site.id)
    rated = sum(1 for t in site.runner.store.core.tickets.values() if t.rating > 0)
    assert got == [(k["issued"], k["served"], rated)]


def test_the_link_cut_for_a_busy_hour_then_restored(sites: Sites, postgres: PgCluster) -> None:
    central, branches = sites
    schema = f"d_{uuid.uuid4().hex[:8]}"
    ingest = in_process_ingest(hq_config(central, postgres.dsn, schema, BRANCHES))
    try:
        for site in branches:
            site.busy(3)
        until(lambda: all_arrived(postgres.dsn, schema, branches), what="the first events at head office")

        central.broker.stop()  # the WAN link is down (the central broker is gone for everyone)
        before = {s.id: s.kpis()["issued"] for s in branches}
        for site in branches:
            site.busy(30)  # a busy hour in virtual time: every request still answered (asserted)
        during = {s.id: s.kpis() for s in branches}
        assert all(during[s.id]["issued"] == before[s.id] + 90 for s in branches)
        assert stored(postgres.dsn, schema, "b1") != sorted(branches[0].seen)  # nothing arrived meanwhile

        central.broker.start()  # the link is back: the branch brokers' bridges send their queues
        until(lambda: all_arrived(postgres.dsn, schema, branches), 30, "the hour's backlog at head office")
        assert_exactly_once_in_order(postgres.dsn, schema, branches)
        for site in branches:
            assert site.kpis() == during[site.id], "restoring the link changed a branch's figures"
            assert_head_office_figures_match(postgres.dsn, schema, site)
        links = db_rows(postgres.dsn, schema, "SELECT branch, up FROM hq_link ORDER BY branch")
        assert links == [(b, True) for b in BRANCHES]
        states = {r[0] for r in db_rows(postgres.dsn, schema, "SELECT key FROM hq_state WHERE branch = %s", "b1")}
        assert "queues" in states and not {k for k in states if "waiting" in k}, states  # the waiting list stays home
    finally:
        ingest.stop()


def test_restarts_and_an_ingest_killed_mid_batch_lose_and_double_nothing(
        sites: Sites, postgres: PgCluster, tmp_path: Path) -> None:
    central, branches = sites
    schema = f"k_{uuid.uuid4().hex[:8]}"
    cfg = hq_config(central, postgres.dsn, schema, BRANCHES, batch_max=50, batch_wait_ms=20)
    HqStore.connect(cfg).close()  # the tables exist before the ingest process makes them
    proc = IngestProcess(write_hq_toml(cfg, tmp_path / "hq.toml")).start()
    try:
        for site in branches:
            site.busy(3)
        until(lambda: all_arrived(postgres.dsn, schema, branches), 30, "the first events")

        branches[0].broker.stop()  # a branch broker restarts (its persistence keeps the bridge queue)
        branches[0].broker.start()
        branches[0].busy(3)
        central.broker.stop()  # and the central broker
        for site in branches:
            site.busy(2)
        central.broker.start()
        until(lambda: all_arrived(postgres.dsn, schema, branches), 30, "events after the restarts")

        proc.kill()  # build a backlog with the ingest away, then kill it again while it drains it
        for site in branches:
            site.busy(15)
        proc.start()
        kill_inside_a_batch(proc, postgres.dsn)  # -9 mid-batch: never committed nor acknowledged
        assert not all_arrived(postgres.dsn, schema, branches), "the backlog drained before the kill"
        proc.start()
        until(lambda: all_arrived(postgres.dsn, schema, branches), 30, "the rest of the backlog")
        assert_exactly_once_in_order(postgres.dsn, schema, branches)
        for site in branches:
            assert_head_office_figures_match(postgres.dsn, schema, site)
    finally:
        proc.stop()


def test_two_ingest_workers_on_a_shared_subscription_store_each_event_once(
        tmp_path: Path, postgres: PgCluster) -> None:
    """Scaling past one ingest process (docs/hq.md): the broker spreads the branches' messages
    over the workers; nothing in the store depends on which worker got what, or in which order."""
    central = CentralSite(tmp_path, BRANCHES[:2], workers=2, share="hq")
    schema = f"s_{uuid.uuid4().hex[:8]}"
    sites = [start_branch(tmp_path, b, central) for b in BRANCHES[:2]]
    workers = [in_process_ingest(hq_config(central, postgres.dsn, schema, BRANCHES[:2], user=u), share="hq")
               for u in (hqlink.ingest_user(1), hqlink.ingest_user(2))]
    try:
        for site in sites:
            site.open_counters()
            site.busy(6)
        until(lambda: all_arrived(postgres.dsn, schema, sites), 30, "both branches' events")
        for site in sites:
            got = stored(postgres.dsn, schema, site.id)
            assert len(got) == len(set(got)) and set(got) == site.seen
            assert_head_office_figures_match(postgres.dsn, schema, site)
        assert all(w.totals.messages > 0 for w in workers), "the broker gave one worker everything"
    finally:
        for w in workers:
            w.stop()
        for site in sites:
            site.close()
        central.broker.close()


def _v5_client(central: CentralSite, user: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, central.files.password(user))
    return c


def test_a_branch_cannot_write_or_read_another_branchs_tree(tmp_path: Path) -> None:
    central = CentralSite(tmp_path, ["b1", "b2"])
    heard: list[str] = []
    watcher = _v5_client(central, "hq-ingest1")
    watcher.on_message = lambda _c, _u, msg: heard.append(msg.topic)
    intruder = _v5_client(central, hqlink.branch_user("b1"))
    acks: dict[int, Any] = {}
    intruder.on_publish = lambda _c, _u, mid, rc, _p: acks.__setitem__(mid, rc)
    snooped: list[str] = []
    intruder.on_message = lambda _c, _u, msg: snooped.append(msg.topic)
    owner = _v5_client(central, hqlink.branch_user("b2"))
    try:
        for c in (watcher, intruder, owner):
            c.connect("127.0.0.1", central.port)
            c.loop_start()
        watcher.subscribe("qcall/v1/#", qos=1)
        intruder.subscribe("qcall/v1/b2/#", qos=1)  # Mosquitto grants it, then filters every delivery
        until(lambda: watcher.is_connected() and intruder.is_connected() and owner.is_connected())
        forged = m.encode(m.TicketIssued(at=T0, seq=1, ticket=m.TicketView(
            id="d/A001", number="A001", business="cash", tier="normal", issued_at=T0)))
        bad = intruder.publish("qcall/v1/b2/event/issued", forged, qos=1)
        good = intruder.publish("qcall/v1/b1/event/issued", forged, qos=1)
        until(lambda: bad.mid in acks and good.mid in acks, what="the broker's answers")
        assert acks[bad.mid].is_failure and "authori" in str(acks[bad.mid]).lower()  # Not authorized
        assert not acks[good.mid].is_failure
        owner.publish("qcall/v1/b2/event/called", b"{}", qos=1)  # b2's own message, read by head office
        until(lambda: "qcall/v1/b1/event/issued" in heard and "qcall/v1/b2/event/called" in heard,
              what="each branch's own message at head office")
        assert heard.count("qcall/v1/b2/event/issued") == 0  # the forgery never reached head office
        owner.publish("qcall/v1/b1/notice", b"{}", qos=1)  # nor may b2 push into b1's branch
        until(lambda: len(heard) >= 2)
        assert "qcall/v1/b1/notice" not in heard and snooped == []  # b1 read nothing of b2's
        thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hq-ingest1", protocol=mqtt.MQTTv5)
        thief.username_pw_set(hqlink.branch_user("b1"), central.files.password(hqlink.branch_user("b1")))
        thief.connect("127.0.0.1", central.port)  # b1 claims the ingest's client id (and its queue)
        thief.loop_start()
        until(thief.is_connected, what="the second b1 connection")
        time.sleep(0.3)
        thief.loop_stop()
        thief.disconnect()
        assert watcher.is_connected(), "a branch's login took over head office's session"
    finally:
        for c in (watcher, intruder, owner):
            c.loop_stop()
            c.disconnect()
        central.broker.close()


def _pg_ctl(pg: PgCluster, *args: str) -> None:
    from tests.pg_cluster import _bin

    pg._run(_bin("pg_ctl"), "-D", str(pg.data), *args)


def test_head_offices_database_restarting_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """PostgreSQL goes away under the ingest and comes back: the ingest waits, keeps every message
    unacknowledged meanwhile, and writes the same batch again on a new connection."""
    central = CentralSite(tmp_path, ["b1"])
    site = start_branch(tmp_path, "b1", central)
    with PgCluster() as pg:
        schema = "restart"
        ingest = in_process_ingest(hq_config(central, pg.dsn, schema, ["b1"]))
        try:
            site.open_counters()
            site.busy(2)
            until(lambda: all_arrived(pg.dsn, schema, [site]), what="the first events")
            _pg_ctl(pg, "-m", "fast", "-w", "stop")  # the database restarts ...
            site.busy(4)  # ... while the branch keeps working
            until(lambda: ingest.totals.retries > 0, what="the ingest to find the database gone")
            opts = (f"-c listen_addresses=127.0.0.1 -c port={pg.port} -k {pg.root} -c fsync=off")
            _pg_ctl(pg, "-o", opts, "-l", str(pg.root / "log"), "-w", "-t", "60", "start")
            until(lambda: all_arrived(pg.dsn, schema, [site]), 30, "the events held while it was down")
            assert_exactly_once_in_order(pg.dsn, schema, [site])
            assert_head_office_figures_match(pg.dsn, schema, site)
            assert ingest.failed is None
        finally:
            ingest.stop()
            site.close()
            central.broker.close()
