"""Reports over a simulated month: weekly and monthly totals equal the sum of their days, the
month looks like a bank's (pension-day peak, weekdays, lunch dip), the HTML opens in a real
headless Chromium with its charts present and sized (screenshot kept), and no personal data
reaches the HTML, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import msgspec
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from kiosk.recognition import KeyedHasher
from qbus import messages as m
from qbus.config import load
from qcall.history import archive_journal
from qcall.simulate_month import simulate_month
from qhistory import period, render, report
from qhistory.store import SqlStore, open_store
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from tests.browser import save_screenshot
from tests.coretools import DAY, EXAMPLE, T0
from tests.history_helpers import cfg_with, sender

CFG = load(EXAMPLE)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> SqlStore:
    store = open_store(tmp_path_factory.mktemp("month") / "history.db")
    days = simulate_month(CFG, store, dt.date(2026, 11, 1), 30, seed=5)
    assert len(days) == 30
    return store


def test_week_and_month_totals_are_the_sum_of_their_days(month: SqlStore) -> None:
    mon = report.build(month, CFG, period.month("2026-11"), by="day")
    days = [report.build(month, CFG, period.day(d)) for d in period.month("2026-11").days()]
    for key in ("arrivals", "served", "no_shows", "cancelled", "abandoned", "transfers", "referrals"):
        assert getattr(mon.totals, key) == sum(getattr(d.totals, key) for d in days), key
    assert mon.totals.satisfaction.n == sum(d.totals.satisfaction.n for d in days)
    assert mon.totals.service_level.ok == sum(d.totals.service_level.ok for d in days)
    assert {k: f.arrivals for k, f in mon.groups.items()} == {d.period.first: d.totals.arrivals for d in days}
    week = report.build(month, CFG, period.week("2026-W46"))  # 2026-11-09 .. 15
    assert week.days == [f"2026-11-{d:02d}" for d in range(9, 16)]
    assert week.totals.arrivals == sum(d.totals.arrivals for d in days[8:15])
    assert sum(mon.wait_bins.values()) == mon.totals.wait.n


def test_the_month_has_a_banks_shape(month: SqlStore) -> None:
    rep = report.build(month, CFG, period.month("2026-11"))
    per_day = {r.day: r.arrivals for r in rep.daily}
    mean = sum(per_day.values()) / len(per_day)
    assert per_day["2026-11-10"] > 1.3 * mean  # 养老金发放日: the pension-day peak
    weekdays = {wd: [r.arrivals for r in rep.daily if r.weekday == wd] for wd in range(7)}
    assert sum(weekdays[0]) / len(weekdays[0]) > sum(weekdays[6]) / len(weekdays[6])  # Monday > Sunday
    hours = {h.hour: h.arrivals for h in rep.hours}
    assert hours[12] < hours[10] and hours[13] < hours[15]  # the lunch dip
    assert rep.totals.abandoned > 0 and rep.totals.referrals > 0 and rep.self_service.ok > 0
    assert rep.pause_s_by_reason.get("lunch", 0) > 0 and rep.complaints  # low ratings open complaints
    assert any(x.star for x in rep.tellers) and rep.star_tellers.n >= 5
    assert len(rep.heatmap) == 7 and rep.heatmap[0][10] > rep.heatmap[6][10]


def test_the_html_report_opens_in_chromium_with_its_charts(month: SqlStore, chromium: webdriver.Chrome,
                                                            tmp_path: Path) -> None:
    rep = report.build(month, CFG, period.month("2026-11"), by="teller")
    page = tmp_path / "report.html"
    page.write_text(render.html(rep), encoding="utf-8")
    chromium.get(page.as_uri())
    charts = chromium.find_elements(By.CSS_SELECTOR, "svg.chart")
    names = {c.get_attribute("aria-label") for c in charts}
    assert {"hourly", "waits", "service_level", "satisfaction", "heatmap", "daily", "complaints"} <= names
    for c in charts:
        assert c.size["width"] > 300 and c.size["height"] > 120, c.get_attribute("aria-label")
    body = chromium.find_element(By.TAG_NAME, "body").text
    assert "深圳福田支行" in body and "月报" in body and "Monthly report" in body and "满意率" in body
    # Offline: nothing on the page asks for the network.
    assert chromium.execute_script(
        "return performance.getEntriesByType('resource').filter(r => !r.name.startsWith('file:')).length") == 0
    chromium.set_window_size(1400, 2400)
    assert save_screenshot(chromium, "history-month-report").stat().st_size > 50_000


def test_the_csv_holds_each_tickets_life(month: SqlStore) -> None:
    p = period.week("2026-W46")
    data = report.load(month, CFG.branch.id, p)
    rows = list(csv.DictReader(io.StringIO(render.csv_lives(data.tickets, CFG.branch.timezone))))
    assert len(rows) == len(data.tickets)
    moved = next(r for r in rows if r["transfers"] == "1")
    assert "transferred" in moved["life"] and moved["first_business"] != moved["business"]
    gave_up = next(r for r in rows if r["outcome"] == "abandoned")
    assert gave_up["life"].endswith("abandoned") and int(gave_up["wait_s"]) > 0


def test_no_personal_data_in_html_csv_or_json(tmp_path: Path) -> None:
    """Customers identified by card and ID: the store keeps their keyed hash (config says so), the
    complaint its contact; no report output carries either, nor the masked name or a raw number."""
    cfg = cfg_with('[history]\nkeep_customer_hash = true\n')
    hasher = KeyedHasher(b"k" * 32)
    card, id_no, phone = "6222021234567890123", "110101195001011234", "13912345678"
    journal = DurableCore(cfg, tmp_path / "journal.db", snapshot_every=10**9,
                          pins=PinBook.example_for(cfg, CHEAP_COST))
    cmds: list[m.Command] = [m.ResetDay(day=DAY), m.Login(counter=1, teller="t1", pin="t1"),
            m.Issue(business="cash", via="bank_card", customer=hasher.hash_number(card), masked_name="张*"),
            m.Issue(business="cash", via="id_card", customer=hasher.hash_number(id_no), masked_name="李**"),
            m.CallNext(counter=1), m.StartService(counter=1), m.FinishService(counter=1), m.Rate(counter=1, stars=1)]
    for i, cmd in enumerate(cmds):
        assert journal.submit(f"r{i}", sender(cmd), cmd, T0 + i).ok
    journal.commit()
    store = open_store(tmp_path / "history.db")
    archive_journal(cfg, journal.journal, store, include_current=True, now=T0 + 3600)
    kept = {t.customer_hash for t in store.tickets(cfg.branch.id, DAY, DAY)}
    assert hasher.hash_number(card) in kept  # kept in the store, for repeat visits
    from qhistory import complaints as cm

    store.add_complaint(cm.new(cfg, source="phone", opened_at=T0, text="态度不好", contact=phone))
    p = period.day(DAY)
    data = report.load(store, cfg.branch.id, p)
    rep = report.build_from(cfg, p, data)
    outputs = {"html": render.html(rep), "csv": render.csv_lives(data.tickets, cfg.branch.timezone),
               "json": render.json(rep).decode()}
    secrets = [card, id_no, card[-4:] + "", phone, "张*", "李**", hasher.hash_number(card),
               hasher.hash_number(id_no), "customer_hash", "masked_name"]
    for kind, text in outputs.items():
        for s in secrets:
            assert s not in text, f"{kind} holds {s!r}"
    assert json.loads(outputs["json"])["totals"]["arrivals"] == 2 and len(rep.complaints) == 2
    # The day as it would go to head office carries no hash either.
    from qhistory.facts import DayFacts, public

    day = DayFacts(record=store.days(cfg.branch.id, DAY, DAY)[0], tickets=store.tickets(cfg.branch.id, DAY, DAY))
    exported = msgspec.json.encode(public(day)).decode()
    assert hasher.hash_number(card) not in exported and hasher.hash_number(id_no) not in exported
    store.close()
    journal.close()


def test_a_complaint_without_a_day_belongs_to_the_branch_local_date_it_was_opened() -> None:
    """07:30 in Shanghai on 2026-12-01 is 23:30 UTC the day before: the week of the 1st lists it."""
    from qhistory.facts import Complaint
    from qhistory.report import _complaints

    opened = 1_796_081_400.0  # 2026-12-01 07:30 +08:00
    c = Complaint(branch="futian", source="letter", opened_at=opened, text="排队太久", contact_due=opened + 1e6,
                  reply_due=opened + 1e6, close_due=opened + 1e6)
    assert [r.opened_at for r in _complaints([c], {"2026-12-01"}, opened, "Asia/Shanghai")] == [opened]
    assert _complaints([c], {"2026-11-30"}, opened, "Asia/Shanghai") == []
