"""Head office's PostgreSQL store and reports on a real server: each event once whatever is
redelivered, a month per partition, bad payloads kept aside with the reason, and the reports'
figures on hand-built days with known answers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qbus import messages as m
from qhq.config import HqConfig, parse
from qhq.report import Reports, page
from qhq.store import HqStore
from tests.hq_rig import ROOT, T0, db_rows, write_hq_toml
from tests.pg_cluster import PgCluster


def _cfg(pg: PgCluster) -> HqConfig:
    return parse({"database": {"dsn": pg.dsn, "schema": f"t_{uuid.uuid4().hex[:10]}"},
                  "targets": {"wait_minutes": {"vip": 10, "normal": 20}},
                  "branch": [{"id": "b1", "name": "福田支行", "region": "south"},
                             {"id": "b2", "name": "南山支行", "region": "south"},
                             {"id": "b3", "name": "徐汇支行", "region": "east"}]})


def ev(branch: str, event: Any) -> tuple[str, bytes]:
    return f"qcall/v1/{branch}/event/{type(event).__struct_config__.tag}", m.encode(event)


def issued(seq: int, number: str, at: float, tier: str = "normal") -> m.TicketIssued:
    return m.TicketIssued(at=at, seq=seq, ticket=m.TicketView(id=f"d/{number}", number=number, business="cash",
                                                              tier=tier, issued_at=at))


def called(seq: int, number: str, at: float, waited: float, tier: str = "normal") -> m.TicketCalled:
    return m.TicketCalled(at=at, seq=seq, n=1, number=number, counter=1, business="cash", tier=tier,
                          waited_s=waited)


def rated(seq: int, number: str, at: float, stars: int) -> m.ServiceRated:
    return m.ServiceRated(at=at, seq=seq, number=number, counter=1, stars=stars)


@pytest.fixture
def store(postgres: PgCluster) -> Iterator[HqStore]:
    s = HqStore.connect(_cfg(postgres))
    yield s
    s.close()


def test_a_redelivered_batch_is_stored_once_and_the_day_roll_up_does_not_move(store: HqStore) -> None:
    batch = [ev("b1", issued(1, "A001", T0)), ev("b1", issued(2, "A002", T0 + 5)),
             ev("b1", called(3, "A001", T0 + 60, 60.0)), ev("b1", rated(4, "A001", T0 + 300, 5))]
    first = store.write(batch)
    assert (first.events, first.duplicates) == (4, 0)
    again = store.write(batch + batch[:2])  # a reconnect delivers it all again, some twice
    assert (again.events, again.duplicates) == (0, 6)
    rows = db_rows(store.cfg.database.dsn, store.cfg.database.schema,
                   "SELECT arrivals, called, served, rated, satisfied FROM hq_day WHERE branch = 'b1'")
    assert rows == [(2, 1, 0, 1, 1)]
    assert db_rows(store.cfg.database.dsn, store.cfg.database.schema, "SELECT count(*) FROM hq_event") == [(4,)]


def test_events_go_to_their_months_partition(store: HqStore) -> None:
    month = 31 * 86400.0
    store.write([ev("b1", issued(1, "A001", T0)), ev("b1", issued(2, "A002", T0 + month))])
    parts = db_rows(store.cfg.database.dsn, store.cfg.database.schema,
                    "SELECT tableoid::regclass::text, count(*) FROM hq_event GROUP BY 1 ORDER BY 1")
    assert [p[0].split(".")[-1] for p in parts] == ["hq_event_2026_03", "hq_event_2026_04"]


def test_a_bad_payload_is_kept_aside_with_its_reason_and_the_rest_is_stored(store: HqStore) -> None:
    bad = [("qcall/v1/b1/event/issued", b'{"type":"issued","at":"yesterday"}'),
           ("qcall/v1/b1/event/issued", b"\xff\xfe not json"),
           ("qcall/v1/b1/event/issued", m.encode(m.TicketIssued(at=T0, ticket=issued(1, "A9", T0).ticket)))]
    done = store.write([*bad, ev("b1", issued(7, "A007", T0))])
    assert (done.events, done.rejected) == (1, 3)
    kept = db_rows(store.cfg.database.dsn, store.cfg.database.schema, "SELECT reason, payload FROM hq_rejected ORDER BY id")
    assert [bytes(p) for _, p in kept] == [p for _, p in bad]
    assert "seq" in kept[2][0] and "at" in kept[0][0]


def _month(store: HqStore) -> None:
    """b1: 4 rated (3 satisfied), VIP called within 10 min twice of 3; b2: 2 rated, both satisfied;
    b3 (east): a VIP called after 12 min. Now (T0 + 1 h): b1 has a normal customer waiting 25 min
    (over the 20-min target) and a VIP waiting 5 min (within); b2's waiting VIP is at 11 min."""
    now = T0 + 3600
    b1 = [issued(1, "A001", T0, "vip"), called(2, "A001", T0 + 100, 100, "vip"),
          issued(3, "A002", T0, "vip"), called(4, "A002", T0 + 500, 500, "vip"),
          issued(5, "A003", T0, "vip"), called(6, "A003", T0 + 900, 900, "vip"),
          rated(7, "A001", T0 + 1000, 5), rated(8, "A002", T0 + 1000, 4), rated(9, "A003", T0 + 1000, 1),
          rated(10, "A004", T0 + 1000, 5), rated(11, "A005", T0 + 1000, 0),
          issued(12, "A010", now - 25 * 60), issued(13, "A011", now - 5 * 60, "vip")]
    b2 = [rated(1, "B001", T0, 5), rated(2, "B002", T0, 4), issued(3, "B010", now - 11 * 60, "vip")]
    b3 = [issued(1, "C001", T0, "vip"), called(2, "C001", T0 + 720, 720, "vip")]
    store.write([ev("b1", e) for e in b1] + [ev("b2", e) for e in b2] + [ev("b3", e) for e in b3])


def test_reports_on_hand_built_days(store: HqStore) -> None:
    _month(store)
    now = T0 + 3600
    with psycopg.connect(store.cfg.database.dsn, autocommit=True) as conn:
        r = Reports(store.cfg, conn)
        live = r.live_over_target(now)
        assert [(x["branch"], x["over_target"], x["oldest_wait_s"]) for x in live] == [("b1", 1, 1500.0),
                                                                                     ("b2", 1, 660.0)]
        rank = r.ranking(now)
        assert [(x["branch"], x["satisfaction"], x["rated"], x["below_target"]) for x in rank] == [
            ("b2", 1.0, 2, False), ("b1", 0.75, 4, True), ("b3", None, 0, None)]  # unrated last, not judged
        assert [(x["vip_in_target"], x["vip_called"], x["vip_below_target"]) for x in rank] == [
            (0, 0, None), (2, 3, True), (0, 1, True)]  # VIP called within 10 min, against 90 %
        vip = {x["region"]: (x["vip_called"], x["vip_in_target"]) for x in r.vip_by_region(now)}
        assert vip == {"south": (3, 2), "east": (1, 0)}
        drill = r.branch("b1", now)
        assert [w["number"] for w in drill["waiting_now"]] == ["A010", "A011"]
        assert drill["days"][0]["arrivals"] == 5 and drill["name"] == "福田支行"
        html = page(r.all(now, branch="b1"))
        assert "满意度排名" in html and "75.0%" in html and "<script" not in html


def test_the_report_command_prints_json_and_writes_html(store: HqStore, tmp_path: Path) -> None:
    _month(store)
    config = write_hq_toml(store.cfg, tmp_path / "hq.toml")
    out = subprocess.run([sys.executable, "-m", "qcall.cli", "hq", "report", "--config", str(config), "--json",
                          "--now", str(T0 + 3600), "--branch", "b2", "--html", str(tmp_path / "r.html")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["month"] == "2026-03" and report["branch"]["branch"] == "b2"
    assert [x["branch"] for x in report["ranking"]] == ["b2", "b1", "b3"]
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    bad = subprocess.run([sys.executable, "-m", "qcall.cli", "hq", "report", "--config", str(config),
                          "--month", "March"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr


def test_provision_writes_the_bridge_and_check_config_refuses_a_link_without_credentials(tmp_path: Path) -> None:
    import msgspec

    from qbus import hqlink
    from qbus.config import load
    from qbus.config.validate import problems
    from qbus.provision import provision
    from tests.test_config import EXAMPLE

    central = hqlink.provision_central(["futian"], tmp_path / "central", persistence_dir="")
    cfg = load(EXAMPLE)
    linked = msgspec.structs.replace(cfg, hq=msgspec.structs.replace(
        cfg.hq, host="mq.hq.example", password_file=str(central.credentials["branch-futian"]), cafile="/ca.pem"))
    conf = provision(linked, tmp_path / "branch").conf.read_text()
    bridge = conf[conf.index("connection hq-futian"):]
    assert "topic event/# out 1 qcall/v1/futian/ qcall/v1/futian/" in bridge
    assert "topic notice in 1 qcall/v1/futian/ qcall/v1/futian/" in bridge
    assert "cleansession false" in bridge and "bridge_cafile /ca.pem" in bridge
    assert f"remote_password {central.password('branch-futian')}" in bridge
    assert not any(" in " in line for line in bridge.splitlines()
                   if line.startswith("topic ") and ("event" in line or "state" in line))
    no_secret = msgspec.structs.replace(linked, hq=msgspec.structs.replace(linked.hq, password_file="", cafile=""))
    found = " ".join(problems(no_secret))
    assert "hq.password_file" in found and "hq.cafile" in found


@pytest.mark.parametrize(("change", "named"), [
    ({"branch": []}, "branch"),
    ({"branch": [{"id": "b1", "region": "south"}, {"id": "b1", "region": "east"}]}, "more than once"),
    ({"branch": [{"id": "b/1", "region": "south"}]}, "b/1"),
    ({"branch": [{"id": "b1"}]}, "region"),
    ({"hq": {"timezone": "Mars/Olympus"}}, "hq.timezone"),
    ({"hq": {"daily_reset": "3am"}}, "daily_reset"),
    ({"targets": {"satisfaction": 85}}, "shares"),
    ({"database": {"batch_max": 0}}, "batch_max"),
    ({"broker": {"port": "1883"}}, "port"),
    ({"hq": {"nmae": "typo"}}, "nmae"),
    ({"targets": {"star_teller_share": 0}}, "star_teller_share"),
    ({"targets": {"star_grades": [0.9, 0.8]}}, "star_grades"),
    ({"web": {"port": 0}}, "web"),
    ({"web": {"refresh_s": 0}}, "refresh_s"),
])
def test_a_bad_head_office_config_is_refused_naming_the_key(change: dict[str, Any], named: str) -> None:
    from qbus.errors import ConfigError

    data: dict[str, Any] = {"branch": [{"id": "b1", "region": "south"}], **change}
    with pytest.raises(ConfigError, match=named.replace("/", ".")):
        parse(data)


def test_a_branch_config_that_is_another_branchs_or_missing_is_refused(tmp_path: Path) -> None:
    from qbus.errors import ConfigError
    from qhq.config import load

    (tmp_path / "futian.toml").write_text((ROOT / "examples" / "branch.toml").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    hq = tmp_path / "hq.toml"
    hq.write_text('[[branch]]\nid = "nanshan"\nregion = "south"\nconfig = "futian.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="nanshan.*futian.toml is branch 'futian'"):
        load(hq)
    hq.write_text('[[branch]]\nid = "futian"\nregion = "south"\nconfig = "nowhere.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="futian.*nowhere.toml"):
        load(hq)
    hq.write_text('[[branch]]\nid = "futian"\nregion = "south"\nconfig = "futian.toml"\n', encoding="utf-8")
    assert load(hq).branch[0].config == str(tmp_path / "futian.toml")


def test_the_docs_hq_block_and_the_example_head_office_config_are_valid() -> None:
    """docs/hq.md's [hq] block is a valid branch section; examples/hq.toml loads and names regions."""
    import re
    import tomllib

    import msgspec

    from qbus.config.sections import HqSection
    from qhq.config import WebSection, load

    doc = (ROOT / "docs" / "hq.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[hq\]\n.*?)```", doc, re.S)
    assert block is not None
    hq = msgspec.convert(tomllib.loads(block.group(1))["hq"], HqSection)
    assert hq.host and hq.cafile and hq.queue_max_messages == 200_000
    web = re.search(r"```toml\n(\[web\]\n.*?)```", doc, re.S)  # the head-office web's block
    assert web is not None
    hq_web = msgspec.convert(tomllib.loads(web.group(1))["web"], WebSection)
    assert hq_web.base_url.startswith("https://") and hq_web.refresh_s == 20
    cfg = load(ROOT / "examples" / "hq.toml")
    assert all(b.region for b in cfg.branch) and cfg.targets.satisfaction == 0.85
    assert cfg.branch[0].config.endswith("branch.toml") and cfg.web.port == 8090
