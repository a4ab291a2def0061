"""Day archives into the history at head office: a branch's closed day goes out through the
bridge in parts that fit the broker's packet bound, lands once in head office's PostgreSQL history
(a replay stores nothing twice), and the history's report there equals the branch's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus.broker import MosquittoBroker
from qbus.config import load as load_branch
from qbus.topics import Topics
from qcall.history import HQ_SENT, DayCloser, qos1
from qhistory import parts
from qhistory import period as pd
from qhistory.facts import DayFacts, DayRecord, Step, TicketFact
from qhistory.store import open_store
from qhq.config import HqConfig, parse
from qhq.history import open_history, report
from qhq.store import HqStore
from qserver.store import DurableCore
from tests.conftest import MakeBus
from tests.hq_rig import CentralSite, db_rows, hq_config, in_process_ingest, start_branch, until
from tests.pg_cluster import PgCluster
from tests.test_config import EXAMPLE

DAY = "2026-03-02"


def day_facts(branch: str, tickets: int, customer_hash: str = "") -> DayFacts:
    rec = DayRecord(branch=branch, day=DAY, archived_at=1.0, opened_at=0.0, closed_at=2.0, tickets=tickets)
    life = [Step(at=float(k), kind="issued") for k in range(3)]
    return DayFacts(record=rec, tickets=[
        TicketFact(branch=branch, day=DAY, number=f"A{k:03d}", business="cash", first_business="cash",
                   tier="normal", via="button", issued_at=float(k), outcome="served", stars=5,
                   customer_hash=customer_hash, life=life) for k in range(tickets)])


def test_a_big_day_is_split_into_parts_that_each_fit_and_join_back_without_the_customer_hash() -> None:
    facts = day_facts("b1", 200, customer_hash="c0ffee")
    payloads = parts.split(facts, 4096)
    assert len(payloads) > 10 and all(len(p) <= 4096 for p in payloads)
    got = [parts.decode(p, "b1", DAY) for p in reversed(payloads)]  # any order
    whole = parts.join(got)
    assert whole.tickets == [msgspec.structs.replace(t, customer_hash="") for t in facts.tickets]
    assert all(b"c0ffee" not in p for p in payloads)
    assert not parts.complete(got[1:])
    with pytest.raises(parts.PartError, match="parts"):
        parts.join(got[1:])


def test_a_fact_too_big_for_any_part_is_refused_not_dropped() -> None:
    with pytest.raises(parts.PartError, match="over the 600-byte part"):
        parts.split(day_facts("b1", 1), 600)


def _cfg(pg: PgCluster) -> HqConfig:
    return parse({"database": {"dsn": pg.dsn, "schema": f"a_{uuid.uuid4().hex[:10]}"},
                  "branch": [{"id": "b1", "region": "south"}, {"id": "b2", "region": "south"}]})


def test_hostile_archive_parts_are_kept_aside_and_reach_no_history(postgres: PgCluster) -> None:
    store = HqStore.connect(_cfg(postgres))
    try:
        own = parts.split(day_facts("b1", 3), 60_000)[0]
        forged = parts.split(day_facts("b2", 3), 60_000)[0]  # b2's day sent in b1's tree
        done = store.write([("qcall/v1/b1/archive/2026-03-02/1", forged),
                            ("qcall/v1/b1/archive/2026-03-02/2", own),  # part 1 on part 2's topic
                            ("qcall/v1/b1/archive/2026-03-02/x", own),
                            ("qcall/v1/b1/archive/2026-03-02/1", b"{not json")])
        assert done.rejected == 4 and done.days_archived == 0
        s = store.cfg.database.schema
        reasons = [r[0] for r in db_rows(postgres.dsn, s, "SELECT reason FROM hq_rejected ORDER BY id")]
        assert "b2/2026-03-02, sent on b1/2026-03-02" in reasons[0] and "part 1 sent on part 2" in reasons[1]
        assert db_rows(postgres.dsn, s, "SELECT count(*) FROM history_day") == [(0,)]
        assert store.write([("qcall/v1/b1/archive/2026-03-02/1", own)]).days_archived == 1
        assert store.write([("qcall/v1/b1/archive/2026-03-02/1", own)]).days_archived == 0  # a replay
        assert db_rows(postgres.dsn, s, "SELECT branch, count(*) FROM ticket_fact GROUP BY 1") == [("b1", 3)]
    finally:
        store.close()


def _without_complaints(rep: Any) -> dict[str, Any]:
    """Complaints stay in the branch's own book (their contact is personal, and they are handled
    there): head office's copy of a day has none. Everything else must be the same."""
    out: dict[str, Any] = msgspec.to_builtins(rep)
    for key in ("complaints", "complaints_overdue"):
        out.pop(key)
    out["breaches"] = [b for b in out["breaches"] if b["figure"] != "complaints_overdue"]
    return out


def test_a_day_closed_at_a_branch_lands_once_in_head_offices_history_with_the_same_report(
        tmp_path: Path, postgres: PgCluster) -> None:
    central = CentralSite(tmp_path, ["b1"])
    site = start_branch(tmp_path, "b1", central)
    hq = hq_config(central, postgres.dsn, f"h_{uuid.uuid4().hex[:8]}", ["b1"])
    ingest = in_process_ingest(hq)
    sent: list[tuple[str, bytes]] = []
    publish = qos1(site.runner.bus)

    def recorded(topic: str, payload: bytes, on_sent: Callable[[], None]) -> bool:
        sent.append((topic, payload))
        return publish(topic, payload, on_sent)

    # Parts of 3 KB (the broker's bound stays 64 KB): the day travels as several parts.
    small = msgspec.structs.replace(site.cfg, bus=msgspec.structs.replace(site.cfg.bus, max_packet_size=3072))
    branch_history = tmp_path / "b1-history.db"
    site.runner.service.on_day_closed = DayCloser(small, site.runner.store, str(branch_history), publish=recorded)
    try:
        site.open_counters()
        site.busy(6)
        site.time.elapsed += 17 * 3600 + 600  # 03:10 next morning: the core resets and closes the day
        until(lambda: ingest.totals.days_archived == 1, 30, "the closed day in head office's history")
        assert len(sent) > 1 and all(t.startswith("qcall/v1/b1/archive/2026-03-02/") for t, _ in sent)

        for topic, payload in sent:  # the bridge resends everything (a replay after a reconnect)
            site.runner.bus.publish_raw(topic, payload, qos=1)
        before = ingest.totals.messages
        until(lambda: ingest.totals.messages >= before + len(sent), 30, "the replayed parts")
        assert ingest.totals.days_archived == 1
        s = hq.database.schema
        assert db_rows(postgres.dsn, s, "SELECT branch, day FROM history_day") == [("b1", DAY)]

        now = site.runner.service.clock.now()
        own = open_store(branch_history)
        at_hq = open_history(hq)
        try:
            mine = report(own, site.cfg, pd.day(DAY), now)
            theirs = report(at_hq, site.cfg, pd.day(DAY), now)
        finally:
            own.close()
            at_hq.close()
        assert mine.totals.arrivals == 18 and mine.totals.served > 0
        assert _without_complaints(theirs) == _without_complaints(mine)
        n = db_rows(postgres.dsn, s, "SELECT count(*) FROM ticket_fact WHERE branch = 'b1'")[0][0]
        assert n == 18 and db_rows(postgres.dsn, s, "SELECT count(*) FROM ticket_fact WHERE customer_hash <> ''") == [(0,)]
    finally:
        ingest.stop()
        site.close()
        central.broker.close()


def test_a_day_that_never_reached_the_broker_goes_at_the_next_close_and_then_never_again(
        tmp_path: Path, mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    """The core stopped after archiving days but before the broker had their parts (or the broker
    was away): the next close sends every day after the acknowledged mark, once acknowledged they
    are not sent again, and a new day goes alone."""
    base = load_branch(EXAMPLE)
    cfg = msgspec.structs.replace(base, hq=msgspec.structs.replace(base.hq, host="127.0.0.1"))
    branch = cfg.branch.id
    topics = Topics(cfg.bus.prefix, branch)
    store = open_store(tmp_path / "history.db")
    durable = DurableCore(cfg, tmp_path / "journal.db", snapshot_every=10**9)
    heard: list[str] = []
    watcher = make_bus(mosquitto, "watcher", connect=False, topics=topics)
    watcher.subscribe(f"{topics.base}/archive/#", bytes, lambda msg: heard.append(msg.topic))
    watcher.connect(10)
    core = make_bus(mosquitto, "core", topics=topics)
    try:
        for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
            store.archive(msgspec.structs.replace(day_facts(branch, 2), record=DayRecord(
                branch=branch, day=day, archived_at=1.0, opened_at=0.0, closed_at=2.0, tickets=0), tickets=[]))
        closer = DayCloser(cfg, durable, str(tmp_path / "history.db"), publish=qos1(core))
        assert closer.send_pending(store) == ["2026-03-01", "2026-03-02", "2026-03-03"]
        until(lambda: len(closer.acknowledged()) == 3, 10, "the broker's acknowledgements")
        until(lambda: len(heard) == 3, 10, "the parts at a subscriber")
        assert closer.send_pending(store) == []  # all acknowledged: the mark moved, nothing again
        assert durable.journal.meta(HQ_SENT) == "2026-03-03"
        store.archive(msgspec.structs.replace(day_facts(branch, 0), record=DayRecord(
            branch=branch, day="2026-03-04", archived_at=1.0, opened_at=0.0, closed_at=2.0, tickets=0)))
        restarted = DayCloser(cfg, durable, str(tmp_path / "history.db"), publish=qos1(core))
        assert restarted.send_pending(store) == ["2026-03-04"]  # the mark is in the journal
    finally:
        durable.close()
        store.close()
