"""The Reports page on the history store: a simulated stretch of November archived into a real
SQLite history, the web service on a real Mosquitto, the pages in real headless Chromium. What a
manager reads (the month's charts, each ticket's life as CSV) and what the lobby may not (teller
ratings); a period that cannot be is refused with a reason."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from qbus.broker import MosquittoBroker
from qbus.config import BranchConfig, load
from qcall.simulate_month import simulate_month
from qcall.web import WebServer, build_context
from qhistory.store import open_store
from tests.browser import save_screenshot
from tests.web_helpers import PEOPLE, signed_in, write_branch

FIRST = dt.date(2026, 11, 2)


@dataclass
class Reports:
    url: str
    cfg: BranchConfig
    days: list[str]


@pytest.fixture
def reports(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Reports]:
    config = write_branch(tmp_path / "etc")
    cfg = load(config)
    store = open_store(cfg.history.store)
    try:
        days = simulate_month(cfg, store, FIRST, 5, seed=7, arrivals_per_hour=12.0)
    finally:
        store.close()
    ctx = build_context(cfg, config, host=mosquitto.host, port=mosquitto.port)
    server = WebServer(ctx).start()
    try:
        yield Reports(server.url, cfg, days)
    finally:
        server.stop()


def sign_in(driver: webdriver.Chrome, url: str, login: str) -> None:
    driver.get(url + "/login")
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(PEOPLE[login][2])
    driver.find_element(By.CSS_SELECTOR, "form.login-card button").click()
    WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".who"))


def archived_tickets(cfg: BranchConfig, first: str, last: str) -> set[tuple[str, str]]:
    store = open_store(cfg.history.store)
    try:
        return {(t.day, t.number) for t in store.tickets(cfg.branch.id, first, last)}
    finally:
        store.close()


def test_a_manager_picks_a_month_and_sees_its_charts_and_downloads_each_tickets_life(
        reports: Reports, chromium: webdriver.Chrome) -> None:
    sign_in(chromium, reports.url, "zhou")
    chromium.get(reports.url + "/reports")
    Select(chromium.find_element(By.NAME, "kind")).select_by_value("month")
    picker = chromium.find_element(By.NAME, "date")
    chromium.execute_script("arguments[0].value = '2026-11-05'", picker)  # what the date picker sets
    chromium.find_element(By.CSS_SELECTOR, "#period button").click()
    WebDriverWait(chromium, 5).until(lambda d: d.find_elements(By.ID, "history-report"))
    report = chromium.find_element(By.ID, "history-report")
    assert "月报" in report.text and f"已归档 {len(reports.days)} 天" in report.text
    sizes = chromium.execute_script(
        "return Array.from(document.querySelectorAll('#history-report svg')).map(s => {"
        "const r = s.getBoundingClientRect(); return [r.width, r.height]; })")
    assert len(sizes) >= 4, sizes  # hourly, waits, service level per tier, tellers, heatmap, daily
    assert all(w > 200 and h > 100 for w, h in sizes), sizes
    assert "柜员满意率" in chromium.page_source  # the manager reads each teller's satisfaction
    save_screenshot(chromium, "web-reports-month")

    href = chromium.find_element(By.ID, "lives-csv").get_attribute("href")
    assert href is not None
    cookies = {c["name"]: c["value"] for c in chromium.get_cookies()}
    got = httpx.get(href, cookies=cookies, timeout=10)
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    assert "2026-11" in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text.lstrip("\ufeff"))))
    assert {(r["day"], r["number"]) for r in rows} == archived_tickets(reports.cfg, "2026-11-01", "2026-11-30")
    assert "customer_hash" not in rows[0] and "stars" in rows[0]


def test_the_lobby_reads_the_report_without_teller_ratings(reports: Reports) -> None:
    lobby, mgr = signed_in(reports.url, "zhao"), signed_in(reports.url, "zhou")
    query = {"kind": "week", "date": "2026-11-04"}
    page = lobby.get("/reports", params=query)
    assert page.status_code == 200 and 'id="history-report"' in page.text and "<svg" in page.text
    assert "周报" in page.text and "2026-W45" in page.text
    for teller_rating in ("柜员满意率", "星级柜员", "柜员 <span class='en'>Tellers"):
        assert teller_rating not in page.text
        assert teller_rating in mgr.get("/reports", params=query).text
    lives = lobby.get("/reports/lives.csv", params=query).text.lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(lives)))
    assert "stars" not in header and "rating_reason" not in header and "number" in header
    rows = list(csv.DictReader(io.StringIO(lives)))
    assert {(r["day"], r["number"]) for r in rows} == archived_tickets(reports.cfg, "2026-11-02", "2026-11-08")


def test_a_period_that_cannot_be_is_refused_with_its_reason(reports: Reports) -> None:
    c = signed_in(reports.url, "zhou")
    bad = c.get("/reports", params={"kind": "day", "date": "2026-02-30"})
    assert bad.status_code == 400 and 'id="report-error"' in bad.text and "日期不对" in bad.text
    backwards = c.get("/reports", params={"kind": "range", "date": "2026-11-05", "to": "2026-11-01"})
    assert backwards.status_code == 400 and "before" in backwards.text
    assert c.get("/reports/lives.csv", params={"kind": "year", "date": "2026-11-05"}).status_code == 400
    empty = c.get("/reports", params={"kind": "month", "date": "2025-01-10"})
    assert empty.status_code == 200 and "没有已归档的营业日" in empty.text
