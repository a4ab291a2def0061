"""Privacy on the branch web after a day on the real core, the twin kiosk and the web service: every
page a manager, a lobby person and a customer can open — the live pages in real headless Chromium,
their event streams, /bookings, the reports and their CSV files, the phone page and its stream, the
door poster — and the web's own files and logs (every logger at DEBUG) hold no raw card, ID or
phone number (nor 12 digits of one) and no customer's full name; the masked 张* is the most.

The day: customers booked on the web (the lobby typing an ID card, a bank card or a phone number)
and by a booking system's CSV with raw ID numbers, swipe and place their cards at the kiosk
(the booked ones check in), are called, served and rated; a phone takes a number at the door."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from kiosk.flow import ViewKind
from kiosk.privacy import scan_paths
from kiosk.recognition import KeyedHasher
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import Received
from qbus.config import load
from qbus.messages import TicketView
from qbus.ticket_link import load_link_key, ticket_token
from qcall.cli import main as qcall_main
from qcall.history import close_day
from qcall.web import WebServer, build_context
from tests.conftest import CoreOn, MakeBus
from tests.kiosk_bus_helpers import CFG, KEY, TOPICS, KioskOn, kiosk_factory, press, wait_view
from tests.kiosk_fixtures import id_card
from tests.test_appointments import MIN, Shifted
from tests.test_kiosk_privacy_day import CARDS, PEOPLE, assert_clean, name_forms
from tests.test_phone_browser import choose, scan
from tests.web_helpers import csrf_of, live, result_of, sign_in, signed_in, write_branch

DAY = "2026-12-01"  # the day of test_appointments' T0 (10:00 branch time)
PHONE = "13912345678"
IDS = [id_card(name=name, birth=birth).id_number for name, birth in PEOPLE]
ADDRESS = id_card().address  # what the ID card's chip also holds


@pytest.fixture
def kiosk_on() -> Iterator[KioskOn]:
    yield from kiosk_factory()


class Spy:
    """Everything on `#` while the day runs."""

    def __init__(self, make_bus: MakeBus, broker: MosquittoBroker) -> None:
        self.seen: list[bytes] = []
        self._lock = threading.Lock()
        bus = make_bus(broker, "manager-spy", connect=False, topics=TOPICS)
        bus.subscribe("#", bytes, self._take)
        bus.connect(10)

    def _take(self, msg: Received[bytes]) -> None:
        with self._lock:
            self.seen.append(msg.topic.encode() + b" " + msg.value)

    def blob(self) -> bytes:
        with self._lock:
            return b"\n".join(self.seen)


class Tap:
    """An event stream left open all day, read to its end in a thread: what a browser that never
    reloaded received (the sections as they changed, the phone's updates), not only the opening."""

    def __init__(self, url: str, path: str, cookies: httpx.Cookies | None = None) -> None:
        self.got = bytearray()
        self._opened = threading.Event()
        self._client = httpx.Client(base_url=url, cookies=cookies, timeout=httpx.Timeout(5, read=60))
        self._thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self._thread.start()
        assert self._opened.wait(5), f"{path}: no opening message"

    def _read(self, path: str) -> None:
        try:
            with self._client.stream("GET", path) as stream:
                for chunk in stream.iter_bytes():
                    self.got += chunk
                    self._opened.set()
        except httpx.HTTPError:
            pass  # the service stopped under it
        finally:
            self._opened.set()
            self._client.close()

    def ended(self) -> bytes:
        """Everything received; the stream must have ended (sign-out or the service stopping)."""
        self._thread.join(10)
        assert not self._thread.is_alive(), "the stream never ended"
        return bytes(self.got)


def first_message(c: httpx.Client, path: str) -> bytes:
    """The first whole message of an event stream (the page's whole picture)."""
    got = b""
    with c.stream("GET", path) as stream:
        for chunk in stream.iter_bytes():
            got += chunk
            if b"data:" in got and b"\n\n" in got.split(b"data:", 1)[1]:
                break
    return got


def book_on_the_web(c: httpx.Client, business: str, name: str, ident: str) -> str:
    """The lobby's booking form at 10:30 today, as typed; returns the booking code the page shows."""
    done = c.post("/act/book", data={"csrf": csrf_of(c), "business": business, "day": DAY, "slot": "10:30",
                                     "name": name, "ident": ident})
    code = re.search(r'id="made"><span>[^<]*</span><b>([A-Z0-9]{6})</b>', done.text)
    assert done.status_code == 200 and code, result_of(done.text)
    return code.group(1)


def serve_and_rate(counter: MakeBus, broker: MosquittoBroker, stars: list[int]) -> list[str]:
    """Counter 1 calls, serves and has rated one ticket per star count; the last is called and missed."""
    teller = CFG.teller[0]
    desk = counter(broker, "counter1", topics=TOPICS)
    pad = counter(broker, "pad1", topics=TOPICS)
    assert desk.request(m.Login(counter=1, teller=teller.id, pin=teller.id), 10).ok
    called = []
    for n in stars:
        call = desk.request(m.CallNext(counter=1), 10)
        assert call.ok and call.number, call.error
        called.append(call.number)
        assert desk.request(m.StartService(counter=1), 10).ok
        assert desk.request(m.FinishService(counter=1), 10).ok
        assert pad.request(m.Rate(counter=1, stars=n), 10).ok
    call = desk.request(m.CallNext(counter=1), 10)
    assert call.ok and desk.request(m.Skip(counter=1), 10).ok
    return called + [call.number]


def kiosk_day(rt_on: KioskOn, broker: MosquittoBroker, t: Shifted) -> list[TicketView]:
    """At 10:20: the booked check in by the card or ID card that booked; then walk-ins."""
    t.shift = 20 * MIN
    rt = rt_on(broker, msgspec.structs.replace(CFG, kiosk=msgspec.structs.replace(CFG.kiosk, repeat_guard_s=0.0)))
    assert rt.twins is not None and rt.app is not None
    twins = rt.twins
    deadline = time.monotonic() + 5
    while rt.kbus.open_bookings < 5 and time.monotonic() < deadline:  # it heard the retained bookings
        rt.app.step(0.05)
    assert rt.kbus.open_bookings == 5
    tickets: list[TicketView] = []
    for i, (name, birth) in enumerate(PEOPLE):
        twins.idcard.place(id_card(name=name, birth=birth, sex=str(i % 2 + 1)))
        view = wait_view(rt, ViewKind.IDENTIFIED, ViewKind.ISSUED)
        twins.idcard.remove()
        assert twins.idcard.wait_polled()
        if view.kind is ViewKind.IDENTIFIED:
            press(rt, "personal")
            view = wait_view(rt, ViewKind.ISSUED)
        assert view.ticket is not None and (view.ticket.booking != "") == (i < 2), (i, view.zh)
        tickets.append(view.ticket)
    for i, card in enumerate(CARDS[:6]):
        twins.mag.swipe(card, name="ZHANG/SAN" if i == 3 else "")
        view = wait_view(rt, ViewKind.IDENTIFIED, ViewKind.ISSUED)
        if view.kind is ViewKind.IDENTIFIED:
            press(rt, ["cash", "personal", "forex"][i % 3])
            view = wait_view(rt, ViewKind.ISSUED)
        assert view.ticket is not None and (view.ticket.booking != "") == (i in (1, 2)), (i, view.zh)
        tickets.append(view.ticket)
    return tickets


def test_a_day_on_the_web_shows_no_raw_number_or_full_name_on_any_page(
        tmp_path: Path, mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn, make_bus: MakeBus,
        chromium: webdriver.Chrome, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    spy = Spy(make_bus, mosquitto)
    t = Shifted()
    poster_on = msgspec.structs.replace(CFG, web=msgspec.structs.replace(CFG.web, poster=True))
    core_on(mosquitto, poster_on, clock=t.clock())
    etc = tmp_path / "etc"
    config = write_branch(etc)
    (etc / "hash.key").write_text(KEY.hex(), encoding="ascii")
    (etc / "hash.key").chmod(0o600)
    text = config.read_text(encoding="utf-8").replace('hash_key_file = "var/hash.key"',
                                                      f'hash_key_file = "{etc / "hash.key"}"', 1)
    config.write_text(text + "poster = true\n", encoding="utf-8")  # [web] is the file's last table
    cfg = load(config)
    server = WebServer(build_context(cfg, config, host=mosquitto.host, port=mosquitto.port, clock=t.wall)).start()
    url = server.url
    try:
        pages: dict[str, bytes] = {}  # where -> what it showed or held
        lobby, manager = signed_in(url, "zhao"), signed_in(url, "zhou")
        all_day = {who: Tap(url, "/events", c.cookies) for who, c in (("lobby", lobby), ("manager", manager))}
        # Booked on the web, as the lobby types it: an ID card, a bank card in fours, a phone.
        book_on_the_web(lobby, "personal", PEOPLE[0][0], IDS[0])
        book_on_the_web(lobby, "cash", "王五", " ".join(re.findall(".{1,4}", CARDS[1])))
        book_on_the_web(manager, "forex", "陈大文", f"{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}")
        refused = lobby.post("/act/book", data={"csrf": csrf_of(lobby), "business": "cash", "day": DAY,
                                                "slot": "11:00", "name": "赵德胜", "ident": CARDS[5] + "x"})
        assert refused.status_code == 400 and "格式不对" in result_of(refused.text)
        # Free text typed at the desk: a reason or a hall notice with the customer's card or ID in it.
        typed = {"/act/issue": {"business": "cash", "tier": "priority", "reason": f"行动不便 证件 {IDS[3]}"},
                 "/act/notice": {"zh": f"请卡号 {' '.join(re.findall('.{1,4}', CARDS[4]))} 的客户到大堂", "en": ""}}
        for path, fields in typed.items():
            said = lobby.post(path, data=dict(fields, csrf=csrf_of(lobby)))
            assert said.status_code == 400 and "卡号" in result_of(said.text), (path, result_of(said.text))
            pages[f"refused {path}"] = said.content
        desk = lobby.post("/act/issue", data={"csrf": csrf_of(lobby), "business": "cash", "tier": "priority",
                                              "reason": "行动不便，电话回访"})
        assert desk.status_code == 200 and "已取号" in result_of(desk.text)
        # A booking system's export with raw ID / card numbers, imported with `qcall book-import`:
        # first a hand-edited one whose rows lost a field (a name in `tier`, a number in `business`).
        export = tmp_path / "export" / "bookings.csv"
        export.parent.mkdir()
        export.write_text("code,date,time,business,tier,name,id_number\n"
                          f"K7Q2M9,{DAY},10:30,personal,{PEOPLE[1][0]},{IDS[1]}\n"
                          f"Q4RW7Z,{DAY},10:30,{CARDS[2]},欧阳娜娜,\n", encoding="utf-8")
        assert qcall_main(["book-import", str(export), "--config", str(config), "--by", "zhou",
                           "--host", mosquitto.host, "--port", str(mosquitto.port)]) != 0
        bad_out = capsys.readouterr()
        assert "line 2: tier" in bad_out.err and "line 3: business" in bad_out.err, bad_out
        export.write_text("code,date,time,business,tier,name,id_number\n"
                          f"K7Q2M9,{DAY},10:30,personal,normal,{PEOPLE[1][0]},{IDS[1]}\n"
                          f"Q4RW7Z,{DAY},10:30,forex,,欧阳娜娜,{CARDS[2]}\n", encoding="utf-8")
        assert qcall_main(["book-import", str(export), "--config", str(config), "--by", "zhou",
                           "--host", mosquitto.host, "--port", str(mosquitto.port)]) == 0
        cli_out = capsys.readouterr()

        tickets = kiosk_day(kiosk_on, mosquitto, t)
        link_key = load_link_key(etc / "ticket-link.key")
        phones = {tk.number: Tap(url, f"/t/{ticket_token(link_key, tk.id)}/events") for tk in tickets}
        t.shift = 31 * MIN
        served = serve_and_rate(make_bus, mosquitto, [5, 1])
        named = [tk for tk in tickets if tk.masked_name]
        assert named and all("*" in tk.masked_name for tk in named)
        # A phone at the door takes a number.
        door = lobby.get("/poster")
        qr = re.search(r'id="qr" data-url="([^"]+)"', door.text)
        assert door.status_code == 200 and qr
        p_url = qr.group(1).replace("http://127.0.0.1", url)
        cookie, form_token = scan(p_url)
        took = choose(p_url, cookie, form_token)
        assert took.status_code == 303, took.text

        pages.update({"book-import output": (cli_out.out + cli_out.err).encode(),
                      "book-import refusal": (bad_out.out + bad_out.err).encode(),
                      "refused booking": refused.content, "door": door.content})
        pages["/p/ scanned"] = httpx.get(p_url, timeout=5).content
        for tk in named[:4] + [tk for tk in tickets if tk.number in served]:
            token = ticket_token(link_key, tk.id)
            pages[f"/t/ {tk.number}"] = httpx.get(f"{url}/t/{token}", timeout=5).content
            pages[f"/t/ {tk.number} leave"] = httpx.get(f"{url}/t/{token}/leave", timeout=5).content
            with httpx.Client(base_url=url, timeout=5) as phone:
                pages[f"/t/ {tk.number} stream"] = first_message(phone, f"/t/{token}/events")
        pages["poster's /t/"] = httpx.get(url + took.headers["location"], timeout=5).content

        def fetch_all(when: str, paths: list[str]) -> None:
            for who, c in (("lobby", lobby), ("manager", manager)):
                for path in paths:
                    r = c.get(path)
                    assert r.status_code == 200 or (path == "/counters" and who == "lobby"), (who, path)
                    pages[f"{who} {path} {when}"] = r.content
                pages[f"{who} /events {when}"] = first_message(c, "/events")

        live_paths = ["/", "/lobby", "/counters", "/check", "/bookings", "/poster", "/reports", "/reports.csv"]
        fetch_all("live", live_paths)
        # The picture is real: the bookings and the named tickets are on the pages, masked.
        assert "张*" in pages["lobby /bookings live"].decode() and "已签到" in pages["lobby /bookings live"].decode()
        assert "陈*" in pages["manager /bookings live"].decode()
        assert any(tk.masked_name in pages[f"/t/ {tk.number}"].decode() for tk in named)

        # In real Chromium: what the browser renders and holds, for both roles.
        for login, paths in (("zhou", ["/", "/lobby", "/counters", "/bookings"]), ("zhao", ["/", "/lobby", "/bookings"])):
            sign_in(chromium, url, login)
            for path in paths:
                chromium.get(url + path)
                live(chromium)
                pages[f"chromium {login} {path}"] = (chromium.page_source + "\n" + chromium.find_element(
                    By.TAG_NAME, "body").text).encode()
        assert "张*" in pages["chromium zhao /bookings"].decode()
        chromium.get(f"{url}/t/{ticket_token(link_key, named[0].id)}")
        pages["chromium phone"] = (chromium.page_source + chromium.find_element(By.TAG_NAME, "body").text).encode()
        assert named[0].masked_name in pages["chromium phone"].decode()

        # The day closed into the history: the day's report and its CSV files.
        assert close_day(load(config), tmp_path / "journal.db", now=t.wall()) == [DAY]
        report = [f"/reports?kind=day&date={DAY}", f"/reports.csv?kind=day&date={DAY}",
                  f"/reports/lives.csv?kind=day&date={DAY}"]
        fetch_all("history", report)
        assert b'id="history-report"' in pages[f"manager {report[0]} history"]
        assert served[0].encode() in pages[f"manager {report[2]} history"]
        sign_in(chromium, url, "zhou")
        chromium.get(url + report[0])
        pages["chromium report"] = (chromium.page_source + chromium.find_element(By.TAG_NAME, "body").text).encode()
        for who, c in (("lobby", lobby), ("manager", manager)):  # signing out ends the all-day streams
            assert c.post("/logout", data={"csrf": csrf_of(c)}).status_code == 303
            pages[f"{who} /events all day"] = all_day[who].ended()
    finally:
        server.stop()
    for number, tap in phones.items():
        pages[f"/t/ {number} stream all day"] = tap.ended()
    day_stream = pages["manager /events all day"]
    assert day_stream.count(b"event: sections") > 5 and "已签到".encode() in day_stream and b"event: bye" in day_stream
    heard = [n for n in served if n in phones]
    assert heard and "1号窗口".encode() in pages[f"/t/ {heard[0]} stream all day"]  # it heard its call

    numbers = CARDS[:6] + IDS + [PHONE]
    hashes = [KeyedHasher(KEY).hash_number(n) for n in numbers]
    for where, blob in pages.items():  # nor the kiosk's keyed hash of one: a page is no database
        assert not any(h.encode() in blob for h in hashes), f"{where}: a customer's keyed hash"
    names = [p[0] for p in PEOPLE] + ["王五", "陈大文", "欧阳娜娜", "ZHANG/SAN", "ZHANG SAN", ADDRESS]
    pages["logs"] = (caplog.text + "\n".join(repr(r.args) for r in caplog.records)).encode("utf-8")
    pages["mqtt"] = spy.blob()
    assert b"op\":\"book\"" in pages["mqtt"]
    assert_clean(pages, numbers, names)
    files = [etc, mosquitto.workdir] + list(tmp_path.glob("journal.db*"))
    assert (etc / "users.toml").exists() and (etc / "history.db").exists()
    assert not scan_paths(files, numbers)
    for f in [p for p in etc.rglob("*") if p.is_file()]:
        blob = f.read_bytes()
        for name in names:
            assert not any(form in blob for form in name_forms(name)), f"{f}: a full name"
