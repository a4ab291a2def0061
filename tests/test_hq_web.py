"""`qcall hq web` in a real headless Chromium over a real PostgreSQL filled by the real store's
write path (qhq.store.HqStore.write: the events, link messages and day archives the ingest writes):
sign-in and CSRF, the live board updating when a new over-target ticket arrives, the ranking,
the regions, one branch drilled down with its history report, the CSV files, and nothing personal
on any page."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbus.broker import free_port
from qcall.hq_web import build_hq_context
from qcall.web import WebServer
from qhistory import parts
from qhistory.facts import DayFacts, DayRecord, TicketFact
from qhq.config import HqConfig, parse
from qhq.store import HqStore
from tests.browser import save_screenshot
from tests.hq_rig import ROOT, T0, until, write_hq_toml
from tests.pg_cluster import PgCluster
from tests.test_hq_store import called, ev, issued, rated
from tests.web_helpers import EXAMPLE
from web.hq.app import create_hq_app
from web.users import add_user

NOW = T0 + 3600  # 2026-03-02 11:00 in Shanghai
HASH = "c0ffee5eed1234567890abcdef"  # a customer hash a branch left in its archive: must never show
PASSWORD = "head-office-1"


def branch_toml(folder: Path, branch: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace('id = "futian"', f'id = "{branch}"', 1)
    path = folder / f"{branch}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def archive_day(branch: str, day: str, tellers: dict[str, list[int]]) -> list[tuple[str, bytes]]:
    """A closed day of `branch` as its bridge sends it: each teller's served tickets with stars."""
    tickets: list[TicketFact] = []
    for teller, stars in tellers.items():
        for s in stars:
            at = T0 - 86400 + 60 * len(tickets)
            tickets.append(TicketFact(branch=branch, day=day, number=f"A{len(tickets) + 1:03d}", business="cash",
                                      first_business="cash", tier="normal", via="bank_card", issued_at=at,
                                      first_called_at=at + 120, started_at=at + 130, finished_at=at + 400,
                                      ended_at=at + 400, outcome="served", wait_s=120.0, service_s=270.0, counter=1,
                                      teller=teller, stars=s, customer_hash=HASH))
    rec = DayRecord(branch=branch, day=day, archived_at=T0, opened_at=T0 - 86400, closed_at=T0 - 50000,
                    tickets=len(tickets))
    payloads = parts.split(DayFacts(record=rec, tickets=tickets), 60_000)
    return [(f"qcall/v1/{branch}/archive/{day}/{k}", p) for k, p in enumerate(payloads, 1)]


def fill(store: HqStore) -> None:
    """b1 (south): 4 rated, 3 satisfied (75 %: fails 85 %); 2 VIPs called within 10 min; waiting
    now: a normal customer 25 min (5 over the 20-min target). b2 (south): 2 rated, both satisfied.
    b3 (east): 10 rated, 9 satisfied; a VIP called after 12 min; a customer waiting 30 min; its
    link is down. b4 (east): nothing yet. Archived yesterday: b1's tellers 1001 (10 × 5 stars: a
    star teller) and 1002 (7 of 10 satisfied: none), b2's 2001 (a star teller)."""
    b1 = [issued(1, "A001", T0, "vip"), called(2, "A001", T0 + 100, 100, "vip"),
          issued(3, "A002", T0, "vip"), called(4, "A002", T0 + 500, 500, "vip"),
          rated(5, "A001", T0 + 900, 5), rated(6, "A002", T0 + 900, 4), rated(7, "A003", T0 + 900, 5),
          rated(8, "A004", T0 + 900, 2), issued(9, "A010", NOW - 25 * 60), issued(10, "A011", NOW - 5 * 60, "vip")]
    b2 = [rated(1, "B001", T0, 5), rated(2, "B002", T0, 4)]
    b3 = ([rated(k, f"C{k:03d}", T0, 5 if k < 10 else 1) for k in range(1, 11)]
          + [issued(11, "C020", T0, "vip"), called(12, "C020", T0 + 720, 720, "vip"), issued(13, "C030", NOW - 30 * 60)])
    store.write([ev("b1", e) for e in b1] + [ev("b2", e) for e in b2] + [ev("b3", e) for e in b3]
                + [("qcall/v1/b3/link", b"0")]
                + archive_day("b1", "2026-03-01", {"1001": [5] * 10, "1002": [5] * 7 + [2] * 3})
                + archive_day("b2", "2026-03-01", {"2001": [5] * 10}))


@dataclass
class Site:
    url: str
    store: HqStore
    cfg: HqConfig


@pytest.fixture
def hq_site(tmp_path: Path, postgres: PgCluster) -> Iterator[Site]:
    cfg = parse({"hq": {"name": "示范银行总行"},
                 "database": {"dsn": postgres.dsn, "schema": f"w_{uuid.uuid4().hex[:10]}"},
                 "targets": {"wait_minutes": {"vip": 10, "normal": 20}},
                 "web": {"users_file": str(tmp_path / "hq-users.toml"),
                         "session_secret_file": str(tmp_path / "hq-secret.key"), "refresh_s": 600},
                 "branch": [{"id": "b1", "name": "福田支行", "region": "华南 South",
                             "config": str(branch_toml(tmp_path, "b1"))},
                            {"id": "b2", "name": "南山支行", "region": "华南 South"},
                            {"id": "b3", "name": "徐汇支行", "region": "华东 East"},
                            {"id": "b4", "name": "浦东支行", "region": "华东 East"}]})
    add_user(tmp_path / "hq-users.toml", "li.hua", "李华", "manager", PASSWORD)
    add_user(tmp_path / "hq-users.toml", "zhang.li", "张丽", "lobby", PASSWORD)  # a viewer
    store = HqStore.connect(cfg)
    fill(store)
    ctx = build_hq_context(cfg, tmp_path / "hq.toml", clock=lambda: NOW)
    server = WebServer(ctx, app=create_hq_app(ctx)).start()
    try:
        yield Site(server.url, store, cfg)
    finally:
        server.stop()
        store.close()


def signed_in(url: str, login: str = "li.hua") -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=10)
    r = c.post("/login", data={"login": login, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def test_head_office_pages_need_a_personal_login_and_the_forms_their_csrf_token(hq_site: Site) -> None:
    anon = httpx.Client(base_url=hq_site.url, timeout=10)
    for path in ("/", "/ranking", "/regions", "/branch/b1", "/ranking.csv", "/branch/b1/days.csv"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    wrong = anon.post("/login", data={"login": "li.hua", "password": "not-the-password", "next": "/"})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    c = signed_in(hq_site.url)
    assert c.get("/").status_code == 200
    assert c.post("/logout", data={}).status_code == 403  # no token
    assert c.post("/logout", data={"csrf": "forged-token"}).status_code == 403
    assert c.get("/").status_code == 200, "a refused form must not sign the person out"
    token = re.search(r'<meta name="csrf" content="([^"]+)">', c.get("/").text)
    assert token is not None
    assert c.post("/logout", data={"csrf": token.group(1)}).status_code == 303
    assert c.get("/").status_code == 303


def _rows(driver: webdriver.Chrome, table: str) -> list[str]:
    """The branches (or regions) of a table in order, read in one script: the live board's HTML
    may be swapped between two separate element look-ups."""
    got = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(function (tr) {"
        " return tr.getAttribute('data-branch') || tr.getAttribute('data-region'); });",
        f"#{table} tr[data-branch], #{table} tr[data-region]")
    return [str(x) for x in got]


def _login(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url + "/")
    driver.find_element(By.NAME, "login").send_keys("li.hua")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login-card button").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "board"))
    # The event stream's first message (the whole board) has been swapped in: the board is live.
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-updated"))


def test_the_board_ranking_regions_and_one_branch_in_chromium(hq_site: Site, chromium: webdriver.Chrome) -> None:
    d, url = chromium, hq_site.url
    _login(d, url)
    # The live board: most over target first; b3's link is down and marked so.
    assert _rows(d, "over") == ["b3", "b1"]
    assert "down" in str(d.find_element(By.CSS_SELECTOR, '#over tr[data-branch="b3"]').get_attribute("class"))
    assert d.find_element(By.CSS_SELECTOR, '#links-down li[data-branch="b3"]')
    assert "up" in str(d.find_element(By.ID, "link").get_attribute("class"))
    # A new over-target ticket arrives at head office (b2: waiting 40 min): the open board shows it.
    hq_site.store.write([ev("b2", issued(3, "B020", NOW - 40 * 60))])
    WebDriverWait(d, 10).until(lambda drv: _rows(drv, "over") == ["b2", "b3", "b1"])
    assert d.find_element(By.CSS_SELECTOR, '#over tr[data-branch="b2"] td.big').text == "1"
    save_screenshot(d, "hq-board")

    d.get(url + "/ranking?month=2026-03")
    assert _rows(d, "ranking") == ["b2", "b3", "b1", "b4"]  # satisfaction 100, 90, 75 %, none
    b1 = d.find_element(By.CSS_SELECTOR, '#ranking tr[data-branch="b1"]')
    assert "75.0%" in b1.find_element(By.CSS_SELECTOR, ".sat").text and "fail" in b1.find_element(By.CSS_SELECTOR, ".m-sat").text
    assert "50.0%" in b1.find_element(By.CSS_SELECTOR, ".star").text  # 1 of 2 graded tellers
    assert "100.0%" in b1.find_element(By.CSS_SELECTOR, ".vip").text and "pass" in b1.find_element(By.CSS_SELECTOR, ".m-vip").text
    d.get(url + "/ranking?month=2026-03&by=stars")
    assert _rows(d, "ranking")[:2] == ["b2", "b1"]  # 100 % and 50 % star tellers; b3, b4 not graded
    d.get(url + "/ranking?month=2026-03&by=vip&region=华东 East")
    assert _rows(d, "ranking") == ["b3", "b4"]
    save_screenshot(d, "hq-ranking")

    d.get(url + "/regions?month=2026-03")
    assert _rows(d, "regions") == ["华南 South", "华东 East"]  # VIP in target 100 % vs 0 %
    south = d.find_element(By.CSS_SELECTOR, '#regions tr[data-region="华南 South"]')
    assert "83.3%" in south.find_element(By.CSS_SELECTOR, ".sat").text  # 5 of 6 rated in b1 + b2
    d.get(url + "/regions?month=2026-02")
    assert d.find_elements(By.ID, "regions") == []  # another month: nothing

    d.get(url + "/ranking?month=2026-03")
    d.find_element(By.CSS_SELECTOR, '#ranking tr[data-branch="b1"] a').click()  # drill down
    WebDriverWait(d, 10).until(lambda drv: drv.find_elements(By.ID, "branch"))
    assert "福田支行" in d.find_element(By.CSS_SELECTOR, "#branch h2").text
    assert d.find_element(By.CSS_SELECTOR, "#waiting-now b").text == "2"
    report = d.find_element(By.ID, "history-report")
    assert report.find_elements(By.TAG_NAME, "svg"), "the history report's charts"
    assert "王芳" in report.text  # teller 1001's name from the branch's own config (manager view)
    d.get(url + "/branch/b1?month=2026-03&day=2026-03-01")
    assert "2026-03-01" in d.find_element(By.CSS_SELECTOR, ".report h2").text
    d.get(url + "/branch/b2")
    assert d.find_element(By.ID, "no-history").text.startswith("总行没有这个网点的配置文件")
    save_screenshot(d, "hq-branch")


def test_csv_downloads_match_the_pages_and_no_page_shows_anything_personal(hq_site: Site) -> None:
    c = signed_in(hq_site.url)
    got = list(csv.DictReader(io.StringIO(c.get("/ranking.csv?month=2026-03").text.lstrip("\ufeff"))))
    assert [(r["branch"], r["satisfaction"], r["below_target"]) for r in got] == [
        ("b2", "1.0", "False"), ("b3", "0.9", "False"), ("b1", "0.75", "True"), ("b4", "", "")]
    assert [(r["branch"], r["star_share"], r["star_below_target"]) for r in got] == [
        ("b2", "1.0", "False"), ("b3", "", ""), ("b1", "0.5", "True"), ("b4", "", "")]
    regions = list(csv.DictReader(io.StringIO(c.get("/regions.csv?month=2026-03").text.lstrip("\ufeff"))))
    assert {r["region"]: (r["vip_in_target"], r["vip_called"]) for r in regions} == {
        "华南 South": ("2", "2"), "华东 East": ("0", "1")}
    days = list(csv.DictReader(io.StringIO(c.get("/branch/b1/days.csv?month=2026-03").text.lstrip("\ufeff"))))
    assert [(r["day"], r["arrivals"], r["rated"]) for r in days] == [("2026-03-02", "4", "4")]
    assert "王芳" in c.get("/branch/b1?month=2026-03").text  # the manager sees tellers' ratings
    viewer = signed_in(hq_site.url, "zhang.li").get("/branch/b1?month=2026-03").text
    assert 'id="history-report"' in viewer and "王芳" not in viewer  # the viewer: the same page without them
    assert c.get("/branch/nowhere").status_code == 404
    assert c.get("/ranking?month=March").status_code == 400
    assert c.get("/branch/b1?day=2026-13-40").status_code == 400
    pages = ["/", "/ranking", "/ranking?by=stars", "/regions", "/branch", "/branch/b1", "/branch/b1?day=2026-03-01",
             "/branch/b2", "/ranking.csv", "/regions.csv", "/branch/b1/days.csv"]
    for path in pages:
        text = c.get(path + ("&" if "?" in path else "?") + "month=2026-03").text
        assert HASH not in text and "customer_hash" not in text, path
        assert not re.search(r"\d{15,19}", text), f"{path}: a card or ID number?"


def test_qcall_hq_user_web_and_report_commands(hq_site: Site, tmp_path: Path) -> None:
    """The way a bank starts it: `qcall hq user add`, `qcall hq web` as its own process, and
    `qcall hq report --branch … --day …` printing the branch's history report from head office."""
    config = write_hq_toml(hq_site.cfg, tmp_path / "hq.toml")
    added = subprocess.run([sys.executable, "-m", "qcall.cli", "hq", "user", "add", "wang.wei", "--name", "王伟",
                            "--config", str(config), "--password-stdin"], input="wang-wei-pass\n",
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert added.returncode == 0, added.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qcall.cli", "hq", "web", "--config", str(config),
                             "--listen-port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _healthy(url), 20, "qcall hq web to answer")
        c = httpx.Client(base_url=url, timeout=10)
        r = c.post("/login", data={"login": "wang.wei", "password": "wang-wei-pass", "next": "/ranking"})
        assert r.status_code == 303 and r.headers["location"] == "/ranking"
        assert "福田支行" in c.get("/ranking?month=2026-03").text
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    out = subprocess.run([sys.executable, "-m", "qcall.cli", "hq", "report", "--config", str(config), "--json",
                          "--now", str(NOW), "--branch", "b1", "--day", "2026-03-01"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    history = json.loads(out.stdout)["branch"]["history"]
    assert history["period"]["label"] == "2026-03-01" and history["totals"]["arrivals"] == 20
    assert history["star_tellers"]["ok"] == 1 and HASH not in out.stdout
    # The ranking grades b1's tellers as the branch's own history report does: 1 star of 2 graded.
    b1 = next(r for r in json.loads(out.stdout)["ranking"] if r["branch"] == "b1")
    assert (b1["star_tellers"], b1["graded"]) == (history["star_tellers"]["ok"], history["star_tellers"]["n"])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_the_pages_say_when_head_offices_database_is_away(tmp_path: Path) -> None:
    cfg = parse({"database": {"dsn": f"host=127.0.0.1 port={free_port()} dbname=gone user=qcall connect_timeout=2"},
                 "web": {"users_file": str(tmp_path / "u.toml"), "session_secret_file": str(tmp_path / "k")},
                 "branch": [{"id": "b1", "region": "south"}]})
    add_user(tmp_path / "u.toml", "li.hua", "李华", "manager", PASSWORD)
    ctx = build_hq_context(cfg, tmp_path / "hq.toml", clock=lambda: NOW)
    server = WebServer(ctx, app=create_hq_app(ctx)).start()
    try:
        c = signed_in(server.url)
        for path in ("/", "/ranking", "/regions", "/branch/b1"):
            r = c.get(path)
            assert r.status_code == 503 and "总行数据库暂时无法访问" in r.text, path
    finally:
        server.stop()
