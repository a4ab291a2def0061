"""What a customer sees at the kiosk: frames rendered headless and checked by region, tickets read
back from their ESC/POS bytes (issue 15, kiosk part)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import msgspec
import pygame
import pytest
from gpiozero.pins.mock import MockFactory

from hw.buttons import KioskButtons
from hw.identity import Presented, Secret
from hw.printer import Paper, Printer, TwinDevice
from hw.printer.paper import paper_lines
from kiosk.app import KioskApp, KioskEvent
from kiosk.flow import HOME, IssueFn, KioskFlow, View, ViewKind
from kiosk.recognition import KeyedHasher, Recognizer, Roster
from kiosk.screen import Action, KioskScreen
from kiosk.ticket import TicketLayout
from qbus import messages as m
from qbus.linebreak import NO_END, NO_START
from tests.kiosk_fixtures import Clock, FakeCore, branch, id_card
from tests.seen import ink_height, overlaps, rgb, shows

KEY = bytes(range(32))
W, H = 1280, 800


@pytest.fixture(scope="module")
def screen() -> Iterator[KioskScreen]:
    s = KioskScreen(branch(), size=(W, H), window=False)
    yield s
    s.close()


def texts(screen: KioskScreen, what: str | None = None) -> list[tuple[str, pygame.Rect]]:
    return [(t, r) for w, t, r, *_ in screen.elements if what is None or w == what]


def rendered(screen: KioskScreen, text: str) -> tuple[pygame.Rect, pygame.Surface]:
    """Where `text` was drawn and a fresh render of it with the same font, colours and ground."""
    for _w, t, r, size, fg, bg in screen.elements:
        if t == text:
            return r, screen._font(size).render(t, True, fg, bg)
    raise AssertionError(f"{text!r} is not on the screen: {[t for _, t, *_ in screen.elements]}")


def assert_shows(screen: KioskScreen, text: str) -> pygame.Rect:
    rect, image = rendered(screen, text)
    assert shows(screen.surface, rect, image), f"{text!r} is not visible where it was drawn"
    return rect


class Kiosk:
    """A kiosk with a screen, the printer twin and GPIO LEDs (ready 5, fault 6)."""

    def __init__(self, issue: IssueFn | None = None) -> None:
        self.cfg = branch()
        self.clock = Clock()
        self.core = FakeCore(self.cfg, self.clock)
        self.device = TwinDevice()
        hasher = KeyedHasher(KEY)
        self.flow = KioskFlow(self.cfg, issue=issue or self.core, printer=Printer(self.device, answer_s=0.05),
                              clock=self.clock, recognizer=Recognizer(self.cfg, hasher, Roster()))
        self.factory = MockFactory()
        self.buttons = KioskButtons({}, {"ready": 5, "fault": 6}, pin_factory=self.factory, bounce_s=None)
        self.screen = KioskScreen(self.cfg, size=(W, H), window=False)
        self.app = KioskApp(self.flow, buttons=self.buttons, screen=self.screen, status_poll_s=0.0)

    def close(self) -> None:
        self.app.close()
        self.factory.reset()


@pytest.fixture
def kiosk() -> Iterator[Kiosk]:
    k = Kiosk()
    yield k
    k.close()


# -- waiting counts ------------------------------------------------------------------------------
def test_waiting_counts_and_estimated_waits_are_large_and_clear_of_the_names(screen: KioskScreen) -> None:
    screen.waiting = {"cash": 3, "personal": 12, "corporate": 0, "wealth": 1, "forex": 2}
    screen.est_wait_s = {"cash": 300.0, "personal": 1500.0, "wealth": 900.0, "forex": 600.0}
    screen.draw(HOME)
    for b in screen.cfg.business:
        button = screen.button_rect(Action("business", b.code))
        assert button is not None
        on_button = [(t, r) for t, r in texts(screen) if button.contains(r)]
        names = [r for t, r in on_button if t in (b.name_zh, b.name_en)]
        counts = [r for t, r in on_button if t not in (b.name_zh, b.name_en)]
        assert len(names) == 2 and len(counts) == 2, on_button  # Chinese + English of each, inside the button
        assert overlaps([(t, r) for t, r in on_button]) == []
        for text, _r in on_button:
            assert_shows(screen, text)
    assert_shows(screen, "等候 12 人 · 约 25 分钟")
    assert_shows(screen, "12 waiting · about 25 min")
    assert_shows(screen, "无需等候")  # nobody waiting: said, not "0 waiting"
    rect, image = rendered(screen, "等候 3 人 · 约 5 分钟")
    size, fg, bg = next((e[3], e[4], e[5]) for e in screen.elements if e[1] == "等候 3 人 · 约 5 分钟")
    other = screen._font(size).render("等候 8 人 · 约 5 分钟", True, fg, bg)
    assert not shows(screen.surface, rect, other)  # the comparison tells one count from another
    # Han glyphs at least 22 px tall (a 28 px face) and dark on a light band: readable at arm's length
    assert ink_height(screen.surface, rect, rgb(screen.surface.get_at((rect.x, rect.y)))) >= 22
    fg = next(e[4] for e in screen.elements if e[1] == "等候 3 人 · 约 5 分钟")
    assert sum(fg) < 200  # near-black ink, not the old small grey


# -- printer trouble before anyone chooses -------------------------------------------------------
def test_out_of_paper_shows_on_the_home_screen_and_the_ready_led_before_anyone_chooses(kiosk: Kiosk) -> None:
    k = kiosk
    assert k.factory.pin(5).state and not k.factory.pin(6).state
    assert_shows(k.screen, "请刷卡")
    k.device.emulator.set_paper(Paper.OUT)
    view = k.app.step(0.0)  # the idle poll reads the printer
    assert view is not None and view.kind is ViewKind.HOME and not view.ready
    assert_shows(k.screen, "暂停取号")
    assert_shows(k.screen, "No tickets right now")
    assert any("缺纸" in t for t, _ in texts(k.screen, "fault"))
    assert any("out of paper" in t for t, _ in texts(k.screen, "fault"))
    assert not any(t == "请刷卡" for t, _ in texts(k.screen))
    assert k.screen.button_rect(Action("business", "cash")) is None  # nothing to tap that cannot work
    assert not k.factory.pin(5).state and k.factory.pin(6).state  # ready off, fault on
    k.device.emulator.set_paper(Paper.OK)
    k.app.step(0.0)
    assert_shows(k.screen, "请刷卡")
    assert k.factory.pin(5).state and not k.factory.pin(6).state


def test_cover_open_shows_on_the_home_screen(kiosk: Kiosk) -> None:
    kiosk.device.emulator.open_cover()
    kiosk.app.step(0.0)
    assert_shows(kiosk.screen, "暂停取号")
    assert not kiosk.factory.pin(5).state


# -- a slow core ---------------------------------------------------------------------------------
def test_the_screen_says_the_ticket_is_being_issued_while_the_core_answers() -> None:
    seen: list[bytes] = []
    holder: list[Kiosk] = []

    def slow_core(cmd: m.Issue | m.CheckIn) -> m.TicketView | m.ErrorInfo:
        k = holder[0]
        # the core has not answered yet: what is on the screen now?
        seen.append(pygame.image.tobytes(k.screen.surface, "RGB"))
        assert_shows(k.screen, "正在出票，请稍候…")
        assert_shows(k.screen, "Issuing your ticket, please wait…")
        assert k.screen.button_rect(Action("back")) is None and not k.screen._hits  # nothing to tap twice
        return k.core(cmd)

    k = Kiosk(issue=slow_core)
    holder.append(k)
    try:
        k.app.events.put(KioskEvent("action", Action("business", "corporate")))
        view = k.app.step(0.0)
        assert view is not None and view.kind is ViewKind.ISSUED and len(seen) == 1
        assert_shows(k.screen, "C001")
    finally:
        k.close()


# -- line breaking -------------------------------------------------------------------------------
LONG_ZH = ("此业务可在大堂自助存取款机（ATM）办理，无需排队。仍需柜台办理请点“继续取号”。"
           "如需帮助，请联系大堂经理；我们的工作人员将竭诚为您服务！")


@pytest.mark.parametrize("width", [1280, 1100, 1000, 900])
def test_screen_lines_never_start_with_closing_or_end_with_opening_punctuation(width: int) -> None:
    s = KioskScreen(branch(), size=(width, 800), window=False)
    try:
        s.draw(View(ViewKind.SELF_SERVICE, LONG_ZH, "You can do this at the ATMs.", business="cash"))
        lines = [t for t, _ in texts(s, "message")]
        assert len(lines) >= 3 and "".join(lines[:-1]).replace("You can do this at the ATMs.", "") != ""
        for line in lines:
            assert line[0] not in NO_START and line[-1] not in NO_END, lines
            assert_shows(s, line)
    finally:
        s.close()


@pytest.mark.parametrize("width", [32, 40, 42, 48])
def test_ticket_lines_follow_the_same_rules(width: int) -> None:
    cfg = branch()
    cash = next(b for b in cfg.business if b.code == "cash")
    cash = msgspec.structs.replace(cash, self_service_zh="大堂“智能柜员机（STM）”或自助存取款机（ATM）")
    cfg = msgspec.structs.replace(cfg, business=[cash, *[b for b in cfg.business if b.code != "cash"]])
    ticket = m.TicketView(id="2024-05-06/A012", number="A012", business="cash", tier="normal",
                          issued_at=1714959000.0, ahead=3, est_wait_s=400.0)
    lines = [ln.text for ln in paper_lines(TicketLayout(cfg, width_chars=width).render(ticket)) if ln.text.strip()]
    assert "智能柜员机" in "".join(lines)
    for line in lines:
        stripped = line.strip()
        assert stripped[0] not in NO_START and stripped[-1] not in NO_END, lines


# -- buttons under a double tap ------------------------------------------------------------------
def hits(screen: KioskScreen, view: View) -> list[tuple[str, pygame.Rect]]:
    screen.draw(view)
    return [(h.action.kind if h.action else h.key, h.rect) for h in screen._hits]


def test_back_is_never_where_a_button_of_the_home_screen_is(screen: KioskScreen) -> None:
    home = hits(screen, HOME)
    for view in (View(ViewKind.SELF_SERVICE, "此业务可在ATM办理", "Use the ATM", business="cash"),
                 View(ViewKind.MESSAGE, "您刚刚已取号，请稍候", "You just took a ticket."),
                 View(ViewKind.STAFF_NEEDED, "请输入工号和密码", "Enter your ID and PIN"),
                 View(ViewKind.PRINT_FAILED, "缺纸", "Out of paper", can_reprint=True,
                      ticket=m.TicketView(id="x/A1", number="A001", business="cash", tier="normal", issued_at=0))):
        back = screen.button_rect(Action("back")) if hits(screen, view) else None
        assert back is not None, view.kind
        assert [a for a, r in home if r.colliderect(back)] == [], view.kind
        assert_shows(screen, "返回") and assert_shows(screen, "Back")


def test_a_double_tap_on_priority_or_a_business_lands_on_no_button() -> None:
    s = KioskScreen(branch(), size=(W, H), window=False)
    try:
        home = hits(s, HOME)
        priority = next(r for a, r in home if a == "priority")
        pinpad = hits(s, View(ViewKind.STAFF_NEEDED, "请输入工号和密码", "Enter your ID and PIN"))
        assert [a for a, r in pinpad if r.colliderect(priority)] == []
        offer = hits(s, View(ViewKind.SELF_SERVICE, "此业务可在ATM办理", "Use the ATM", business="cash"))
        businesses = [r for a, r in home if a == "business"]
        assert [a for a, r in offer if any(r.colliderect(b) for b in businesses)] == []
    finally:
        s.close()


# -- respectful names ----------------------------------------------------------------------------
def test_an_elderly_customer_sees_priority_customer_never_the_internal_category(kiosk: Kiosk) -> None:
    k = kiosk
    tier = next(t for t in k.cfg.tier if t.code == "priority")
    assert "老弱病残孕" in tier.name_zh  # the internal category, for staff
    card = id_card(birth="19400301")  # 84 years old on the test day
    view = k.flow.present(Presented(kind="id_card", number=Secret(card.id_number), name=card.name,
                                    birth_date=date(1940, 3, 1)))
    k.app._show(view)
    shown = " ".join(t for t, _ in texts(k.screen))
    assert "优先客户" in shown and "Priority customer" in shown
    assert "老弱病残孕" not in shown and "elderly" not in shown
    view = k.flow.choose("corporate")
    assert view.kind is ViewKind.ISSUED and view.ticket is not None and view.ticket.tier == "priority"
    printed = [ln for ln in paper_lines(k.device.emulator.tickets[-1])]
    big = [ln.text for ln in printed if ln.height >= 2]
    assert any("优先客户" in t for t in big)
    assert not any("老弱病残孕" in ln.text or "elderly" in ln.text for ln in printed)


@pytest.mark.parametrize("width", [32, 40, 42, 48])
def test_a_counter_name_is_never_split_on_the_ticket(width: int) -> None:
    cfg = branch()
    ticket = m.TicketView(id="2024-05-06/A012", number="A012", business="cash", tier="normal",
                          issued_at=1714959000.0, ahead=3, est_wait_s=400.0)
    lines = [ln.text for ln in paper_lines(TicketLayout(cfg, width_chars=width).render(ticket))]
    for name in ("5号VIP窗口", "1号窗口", "VIP Counter 5", "Counter 1"):
        assert any(name in ln for ln in lines), (name, lines)
    assert not any("\u2060" in ln for ln in lines)  # the joiners are not printed


# -- 预约取号: the appointment button and its code pad ---------------------------------------------
BOOKING_PAD = View(ViewKind.BOOKING_CODE, "请输入预约码后按确认", "Type your booking code, then OK.")


def test_the_home_screen_offers_the_appointment_button_clear_of_every_other_button(screen: KioskScreen) -> None:
    home = hits(screen, HOME)
    button = screen.button_rect(Action("booking"))
    assert button is not None
    on_button = [(t, r) for t, r in texts(screen) if button.contains(r)]
    assert [t for t, _ in on_button] == ["预约取号", "I have an appointment"]
    for text, _r in on_button:
        assert_shows(screen, text)
    assert overlaps(texts(screen)) == []
    assert [a for a, r in home if a != "booking" and r.colliderect(button)] == []
    # Back (bottom-left on every other screen) comes back to no button, this one included
    back = next(r for a, r in hits(screen, BOOKING_PAD) if a == "back")
    assert [a for a, r in home if r.colliderect(back)] == []
    # a double tap on the appointment button types nothing on the pad it opens
    assert [a for a, r in hits(screen, BOOKING_PAD) if r.colliderect(button)] == []


def test_no_appointment_button_where_the_branch_takes_no_bookings_nor_when_no_ticket_can_print() -> None:
    cfg = branch()
    s = KioskScreen(msgspec.structs.replace(cfg, kiosk=msgspec.structs.replace(cfg.kiosk, appointments=False)),
                    size=(W, H), window=False)
    try:
        s.draw(HOME)
        assert s.button_rect(Action("booking")) is None and "预约取号" not in [t for t, _ in texts(s)]
        assert s.button_rect(Action("business", "cash")) is not None
    finally:
        s.close()
    s = KioskScreen(cfg, size=(W, H), window=False)
    try:
        s.draw(View(ViewKind.HOME, fault_zh="缺纸", fault_en="out of paper"))
        assert s.button_rect(Action("booking")) is None
    finally:
        s.close()


def tap(screen: KioskScreen, rect: pygame.Rect | None) -> Action | None:
    assert rect is not None
    return screen.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=rect.center))


def test_the_code_pad_shows_the_code_as_typed_clears_and_sends_it_on_ok(kiosk: Kiosk) -> None:
    k = kiosk
    action = tap(k.screen, k.screen.button_rect(Action("booking")))
    assert action == Action("booking")
    k.app.events.put(KioskEvent("action", action))
    view = k.app.step(0.0)
    assert view is not None and view.kind is ViewKind.BOOKING_CODE
    assert_shows(k.screen, "请输入预约码后按确认") and assert_shows(k.screen, "预约码 Booking code")
    for key in ("清除 Clear", "确认 OK", "返回", "Back", "7", "K"):
        assert_shows(k.screen, key)
    keys = [(t, r) for w, t, r, *_ in k.screen.elements if w == "key"]
    assert overlaps(keys) == [] and min(r.h for _, r in keys) >= 28  # large labels, none over another
    assert tap(k.screen, k.screen.key_rect("OK")) is None  # nothing typed: nothing sent
    for key in "123":
        assert tap(k.screen, k.screen.key_rect(key)) is None
    assert_shows(k.screen, "123")
    tap(k.screen, k.screen.key_rect("CLR"))
    assert "123" not in [t for t, _ in texts(k.screen, "code")]
    for key in "K7Q2M9":
        tap(k.screen, k.screen.key_rect(key))
    assert_shows(k.screen, "K7Q2M9")
    assert tap(k.screen, k.screen.key_rect("OK")) == Action("check_in", "K7Q2M9")
    assert tap(k.screen, k.screen.button_rect(Action("back"))) == Action("back")


def test_the_code_pad_goes_home_by_itself_when_left_alone(kiosk: Kiosk) -> None:
    k = kiosk
    k.app.events.put(KioskEvent("action", Action("booking")))
    view = k.app.step(0.0)
    assert view is not None and view.kind is ViewKind.BOOKING_CODE
    tap(k.screen, k.screen.key_rect("5"))
    k.clock.advance(k.flow.staff_s + 1)
    view = k.app.step(0.0)
    assert view is not None and view.kind is ViewKind.HOME
    assert_shows(k.screen, "请刷卡") and not texts(k.screen, "code")
