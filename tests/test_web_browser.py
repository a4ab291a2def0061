"""The web pages in a real headless Chromium, on a real branch: Mosquitto, the core service, a
keypad and rating pad on a pty through the real serial bridge, and the real `qcall web` process.

One branch and one browser for the whole module (each scenario picks up where the last left the
branch, as a morning at a branch would); each test states what a person would see."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from hw.keypad import Key
from qbus import messages as m
from qbus.client import BusClient
from qbus.config import load
from qcall.simulate_month import simulate_month
from qhistory.store import open_store
from tests.bridge_helpers import Rig, rig
from tests.browser import open_chromium, save_screenshot
from tests.bus_helpers import Inbox
from tests.web_helpers import csrf_of, live, sign_in, signed_in, web_process, write_branch

CONFIG: dict[str, Path] = {}  # the web process's branch file (its [history] store is beside it)


@pytest.fixture(scope="module")
def branch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, str]]:
    tmp = tmp_path_factory.mktemp("web-branch")
    with rig(tmp, [1, 2]) as r:
        config = write_branch(tmp / "etc", r.cfg)
        CONFIG["branch"] = config
        with web_process(config, r.broker.host, r.broker.port) as url:
            yield r, url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver = open_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def click(driver: webdriver.Chrome, css: str) -> None:
    """Click what `css` finds, again if a live update replaced it between finding and clicking."""

    def once(d: webdriver.Chrome) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        return True

    WebDriverWait(driver, 5).until(once)


def text_of(driver: webdriver.Chrome, css: str) -> str:
    """The visible text of what `css` finds, read in one go (a live update cannot go stale under it)."""
    return str(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText).join(' ')", css))


def test_the_dashboard_shows_a_keypad_call_within_a_second(branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    r.login_by_keypad(1, "1001")  # 王芳
    r.login_by_keypad(2, "1002")  # 李娜
    numbers = [r.issue("cash") for _ in range(4)] + [r.issue("personal")]
    sign_in(browser, url, "zhou")
    live(browser)
    WebDriverWait(browser, 5).until(lambda d: "王芳" in text_of(d, '[data-counter="1"] .teller'))
    pressed = time.monotonic()
    r.keypads[1].press(Key.CALL_NEXT)
    WebDriverWait(browser, 2, poll_frequency=0.02).until(
        lambda d: numbers[0] in text_of(d, '[data-counter="1"] .number'))
    seen_after = time.monotonic() - pressed
    assert seen_after < 1.0, f"the call showed {seen_after:.2f} s after the key"
    assert "呼叫中" in text_of(browser, '[data-counter="1"] .status')
    WebDriverWait(browser, 3).until(lambda d: text_of(d, '[data-business="cash"] td.big') == "3")
    save_screenshot(browser, "web-now-1080p")
    browser.set_window_size(1280, 800)  # a 10" tablet
    save_screenshot(browser, "web-now-tablet")
    browser.set_window_size(1920, 1080)


def test_the_dashboard_shows_the_advisors_advice_on_a_low_rating(branch: tuple[Rig, str],
                                                                   browser: webdriver.Chrome) -> None:
    """A 1-star press on the rating pad: the core's advisor publishes Advice on alert/advice and
    the manager's open dashboard shows it (the web computes no rating alert of its own)."""
    r, url = branch
    number = next(t.number for t in r.core.service.store.core.tickets.values() if t.counter == 1)
    browser.get(url + "/")
    live(browser)
    r.keypads[1].press(Key.WELCOME)
    r.keypads[1].press(Key.RATE)
    assert r.pads[1].wait_led("请评价")
    r.pads[1].rate(1)
    WebDriverWait(browser, 3).until(lambda d: f"{number}评价1星" in text_of(d, ".alert.rating"))
    assert "请大堂经理及时沟通" in text_of(browser, ".alert.rating") and "王芳" in text_of(browser, ".alert.rating")


def test_acknowledging_an_alert_shows_who_and_when(branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    sign_in(browser, url, "zhou")
    live(browser)
    out = m.Presence(device="kiosk1", online=True, kind="kiosk", detail="printer:paper_out")
    r.kiosk.publish(r.topics.presence("kiosk1"), out, retain=True)
    WebDriverWait(browser, 3).until(lambda d: "取号机缺纸" in text_of(d, ".alert.paper"))
    click(browser, ".alert.paper button.ack")
    WebDriverWait(browser, 3).until(lambda d: "已确认 周行长" in text_of(d, ".alert.paper"))
    assert browser.find_elements(By.CSS_SELECTOR, ".alert.paper.acked")
    save_screenshot(browser, "web-alert-acknowledged")
    ok = m.Presence(device="kiosk1", online=True, kind="kiosk", detail="printer:paper_ok")
    r.kiosk.publish(r.topics.presence("kiosk1"), ok, retain=True)
    WebDriverWait(browser, 3).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".alert.paper"))


def test_the_opening_check_lists_each_failure_with_its_fix_as_qcall_doctor_does(
        branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    config = CONFIG["branch"]
    doctor = [sys.executable, "-m", "qcall.cli", "doctor", "--config", str(config), "--host", r.broker.host,
              "--port", str(r.broker.port)]
    first = subprocess.run(doctor, capture_output=True, text=True, timeout=30)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "FAIL  大厅显示屏 Hall display: 从未上线 never seen" in first.stdout
    assert "-> 打开显示屏电源" in first.stdout
    assert "OK    1号窗口键盘 keypad: 在线 online" in first.stdout
    assert "FAIL  昨日归档 Yesterday archived" in first.stdout and "qcall day close" in first.stdout
    sign_in(browser, url, "zhou")
    browser.get(url + "/check")
    assert "2 项未通过" in browser.find_element(By.ID, "check-summary").text
    assert "✗" in browser.find_element(By.CSS_SELECTOR, '[data-check="display"]').text
    archive = browser.find_element(By.CSS_SELECTOR, '[data-check="archive"]').text
    assert "✗" in archive and "qcall day close" in archive
    save_screenshot(browser, "web-opening-check")
    cfg = load(config)
    yesterday = dt.date.fromisoformat(r.core.service.store.core.day) - dt.timedelta(days=1)
    store = open_store(cfg.history.store)
    try:
        assert simulate_month(cfg, store, yesterday, 1) == [yesterday.isoformat()]
    finally:
        store.close()
    display = BusClient(host=r.broker.host, port=r.broker.port, topics=r.topics, device="display1").connect(10)
    try:
        second = subprocess.run(doctor, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stdout
        assert "OK    昨日归档 Yesterday archived: 已归档 archived" in second.stdout
        assert second.stdout.strip().endswith("all clear")
        browser.get(url + "/check")
        assert "全部通过" in browser.find_element(By.ID, "check-summary").text
        assert "✓" in browser.find_element(By.CSS_SELECTOR, '[data-check="archive"]').text
    finally:
        display.close()


def test_move_and_requeue_from_the_lobby_reach_the_core_and_the_hall(
        branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    core = r.core.service.store.core
    hall = Inbox()  # what the hall display reads: the retained state/hall
    screen = BusClient(host=r.broker.host, port=r.broker.port, topics=r.topics, device="display2")
    screen.subscribe(r.topics.state_hall(), m.HallView, hall)
    screen.connect(10)
    waiting = [t.number for t in core.waiting_list("cash")]
    moved = waiting[-1]
    sign_in(browser, url, "zhao")
    browser.get(url + "/lobby")
    live(browser)
    form = browser.find_element(By.ID, "form-move")
    form.find_element(By.NAME, "number").send_keys(moved.lower())
    Select(form.find_element(By.NAME, "to_business")).select_by_value("personal")
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 5).until(lambda d: "已分流" in text_of(d, "#result"))
    assert core.tickets[moved].business == "personal"
    assert hall.wait_for(lambda xs: xs[-1].value.waiting == {**xs[-1].value.waiting, "personal": 2,
                                                            "cash": len(waiting) - 1}, 5), hall.values()[-1]
    assert f"{moved} 已分流到 个人非现金业务" in text_of(browser, '[data-live="lists"]').replace("\n", " ") and "赵敏" in text_of(browser, ".recent")

    # A called customer who did not come, then came back: re-queue from the missed list.
    r.keypads[2].press(Key.CALL_NEXT)
    assert r.keypads[2].wait_for(lambda p: p.led_text.startswith(("A", "B")), 5)
    called = r.keypads[2].led_text.split()[0]
    r.keypads[2].press(Key.SKIP)
    WebDriverWait(browser, 3).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'.ticket-list li[data-number="{called}"] button'))
    save_screenshot(browser, "web-lobby")
    click(browser, f'.ticket-list li[data-number="{called}"] button')
    WebDriverWait(browser, 5).until(lambda d: "已重新排队" in text_of(d, "#result"))
    assert core.tickets[called].state.name == "WAITING"
    assert called in [t.number for t in core.waiting_list()]
    everyone = len(waiting) + 1  # cash before the move, and B001
    assert hall.wait_for(lambda xs: sum(xs[-1].value.waiting.values()) == everyone, 5), hall.values()[-1]
    screen.close()


def test_a_lobby_person_is_refused_a_manager_action_by_page_and_service(
        branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    sign_in(browser, url, "zhao")
    assert not browser.find_elements(By.LINK_TEXT, "窗口 Counters")
    browser.get(url + "/counters")
    assert "此页面仅限行长" in browser.find_element(By.ID, "refused").text
    assert "满意" not in browser.page_source  # no teller ratings for the lobby
    lobby = signed_in(url, "zhao")
    before = r.core.service.store.core.counters[2].status
    resp = lobby.post("/act/counter", data={"csrf": csrf_of(lobby), "counter": "2", "op": "close"})
    assert resp.status_code == 403 and "大堂人员不能开关窗口" in resp.text
    assert r.core.service.store.core.counters[2].status == before != "closed"
    with lobby.stream("GET", "/events") as stream:
        first = next(line for line in stream.iter_lines() if line.startswith("data:"))
    assert "满意" not in first and '"controls"' not in first


def test_a_pause_from_the_office_shows_since_when_why_and_by_whom(branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    sign_in(browser, url, "zhou")
    browser.get(url + "/counters")
    live(browser)
    form = '[data-live="controls"] [data-counter="2"] form.pause'
    WebDriverWait(browser, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, form))
    Select(browser.find_element(By.CSS_SELECTOR, form + " select[name=reason]")).select_by_value("lunch")
    click(browser, form + " button")
    WebDriverWait(browser, 5).until(lambda d: "2号窗口已暂停" in text_of(d, "#result"))
    browser.get(url + "/")
    since = text_of(browser, '[data-counter="2"] .since')
    assert since.startswith("暂停自 ") and "午餐" in since and "周行长" in since, since
    assert r.keypads[2].wait_led("暂停服务", 5), r.keypads[2].led_text  # the teller's keypad says so too
    save_screenshot(browser, "web-counter-paused")
    browser.get(url + "/counters")
    click(browser, '[data-live="controls"] [data-counter="2"] button[value="resume"]')
    WebDriverWait(browser, 5).until(lambda d: "2号窗口已恢复服务" in text_of(d, "#result"))


def test_signing_out_ends_the_session(branch: tuple[Rig, str], browser: webdriver.Chrome) -> None:
    r, url = branch
    sign_in(browser, url, "zhou")
    cookie = browser.get_cookie("qcall_session")
    assert cookie is not None
    browser.find_element(By.CSS_SELECTOR, ".who form button").click()
    WebDriverWait(browser, 5).until(lambda d: "/login" in d.current_url)
    browser.get(url + "/")
    assert "/login" in browser.current_url
    copy = httpx.Client(base_url=url, cookies={"qcall_session": cookie["value"]})
    assert copy.get("/").status_code == 303  # the old cookie no longer opens anything
    assert b"event: bye" in copy.get("/events").content
