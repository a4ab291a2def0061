"""Appointments (预约) end to end: booked over the bus (as the web and a bank's booking system do),
checked in at the twin kiosk by swiping the card that booked or typing the code, and called at
the booked time ahead of walk-ins — on real Mosquitto and the real core service with an injected
branch clock (so "10:20" is 10:20 whatever the hour the tests run)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # the touch screen, headless

import pygame
import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from kiosk.flow import ViewKind
from kiosk.recognition import KeyedHasher
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qcall.web import WebServer, build_context
from qserver.clock import BranchClock
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox
from tests.conftest import MakeBus
from tests.kiosk_bus_helpers import CFG, KEY, TOPICS, KioskOn, kiosk_factory, press, wait_view
from tests.kiosk_fixtures import PLAIN_CARD
from tests.web_helpers import live, sign_in, write_branch

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # 10:00 branch time
MIN = 60.0


class Shifted:
    """Branch time that runs on its own and can be moved ahead: T0 + elapsed + shift."""

    def __init__(self) -> None:
        self.shift = 0.0
        self._start = time.monotonic()

    def wall(self) -> float:
        """Branch time now, for a service that reads a plain clock (the web)."""
        return T0 + time.monotonic() - self._start + self.shift

    def clock(self) -> BranchClock:
        # Wall and monotonic clock move together, so the core's clock watch sees no drift to step.
        start = time.monotonic()
        return BranchClock(wall=lambda: T0 + time.monotonic() - start + self.shift,
                           mono=lambda: time.monotonic() + self.shift)


@pytest.fixture
def kiosk_on() -> Iterator[KioskOn]:
    yield from kiosk_factory()


@pytest.fixture
def branch(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[tuple[CoreRunner, Shifted]]:
    t = Shifted()
    runner = CoreRunner(CFG, tmp_path / "journal.db", mosquitto.host, mosquitto.port, clock=t.clock(),
                        pins=PinBook.example_for(CFG, CHEAP_COST)).start()
    try:
        yield runner, t
    finally:
        runner.stop()


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def test_booked_checked_in_by_card_and_called_at_its_time_ahead_of_walk_ins(
        mosquitto: MosquittoBroker, branch: tuple[CoreRunner, Shifted], kiosk_on: KioskOn, make_bus: MakeBus) -> None:
    core, t = branch
    events = Inbox()
    office = make_bus(mosquitto, "manager", connect=False, topics=TOPICS)
    office.subscribe(TOPICS.all_events(), m.decode_event, events)
    office.connect(10)
    card = KeyedHasher(KEY).hash_number(PLAIN_CARD)
    ok = office.request(m.Book(code="K7Q2M9", at=T0 + 30 * MIN, business="cash", customer=card,
                               masked_name="李*", source="system"), 10)
    assert ok.ok, ok.error
    assert office.request(m.Book(code="EARLY1", at=T0 + 120 * MIN, business="cash", source="web", by="zhao"), 10).ok
    assert office.request(m.Book(code="LATE01", at=T0, business="cash", source="csv"), 10).ok
    assert office.request(m.Book(code="SECOND", at=T0 + 30 * MIN, business="cash"), 10).ok
    full = office.request(m.Book(code="THIRD1", at=T0 + 30 * MIN, business="cash"), 10)
    assert not full.ok and full.error is not None and full.error.code == "slot_full"
    off_grid = office.request(m.Book(code="ODD123", at=T0 + 7 * MIN, business="cash"), 10)
    assert not off_grid.ok and off_grid.error is not None and off_grid.error.code == "bad_booking"

    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    t.shift = 10 * MIN  # 10:10: two walk-ins
    walk_ins = []
    for _ in range(2):
        press(rt, "cash")
        view = wait_view(rt, ViewKind.ISSUED)
        assert view.ticket is not None
        walk_ins.append(view.ticket.number)
        time.sleep(rt.cfg.kiosk.repeat_guard_s)  # the kiosk's guard against a double press

    t.shift = 20 * MIN  # 10:20: ten minutes before the booked 10:30
    deadline = time.monotonic() + 5
    while rt.kbus.open_bookings == 0 and time.monotonic() < deadline:
        rt.app.step(0.05)
    rt.twins.mag.swipe(PLAIN_CARD)
    view = wait_view(rt, ViewKind.ISSUED)
    appt = view.ticket
    assert appt is not None and appt.appointment_at == T0 + 30 * MIN and appt.booking == "K7Q2M9"
    assert "预约签到成功" in view.zh and "appointment" in view.en
    printed = rt.twins.printer.tickets[-1]
    assert gb("预约 APPOINTMENT") in printed and gb("预约时间 10:30") in printed
    assert PLAIN_CARD.encode() not in printed and card.encode() not in printed

    early = rt.flow.check_in_code("EARLY1")  # booked for 12:00: 100 minutes early
    assert early.kind is ViewKind.MESSAGE and "您来早了" in early.zh and "预约时间前 15 分钟内" in early.zh
    assert "You are early" in early.en
    unknown = rt.flow.check_in_code("NOPE99")
    assert "没有找到" in unknown.zh and "No booking" in unknown.en
    assert "格式不对" in rt.flow.check_in_code("!!").zh
    late = rt.flow.check_in_code("LATE01")  # booked 10:00, now 10:20: past the 15-minute window
    assert late.kind is ViewKind.ISSUED and late.ticket is not None and late.ticket.booking_late
    assert late.ticket.appointment_at == 0 and "已按普通号排队" in late.zh and "walk-in" in late.en
    assert gb("本号按普通号排队") in rt.twins.printer.tickets[-1]
    again = rt.flow.check_in_code("K7Q2M9")
    assert "已签到" in again.zh

    counter = make_bus(mosquitto, "counter1", topics=TOPICS)
    assert counter.request(m.Login(counter=1, teller=CFG.teller[0].id, pin=CFG.teller[0].id), 10).ok
    t.shift = 31 * MIN  # 10:31: the appointment is due; the walk-ins (10:10) have waited 21 min
    called = counter.request(m.CallNext(counter=1), 10)
    assert called.ok and called.number == appt.number, (called.number, appt.number, walk_ins)
    assert counter.request(m.Skip(counter=1), 10).ok
    assert counter.request(m.CallNext(counter=1), 10).number == walk_ins[0]
    assert events.wait_for(lambda xs: any(isinstance(x.value, m.TicketCalled) and x.value.number == walk_ins[0]
                                          for x in xs))
    calls = {x.value.number: x.value for x in events.items if isinstance(x.value, m.TicketCalled)}
    assert calls[appt.number].booked and not calls[walk_ins[0]].booked  # the hall screen marks 预约

    assert events.wait_for(lambda xs: sum(isinstance(x.value, m.BookingCheckedIn) for x in xs) == 2)
    checked = {x.value.code: x.value for x in events.items if isinstance(x.value, m.BookingCheckedIn)}
    assert not checked["K7Q2M9"].late and checked["K7Q2M9"].early_s == pytest.approx(10 * MIN, abs=60)
    assert checked["LATE01"].late and checked["LATE01"].booked_at == T0
    # The day ends: the bookings nobody came for are no-shows, countable by the history.
    t.shift = 20 * 60 * MIN  # 06:00 next morning: the service opens the new day itself, or we do
    reset = office.request(m.ResetDay(day="2026-12-02"), 10)
    assert reset.ok or (reset.error is not None and reset.error.code == "day_not_after"), reset.error

    def missed() -> set[str]:
        return {x.value.code for x in events.items if isinstance(x.value, m.BookingMissed)}

    assert events.wait_for(lambda xs: missed() == {"EARLY1", "SECOND"})


def test_a_booking_code_typed_on_the_touch_screen_gives_the_appointment_ticket(
        mosquitto: MosquittoBroker, branch: tuple[CoreRunner, Shifted], kiosk_on: KioskOn, make_bus: MakeBus) -> None:
    from hw.printer.paper import paper_lines
    from kiosk.app import KioskEvent
    from kiosk.screen import Action, KioskScreen

    _core, t = branch
    office = make_bus(mosquitto, "manager", topics=TOPICS)
    assert office.request(m.Book(code="K7Q2M9", at=T0 + 30 * MIN, business="cash", masked_name="李*",
                                 source="web", by="zhao"), 10).ok
    t.shift = 20 * MIN  # 10:20, ten minutes before the booked 10:30
    rt = kiosk_on(mosquitto, screen=True)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    app = rt.app
    screen: KioskScreen = app.screen

    def tap(rect: pygame.Rect | None) -> None:
        assert rect is not None
        action = screen.hit(rect.center)
        if action is not None:
            app.events.put(KioskEvent("action", action))

    def said(view_text: str) -> bool:
        return any(view_text in text for _w, text, *_ in screen.elements)

    def type_code(code: str) -> None:
        tap(screen.button_rect(Action("booking")))
        assert wait_view(rt, ViewKind.BOOKING_CODE).kind is ViewKind.BOOKING_CODE
        for key in code:
            tap(screen.key_rect(key))
        assert said(code)  # the code as typed, on the screen
        tap(screen.key_rect("OK"))

    assert said("预约取号") and said("I have an appointment")
    type_code("NOPE99")
    view = wait_view(rt, ViewKind.MESSAGE)
    assert said("没有找到该预约码的今日预约") and "No booking" in view.en
    assert rt.twins.printer.tickets == []  # nothing printed for a code nobody booked
    tap(screen.button_rect(Action("back")))
    wait_view(rt, ViewKind.HOME)
    type_code("K7Q2M9")
    view = wait_view(rt, ViewKind.ISSUED)
    assert view.ticket is not None and view.ticket.booking == "K7Q2M9"
    assert said("预约签到成功") and said(view.ticket.number)
    printed = rt.twins.printer.tickets[-1]
    assert gb("预约 APPOINTMENT") in printed and gb("预约时间 10:30") in printed
    assert any("预约 APPOINTMENT" in ln.text for ln in paper_lines(printed))

    # the twin kiosk's console types a code as the pad does (`qcall kiosk --twin`: code ZZ9999)
    from qcall.kiosk_console import KioskConsole

    lines: list[str] = []
    console = KioskConsole(rt.twins, rt.app, lines.append)
    assert console.handle("code") and "code K7Q2M9" in lines[-1]  # how to use it
    assert console.handle("code zz9999") and "ZZ9999" in lines[-1]
    view = wait_view(rt, ViewKind.MESSAGE)
    assert "没有找到" in view.zh and said("No booking for today has that code.")


CSV = """\ufeffcode,date,time,business,tier,name,id_number
K7Q2M9,2026-12-01,11:00,cash,normal,李小龙,6217000000111122220
Q4RW7Z,2026-12-01,11:00,cash,,王五,
ZZ9999,2026-12-01,11:00,cash,,赵六,
"""


def test_a_booking_export_is_checked_whole_then_booked_row_by_row(
        mosquitto: MosquittoBroker, branch: tuple[CoreRunner, Shifted], make_bus: MakeBus) -> None:
    from qbus.errors import ConfigError
    from qcall.bookings_import import read_bookings, send_bookings

    core, _t = branch
    hasher = KeyedHasher(KEY).hash_number
    bad = CSV.replace("2026-12-01,11:00,cash,,王五", "2026-13-01,11:00,loans,,王五").replace(
        "6217000000111122220", "12ab")
    with pytest.raises(ConfigError) as refused:
        read_bookings(CFG, bad, hasher)
    assert "line 2: id_number" in str(refused.value) and "line 3: date/time" in str(refused.value)
    assert "business: 'loans'" in str(refused.value)
    with pytest.raises(ConfigError, match="missing column"):
        read_bookings(CFG, "code,date\nK7Q2M9,2026-12-01\n", hasher)
    books = read_bookings(CFG, CSV, hasher, by="zhou")
    assert books[0][1].customer == hasher("6217000000111122220") and books[0][1].masked_name == "李**"
    assert "6217000000111122220" not in repr(books) and "小龙" not in repr(books)
    bus = make_bus(mosquitto, "manager", topics=TOPICS)
    refusals = send_bookings(bus, books)
    assert len(refusals) == 1 and refusals[0].startswith("line 4 (ZZ9999)") and "full" in refusals[0]
    held = core.store.core.bookings_state().bookings
    assert [(b.code, b.source, b.status) for b in held] == [("K7Q2M9", "csv", "booked"), ("Q4RW7Z", "csv", "booked")]


def test_the_lobbys_day_list_follows_check_in_call_and_no_show_without_a_reload(
        mosquitto: MosquittoBroker, branch: tuple[CoreRunner, Shifted], kiosk_on: KioskOn, make_bus: MakeBus, tmp_path: Path,
        chromium: webdriver.Chrome) -> None:
    """The /bookings page open in real Chromium on the real web service: the kiosk's check-in,
    the counter's call and the no-show each change the booking's row in place."""
    _core, t = branch
    office = make_bus(mosquitto, "manager", topics=TOPICS)
    assert office.request(m.Book(code="K7Q2M9", at=T0 + 30 * MIN, business="cash", masked_name="李*",
                                 source="web", by="zhao"), 10).ok
    config = write_branch(tmp_path / "etc")
    ctx = build_context(load(config), config, host=mosquitto.host, port=mosquitto.port, clock=t.wall)
    server = WebServer(ctx).start()
    try:
        sign_in(chromium, server.url, "zhao")
        chromium.get(server.url + "/bookings")
        live(chromium)
        row = '#bookings tr[data-code="K7Q2M9"]'

        def row_now() -> tuple[str, str]:
            """The row's text and ticket state, read at once (a live swap replaces the element)."""
            got = chromium.execute_script(
                "var r = document.querySelector(arguments[0]);"
                "return r ? [r.innerText, r.getAttribute('data-ticket') || ''] : ['', ''];", row)
            return str(got[0]), str(got[1])

        def row_says(want: str, ticket: str = "") -> None:
            def shown(_d: webdriver.Chrome) -> bool:
                text, state = row_now()
                return want in text and state == ticket
            WebDriverWait(chromium, 5, poll_frequency=0.05).until(shown, f"the row never said {want!r} / {ticket!r}")

        row_says("待到")
        chromium.execute_script("window.notReloaded = true")
        t.shift = 20 * MIN  # 10:20: ten minutes before the booked 10:30
        rt = kiosk_on(mosquitto)
        checked = rt.flow.check_in_code("K7Q2M9")
        assert checked.ticket is not None, checked.zh
        number = checked.ticket.number
        row_says("已签到", "waiting")
        assert number in row_now()[0]
        counter = make_bus(mosquitto, "counter1", topics=TOPICS)
        assert counter.request(m.Login(counter=1, teller=CFG.teller[0].id, pin=CFG.teller[0].id), 10).ok
        t.shift = 31 * MIN
        assert counter.request(m.CallNext(counter=1), 10).number == number
        row_says("1号窗口", "called")
        assert counter.request(m.Skip(counter=1), 10).ok  # the customer did not come to the counter
        row_says("过号", "missed")
        assert chromium.execute_script("return window.notReloaded") is True  # the same page all along
    finally:
        server.stop()
