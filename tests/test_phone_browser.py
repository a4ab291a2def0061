"""The customer's phone page, end to end on a real branch: Mosquitto, the core service, a keypad on
a pty through the real serial bridge, the real `qcall web` process, and a phone-sized headless
Chromium. The link comes out of the printed ticket: python-escpos bytes of the kiosk's layout,
the QR's data read back from its GS ( k store command, as a phone camera would read it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import msgspec
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from hw.keypad import Key
from kiosk.ticket import TicketLayout
from qbus import messages as m
from qbus.client import BusClient
from qbus.ticket_link import load_link_key, ticket_token, ticket_url
from tests.bridge_helpers import CFG, Rig, rig
from tests.browser import open_chromium, save_screenshot
from tests.bus_helpers import Inbox
from tests.web_helpers import csrf_of, result_of, signed_in, web_process, write_branch
from web.poster import derive_key, poster_code
from web.sessions import load_secret

BASE = "http://127.0.0.1"  # web.base_url of write_branch: what the QR holds
POSTER_CAP = 3  # [web] poster_window_max here: remote tickets per poster code


def qr_text(escpos: bytes) -> str:
    """The data of the native QR in ESC/POS bytes: GS ( k pL pH 49 80 48 d1..dk (store)."""
    i = escpos.find(b"\x1d(k")
    while i >= 0:
        size = escpos[i + 3] + 256 * escpos[i + 4]
        if escpos[i + 5:i + 8] == b"\x31\x50\x30":
            return escpos[i + 8:i + 5 + size].decode("ascii")
        i = escpos.find(b"\x1d(k", i + 5 + size)
    raise AssertionError("no QR store command in the ticket bytes")


class PhoneBranch:
    """The module's branch: the rig, the web process (restartable) and the kiosk's link key."""

    def __init__(self, r: Rig, config: Path, key: bytes) -> None:
        self.r, self.config, self.key = r, config, key
        self._web = ExitStack()
        self.url = self._web.enter_context(web_process(config, r.broker.host, r.broker.port))

    def restart_web(self) -> None:
        """Stop `qcall web` and start a new process: it knows only what the bus tells it now."""
        self._web.close()
        self._web = ExitStack()
        self.url = self._web.enter_context(web_process(self.config, self.r.broker.host, self.r.broker.port))

    def close(self) -> None:
        self._web.close()


@pytest.fixture(scope="module")
def branch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoneBranch]:
    tmp = tmp_path_factory.mktemp("phone-branch")
    poster_on = msgspec.structs.replace(CFG, web=msgspec.structs.replace(
        CFG.web, poster=True, poster_window_max=POSTER_CAP))  # the core reads the same branch file
    with rig(tmp, [1], cfg=poster_on) as r:
        config = write_branch(tmp / "etc", r.cfg)
        text = config.read_text(encoding="utf-8").replace("\n[kiosk]\n", "\n[kiosk]\nhours_only = false\n", 1)
        # [web] is the file's last table; the door poster's remote ticket is on, 3 per code
        config.write_text(text + f"phone_near = 1\nposter = true\nposter_window_max = {POSTER_CAP}\n", encoding="utf-8")
        key = load_link_key(tmp / "etc" / "ticket-link.key")  # the kiosk's copy; the web reads the same file
        b = PhoneBranch(r, config, key)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def phone() -> Iterator[webdriver.Chrome]:
    driver = open_chromium(390, 844, mobile=True)
    try:
        yield driver
    finally:
        driver.quit()


def printed(r: Rig, key: bytes, business: str = "cash", *, masked_name: str = "",
            customer: str = "") -> tuple[m.TicketView, str]:
    """Take a number as the kiosk does and print it; returns the ticket and its QR's link."""
    reply = r.kiosk.request(m.Issue(business=business, masked_name=masked_name, customer=customer), 10)
    assert reply.ok and reply.ticket is not None
    layout = TicketLayout(r.cfg, link=lambda tid: ticket_url(BASE, key, tid))
    return reply.ticket, qr_text(layout.render(reply.ticket))


def text(driver: webdriver.Chrome, css: str) -> str:
    return str(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText).join(' ')", css))


def wait_text(driver: webdriver.Chrome, css: str, want: str, timeout: float = 5) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: want in text(d, css),
                                                              f"{want!r} never showed in {css}")


def test_the_printed_qr_follows_the_ticket_live_until_it_is_called(
        branch: PhoneBranch, phone: webdriver.Chrome) -> None:
    r, url, key = branch.r, branch.url, branch.key
    r.login_by_keypad(1, "1001")  # 王芳
    first, _ = printed(r, key)
    second, _ = printed(r, key)
    mine, link = printed(r, key, masked_name="张*", customer="c" * 64)
    assert link.startswith(BASE + "/t/") and mine.number not in link and mine.id not in link
    phone.get(link.replace(BASE, url))
    assert text(phone, "#number") == mine.number
    assert "前面还有 2 人" in text(phone, "#zh") and "2 ahead of you" in text(phone, "#en")
    assert "张*" in text(phone, ".name")
    assert "请保留纸质号票" in text(phone, ".hint")  # a kiosk ticket: the paper is the ticket
    assert "c" * 64 not in phone.page_source  # the card's keyed hash never reaches the page
    with httpx.stream("GET", link.replace(BASE, url) + "/events", timeout=5) as live:
        opening = next(live.iter_bytes())
    assert b"event: ticket" in opening and b"c" * 16 not in opening and "张".encode() not in opening
    save_screenshot(phone, "phone-waiting")

    r.keypads[1].press(Key.CALL_NEXT)  # the first is called: one ahead, which is "near" here
    wait_text(phone, "#zh", "请准备，前面还有 1 人")
    assert text(phone, "#ahead") == "1"
    r.keypads[1].press(Key.SKIP)
    r.keypads[1].press(Key.CALL_NEXT)  # the second
    wait_text(phone, "#zh", "请准备，马上就到您了")
    r.keypads[1].press(Key.SKIP)
    r.keypads[1].press(Key.CALL_NEXT)  # mine
    wait_text(phone, "#zh", "请到 1号窗口")
    assert "go to Counter 1" in text(phone, "#en")
    assert phone.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "called"
    assert not phone.find_element(By.ID, "facts").is_displayed()
    save_screenshot(phone, "phone-called")
    assert first.number != second.number != mine.number

    r.keypads[1].press(Key.SKIP)  # and the customer did not come: the page says what to do
    wait_text(phone, "#zh", "您已过号")
    assert "重新排队" in text(phone, "#zh")


def test_leaving_the_line_cancels_at_the_core_and_moves_the_next_up(
        branch: PhoneBranch, phone: webdriver.Chrome) -> None:
    r, url, key = branch.r, branch.url, branch.key
    events = Inbox()
    r.kiosk.subscribe(r.topics.all_events(), msgspec.json.Decoder(m.AnyEvent).decode, events)
    leaving, link = printed(r, key)
    behind, behind_link = printed(r, key)
    phone.get(behind_link.replace(BASE, url))
    wait_text(phone, "#zh", "前面还有")  # not near: 1 ahead with phone_near = 1 is "near"
    phone.get(link.replace(BASE, url))
    phone.find_element(By.CSS_SELECTOR, "#leave a").click()
    assert "确定不再等候" in text(phone, "main")
    phone.find_element(By.ID, "confirm-leave").click()
    wait_text(phone, ".note", "您已离开队列")
    wait_text(phone, "#zh", "您已离开队列")
    assert events.wait_for(lambda items: any(
        isinstance(x.value, m.TicketCancelled) and x.value.number == leaving.number and x.value.by == "customer"
        for x in items))
    # The core no longer has it: staff (the lobby manager) cannot cancel it a second time.
    with BusClient(host=r.broker.host, port=r.broker.port, topics=r.topics, device="manager1").connect(10) as lobby:
        again = lobby.request(m.Cancel(number=leaving.number, by="2001"), 10)
    assert not again.ok and again.error is not None and "cancelled" in again.error.en
    phone.get(behind_link.replace(BASE, url))
    wait_text(phone, "#zh", "请准备，马上就到您了")


def test_forged_expired_and_malformed_tokens_get_a_plain_not_found(
        branch: PhoneBranch, phone: webdriver.Chrome) -> None:
    r, url, key = branch.r, branch.url, branch.key
    ticket, link = printed(r, key)
    day, _, number = ticket.id.partition("-")
    yesterday = ticket_token(key, f"{int(day) - 1}-{number}")
    other_key = ticket_token(b"k" * 32, ticket.id)
    real = link.rsplit("/", 1)[1]
    forged_one_char = real[:-1] + ("A" if real[-1] != "A" else "B")
    for token in (yesterday, other_key, forged_one_char, "A001", "x" * 300):
        page = httpx.get(f"{url}/t/{token}", timeout=5)
        assert page.status_code == 404, token
        assert "未找到此号票" in page.text and "Ticket not found" in page.text
        assert not re.search(r"\b[A-Z]\d{3}\b", page.text), "a not-found page names no ticket"
        assert httpx.get(f"{url}/t/{token}/events", timeout=5).status_code == 404
        assert httpx.post(f"{url}/t/{token}/leave", data={"confirm": "yes"}, timeout=5).status_code == 404
    phone.get(f"{url}/t/{forged_one_char}")
    assert "未找到此号票" in text(phone, "#missing")
    assert httpx.get(link.replace(BASE, url), timeout=5).status_code == 200  # the real one still works


def test_the_lobby_books_a_slot_and_sees_it_in_the_day_list(branch: PhoneBranch) -> None:
    url = branch.url
    c = signed_in(url, "zhao")
    page = c.get("/bookings")
    assert page.status_code == 200 and "新预约 Book a slot" in page.text
    tomorrow = re.findall(r'<option value="(\d{4}-\d{2}-\d{2})"', page.text)[1]
    form = {"csrf": csrf_of(c), "business": "cash", "day": tomorrow, "slot": "10:00", "name": "李小龙",
            "ident": "13800138000"}
    done = c.post("/act/book", data=form)
    assert done.status_code == 200, result_of(done.text)
    code = re.search(r'id="made"><span>[^<]*</span><b>([A-Z0-9]{6})</b>', done.text)
    assert code, result_of(done.text)
    assert "李小龙" not in done.text and "13800138000" not in done.text
    listed = c.get(f"/bookings?day={tomorrow}").text
    row = re.search(rf'<tr class="due" data-code="{code.group(1)}"[^>]*>(.*?)</tr>', listed, re.S)
    assert row and "10:00" in row.group(1) and "李*" in row.group(1) and "待到" in row.group(1)
    form.update(csrf=csrf_of(c), name="王五", ident="")
    assert c.post("/act/book", data=form).status_code == 200  # the slot's second place
    full = c.post("/act/book", data=dict(form, csrf=csrf_of(c)))
    assert full.status_code == 409 and "约满" in result_of(full.text)
    bad = c.post("/act/book", data=dict(form, csrf=csrf_of(c), ident="12ab"))
    assert bad.status_code == 400 and "格式不对" in result_of(bad.text)
    forged = c.post("/act/book", data=dict(form, csrf="forged"))
    assert forged.status_code == 403


def test_a_web_service_restarted_mid_day_shows_the_places_at_once(
        branch: PhoneBranch, phone: webdriver.Chrome) -> None:
    """The new process has seen none of the day's events: the places come from the core's
    retained state/waiting (and keep moving with the events from then on)."""
    r, key = branch.r, branch.key
    first, _ = printed(r, key, "corporate")  # counter 4's business: nobody calls it in this rig
    printed(r, key, "corporate")
    mine, link = printed(r, key, "corporate")
    branch.restart_web()
    phone.get(link.replace(BASE, branch.url))
    assert text(phone, "#number") == mine.number
    assert "前面还有 2 人" in text(phone, "#zh"), text(phone, "main")
    assert text(phone, "#ahead") == "2"
    assert r.manager.request(m.Cancel(number=first.number, by="2001"), 10).ok
    wait_text(phone, "#zh", "请准备，前面还有 1 人")


# ---------------------------------------------------------------------------------- the door poster

TAKEN_BY_CODE: dict[str, int] = {}  # remote tickets this module took on each poster code


def poster_url(branch: PhoneBranch) -> str:
    """The URL in the door screen's QR right now, as the signed-in lobby's screen shows it."""
    lobby = signed_in(branch.url, "zhao")
    assert 'href="/poster"' in lobby.get("/lobby").text  # the lobby's way to the door screen
    screen = lobby.get("/poster")
    assert screen.status_code == 200 and "<svg" in screen.text and "扫码取号" in screen.text
    found = re.search(r'id="qr" data-url="([^"]+)"', screen.text)
    assert found and found.group(1).startswith(BASE + "/p/")
    return found.group(1).replace(BASE, branch.url)


def poster_key(branch: PhoneBranch) -> bytes:
    return derive_key(load_secret(branch.config.parent / "web-secret.key", create=False))


def window_now(branch: PhoneBranch) -> int:
    return int(time.time() // (branch.r.cfg.web.poster_minutes * 60))


def remote_issued(r: Rig) -> list[m.TicketView]:
    return [x.value.ticket for x in r.events.items if isinstance(x.value, m.TicketIssued) and x.value.ticket.via == "poster"]


def scan(url: str, cookie: str = "") -> tuple[str, str]:
    """A phone without a browser scans the code: (its cookie, the form token on the page)."""
    page = httpx.get(url, headers={"Cookie": f"qcall_phone={cookie}"} if cookie else {}, timeout=10)
    assert page.status_code == 200, page.text
    form = re.search(r'name="form" value="([0-9a-f]+)"', page.text)
    assert form, page.text
    return page.cookies.get("qcall_phone") or cookie, form.group(1)


def choose(url: str, cookie: str, form: str, business: str = "cash") -> httpx.Response:
    headers = {"Cookie": f"qcall_phone={cookie}"} if cookie else {}
    return httpx.post(url, data={"form": form, "business": business}, headers=headers, timeout=10)


def took(url: str) -> None:
    TAKEN_BY_CODE[url] = TAKEN_BY_CODE.get(url, 0) + 1


def test_the_door_posters_code_gives_a_walk_in_ticket_the_phone_then_follows(
        branch: PhoneBranch, phone: webdriver.Chrome) -> None:
    r = branch.r
    url = poster_url(branch)
    phone.delete_all_cookies()
    phone.get(url)
    assert "请选择业务" in text(phone, "main") and "普通客户" in text(phone, ".hint")
    phone.find_element(By.CSS_SELECTOR, 'button[data-business="personal"]').click()
    WebDriverWait(phone, 5).until(lambda d: "/t/" in d.current_url)
    took(url)
    number = text(phone, "#number")
    assert r.events.wait_for(lambda xs: any(t.number == number for t in remote_issued(r)))
    ticket = next(t for t in remote_issued(r) if t.number == number)
    assert (ticket.business, ticket.tier, ticket.via) == ("personal", "normal", "poster")
    assert r.core.service.store.core.tickets[number].kiosk == "web_poster1"  # the core stamped who issued it
    assert "前面还有" in text(phone, "#zh") or "请准备" in text(phone, "#zh")  # its place, at once
    assert "此页面就是您的号票" in text(phone, ".hint") and "纸质" not in text(phone, ".hint")  # no paper here
    save_screenshot(phone, "phone-poster-ticket")
    # The same phone scans again: no second number, a link to the one it has.
    phone.get(url)
    assert f"您今天已取号 {number}" in text(phone, "#said")
    phone.find_element(By.ID, "mine").click()
    wait_text(phone, "#number", number)


def test_one_per_phone_per_day_even_with_a_cookie_saved_from_before(branch: PhoneBranch) -> None:
    r = branch.r
    url = poster_url(branch)
    before = len(remote_issued(r))
    blank, form = scan(url)
    first = choose(url, blank, form)
    assert first.status_code == 303 and first.headers["location"].startswith("/t/"), first.text
    took(url)
    mine = first.headers["location"]
    holding = first.cookies.get("qcall_phone")
    assert holding and holding != blank
    # The same phone again, with the cookie it now has: refused, with its ticket linked.
    again = choose(url, holding, form)
    assert again.status_code == 409 and "您今天已取号" in again.text and f'href="{mine}"' in again.text
    page = httpx.get(url, headers={"Cookie": f"qcall_phone={holding}"}, timeout=10)
    assert "每部手机每天限取一个号" in page.text and f'href="{mine}"' in page.text and 'name="form"' not in page.text
    # The cookie saved before it took the number, replayed: the service remembers the phone.
    replayed = choose(url, blank, form)
    assert replayed.status_code == 409 and f'href="{mine}"' in replayed.text
    assert httpx.get(branch.url + mine, timeout=5).status_code == 200  # the link really is its page
    time.sleep(0.2)  # (no event can say "nothing else was issued": a short look for a second one)
    assert len(remote_issued(r)) == before + 1


def test_an_old_or_forged_poster_code_and_a_forged_form_are_refused(branch: PhoneBranch) -> None:
    r = branch.r
    key = poster_key(branch)
    before = len(remote_issued(r))
    old = f"{branch.url}/p/{poster_code(key, window_now(branch) - 2)}"  # ten minutes ago: a photo taken home
    for url in (old, f"{branch.url}/p/{poster_code(b'x' * 32, window_now(branch))}", f"{branch.url}/p/short"):
        page = httpx.get(url, timeout=5)
        assert page.status_code == 403 and "请在网点门口重新扫码" in page.text and "scan the poster" in page.text
        assert choose(url, "", "0" * 32).status_code == 403
    url = poster_url(branch)
    cookie, form = scan(url)
    other_cookie, other_form = scan(url)
    for c, f in (("", form), (cookie, "0" * 32), (cookie, other_form), (cookie[:-2] + "xx", form)):
        refused = choose(url, c, f)
        assert refused.status_code == 403 and "请求无效" in refused.text, (c, f)
    assert choose(url, cookie, form, business="gold").status_code == 400
    time.sleep(0.2)  # (no event can say "nothing was issued": a short look for one)
    assert len(remote_issued(r)) == before


def test_one_poster_code_gives_at_most_its_cap_of_remote_tickets(branch: PhoneBranch) -> None:
    url = poster_url(branch)
    answers = []
    for _ in range(POSTER_CAP + 1 - TAKEN_BY_CODE.get(url, 0)):  # fresh phones (no cookies) on one code
        cookie, form = scan(url)
        answers.append(choose(url, cookie, form).status_code)
    assert answers[:-1] == [303] * (len(answers) - 1)
    assert answers[-1] == 429
    cookie, form = scan(url)
    full = choose(url, cookie, form)
    assert full.status_code == 429 and "远程取号名额已满" in full.text and "kiosk" in full.text
