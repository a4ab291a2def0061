"""The kiosk's decisions, free of the bus, the screen and threads.

Everything arrives as a method call (a card presented, a business chosen, a staff PIN typed) and
every call returns the `View` the screen (or the LEDs) should show. Issuing goes through an injected
`issue(Issue) -> TicketView | ErrorInfo` callable that must answer within `kiosk.issue_timeout_s` or
raise TimeoutError; time comes from an injected clock. Not thread-safe: the kiosk app feeds it from
one queue.

Order of checks when a customer asks for a ticket, and why:
1. the repeat guard (a child hammering the button must not use up numbers);
2. the printer status (paper out: say so, issue nothing, so no number exists that nobody holds);
3. issue through the core (no answer: say so, print nothing the core does not know);
4. print; if printing fails now the number is valid: show it on screen and offer a reprint.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from hw.identity import Presented, ReaderError, ReaderOffline
from hw.printer import PrinterError, PrinterStatus, Status
from kiosk.recognition import Recognized, Recognizer
from kiosk.staff import StaffAuth, StaffDenied
from kiosk.ticket import TicketLayout
from qbus.config import BranchConfig, Business
from qbus.errors import QcallError
from qbus.hours import issuing_at, last_ticket
from qbus.messages import CheckIn, ErrorInfo, Issue, TicketView, Via

_LOG = logging.getLogger(__name__)

IssueFn = Callable[[Issue | CheckIn], "TicketView | ErrorInfo"]
NoteFn = Callable[[str, str, str], None]  # (kind, business, detail) -> sent as a KioskNote
BOOKING_CODE = re.compile(r"^[A-Za-z0-9]{4,12}$")


class TicketPrinter(Protocol):
    """What the flow needs of hw.printer.Printer."""

    def status(self) -> PrinterStatus: ...

    def print_ticket(self, data: bytes) -> PrinterStatus: ...


class ViewKind(enum.StrEnum):
    HOME = "home"  # business buttons, "swipe your card"
    IDENTIFIED = "identified"  # a card was read: greet, choose a business
    SELF_SERVICE = "self_service"  # this business can be done at a machine; take a ticket anyway?
    STAFF_NEEDED = "staff_needed"  # priority by button: staff card or staff id + PIN
    STAFF_OK = "staff_ok"  # priority granted: choose a business
    BOOKING_CODE = "booking_code"  # 预约取号: the code pad, the code typed so far is the screen's
    ISSUING = "issuing"  # waiting for the core's answer (up to issue_timeout_s): say so, no buttons
    ISSUED = "issued"  # ticket printed
    PRINT_FAILED = "print_failed"  # number valid, shown on screen, reprint offered
    MESSAGE = "message"  # a notice (printer out of paper, core not answering, try again)


@dataclass(frozen=True)
class View:
    kind: ViewKind
    zh: str = ""
    en: str = ""
    ticket: TicketView | None = None
    business: str = ""
    tier: str = ""
    masked_name: str = ""
    can_reprint: bool = False
    until: float = 0.0  # clock time at which the view falls back to HOME (0: it stays)
    # HOME only: why no ticket can be taken right now (printer out of paper, cover open), shown
    # before anyone chooses; empty when the kiosk is ready.
    fault_zh: str = ""
    fault_en: str = ""

    @property
    def ready(self) -> bool:
        """A home screen on which a customer can take a ticket."""
        return self.kind in (ViewKind.HOME, ViewKind.IDENTIFIED, ViewKind.STAFF_OK) and not self.fault_zh


HOME = View(ViewKind.HOME, "请选择业务，持卡客户请先刷卡", "Choose your business. Card holders: swipe your card first.")
ISSUING = View(ViewKind.ISSUING, "正在出票，请稍候…", "Issuing your ticket, please wait…")


@dataclass(frozen=True)
class _Grant:
    teller: str
    until: float
    pin: str = ""  # typed on the PIN pad, checked by the core with the issue (empty: staff card)


class KioskFlow:
    """One kiosk's customer flow. See the module docstring for the order of checks."""

    message_s = 8.0
    issued_s = 10.0
    failed_s = 120.0
    staff_s = 60.0

    def __init__(
        self,
        cfg: BranchConfig,
        *,
        issue: IssueFn,
        printer: TicketPrinter,
        recognizer: Recognizer,
        clock: Callable[[], float] = time.time,
        staff: StaffAuth | None = None,
        layout: TicketLayout | None = None,
        steer: bool = True,
        note: NoteFn | None = None,
    ) -> None:
        self.cfg = cfg
        # What the kiosk saw that makes no ticket (self-service offers, printer faults, unreadable
        # cards): sent to the core's journal for the day's history (qbus.messages.KioskNote).
        self._note: NoteFn = note or (lambda kind, business, detail: None)
        self._offer = ""  # the business whose self-service offer is on screen
        self._issue = issue
        self.printer = printer
        self.recognizer = recognizer
        self.clock = clock
        self.staff = staff or StaffAuth(cfg)
        self.layout = layout or TicketLayout(cfg, width_chars=cfg.printer.width_chars)
        self.steer = steer
        self._tz = ZoneInfo(cfg.branch.timezone)
        self._business = {b.code: b for b in cfg.business}
        self._tiers = {t.code: t for t in cfg.tier}
        self.priority_tier = recognizer.age_tier
        self.view: View = HOME
        self.identity: Recognized | None = None
        self._identity_view = HOME
        self._identity_until = 0.0
        self._grant: _Grant | None = None
        self._last_issue: tuple[float, str] | None = None
        self.unprinted: TicketView | None = None
        self._unprinted_tip = True
        self._closed: View | None = None
        self.printer_warning = ""  # set while the roll is near its end, for staff
        self.printer_fault: tuple[str, str] = ("", "")  # why tickets cannot print now (home screen)
        self._home = HOME
        # Called with the ISSUING view just before the (blocking) request to the core, so the
        # screen can say the ticket is on its way while the core takes its time.
        self.on_busy: Callable[[View], None] | None = None
        # Whether a swiped card is first tried as an appointment check-in (the kiosk app keeps
        # it up to date from the retained bookings: no bookings, no extra round trip per swipe).
        self.bookings_open: Callable[[], bool] = lambda: False

    # -- inputs ---------------------------------------------------------------------------------
    def present(self, presented: Presented) -> View:
        """A card, passbook or ID was read. Staff cards grant priority; customers are recognised."""
        now = self.clock()
        card_hash = self.recognizer.hash_of(presented)
        teller = self.staff.by_card(card_hash)
        if teller is not None:
            return self._granted(teller, now)
        who = self.recognizer.from_hash(card_hash, presented, self._today(now))
        if who.customer and self.bookings_open():
            booked = self._check_in(CheckIn(customer=who.customer, kiosk=self.cfg.kiosk.id), now, by_card=True)
            if booked is not None:
                return booked
        self.identity, self._identity_until = who, now + self.cfg.kiosk.identity_hold_s
        tier = self._tiers.get(who.tier)
        greet_zh = f"{who.masked_name} 您好" if who.masked_name else "您好"
        if tier is not None and tier.priority:
            # the customer-facing name, never the internal category (老弱病残孕)
            name_zh, name_en = tier.customer_names()
            zh, en = f"{greet_zh}，{name_zh}，请选择业务", f"Welcome, {name_en}. Please choose your business."
        else:
            zh, en = f"{greet_zh}，请选择业务", "Welcome. Please choose your business."
        _LOG.info("customer recognised via %s: tier %s", who.via, who.tier)
        self._identity_view = View(ViewKind.IDENTIFIED, zh, en, tier=who.tier, masked_name=who.masked_name,
                                   until=self._identity_until)
        return self._show(self._identity_view)

    def booking_pad(self) -> View:
        """The customer has an appointment: show the code pad (back home by itself if left alone)."""
        return self._show(View(ViewKind.BOOKING_CODE, "请输入预约码后按确认", "Type your booking code, then OK.",
                               until=self.clock() + self.staff_s))

    def check_in_code(self, code: str) -> View:
        """预约签到 by the booking code typed on the screen."""
        code = code.strip()
        if not BOOKING_CODE.match(code):
            return self._message("预约码格式不对，请核对后重新输入", "That is not a booking code. Please check it and try again.")
        view = self._check_in(CheckIn(code=code, kiosk=self.cfg.kiosk.id), self.clock(), by_card=False)
        assert view is not None
        return view

    def _check_in(self, cmd: CheckIn, now: float, *, by_card: bool) -> View | None:
        """An appointment ticket (or, past the lateness window, a normal one, said so); too early:
        come back; no booking: a card goes on to a normal ticket (None), a code is told so."""
        st = self.printer.status()
        if not st.can_print:
            return self._message(*_printer_text(st))
        try:
            answer = self._issue(cmd)
        except (TimeoutError, QcallError, OSError) as err:
            _LOG.warning("check-in failed: %s", err)
            return None if by_card else self._message(
                "排队系统暂无响应，请稍后再试或联系大堂工作人员。", "The queue system is not answering. Please try again or ask our staff.")
        if isinstance(answer, ErrorInfo):
            if answer.code == "no_booking":
                if by_card:
                    return None
                return self._message("没有找到该预约码的今日预约，请核对或到大堂服务台咨询",
                                     "No booking for today has that code. Please check it or ask at the lobby desk.")
            if answer.code == "too_early":
                return self._message(f"您来早了。{answer.zh}", f"You are early. {answer.en}")
            return self._message(answer.zh, answer.en)
        _LOG.info("checked in booking as %s (late: %s)", answer.number, answer.booking_late)
        self._last_issue = (now, cmd.customer)
        self.identity, self._grant = None, None
        view = self._print(answer, now, reprint=False)
        if answer.booking_late and view.kind is ViewKind.ISSUED:
            view = self._show(View(
                ViewKind.ISSUED, f"您已超过预约时间，已按普通号排队。请取走号票 {answer.number}，前面还有 {answer.ahead} 人",
                f"Your booking time has passed, so you queue as a walk-in. Ticket {answer.number}, "
                f"{answer.ahead} ahead of you.", ticket=answer, business=answer.business, tier=answer.tier,
                until=view.until))
        elif view.kind is ViewKind.ISSUED:
            view = self._show(View(
                ViewKind.ISSUED, f"预约签到成功。请取走号票 {answer.number}，到预约时间将优先叫号",
                f"Checked in for your appointment. Ticket {answer.number}: you are called at your booked time.",
                ticket=answer, business=answer.business, tier=answer.tier, until=view.until))
        return view

    def reader_failed(self, err: ReaderError) -> View:
        """A medium could not be read. Never a dead end: the customer can still take a ticket."""
        _LOG.info("reader problem: %s", err.code)
        if not isinstance(err, ReaderOffline):
            self._note("unknown_card", "", err.code)
        if isinstance(err, ReaderOffline):
            en = "The card reader is not working. You can still choose your business."
            zh = "读卡器暂时无法使用，您仍可直接选择业务取号"
        else:
            en = "We could not read that card. Please try again, or simply choose your business."
            zh = "未能识别，请重试，或直接选择业务取号"
        return self._message(zh, en)

    def choose(self, business: str, *, anyway: bool = False) -> View:
        """The customer picked a business (touch or button). `anyway`: after the self-service offer."""
        now = self.clock()
        self._expire(now)
        b = self._business.get(business)
        if b is None:
            _LOG.warning("unknown business %r chosen", business)
            return self._message("该业务暂不可办理", "That business is not available here.")
        if anyway and self._offer == b.code:
            self._offer = ""
            self._note("offer_declined", b.code, "")
        if self.steer and b.self_service_zh and not anyway and self._grant is None:
            self._resolve_offer()
            self._offer = b.code
            return self._show(View(
                ViewKind.SELF_SERVICE,
                f"此业务可在{b.self_service_zh}办理，无需排队。仍需柜台办理请点“继续取号”。",
                f"You can do this at {b.self_service_en} with no wait. Tap 'Take a ticket' to see a teller.",
                business=b.code, until=now + 30.0,
            ))
        return self._take(b, now, tip=not anyway)

    def printer_changed(self, st: PrinterStatus) -> View:
        """A fresh printer status (polled while the kiosk is idle): the home screen
        (and the ready LED) says at once when no ticket can be printed, before anyone chooses."""
        fault = ("", "") if st.can_print else _printer_text(st)
        if fault != self.printer_fault:
            self.printer_fault = fault
            at_home = self.view is self._home
            self._home = HOME if not fault[0] else View(ViewKind.HOME, HOME.zh, HOME.en,
                                                        fault_zh=fault[0], fault_en=fault[1])
            if at_home:
                self.view = self._idle_view()
        self.printer_warning = "打印纸将用完 / Ticket paper is running low" if st.state is Status.NEAR_END else ""
        return self.view

    def request_priority(self) -> View:
        """The priority button: needs a lobby staff card or PIN first."""
        now = self.clock()
        self._expire(now)
        if self._grant is not None:
            return self._show(self._grant_view(self._grant.teller, self._grant.until))
        return self._show(View(
            ViewKind.STAFF_NEEDED,
            "优先取号：请大堂工作人员刷工作卡，或输入工号和密码",
            "Priority ticket: lobby staff, please swipe your staff card or enter your ID and PIN.",
            until=now + self.staff_s,
        ))

    def staff_pin(self, teller_id: str, pin: str) -> View:
        now = self.clock()
        try:
            teller = self.staff.check_pin(teller_id, pin)
        except StaffDenied as err:
            return self._show(View(ViewKind.STAFF_NEEDED, err.zh, err.en_text, until=now + self.staff_s))
        return self._granted(teller, now, pin)

    def reprint(self) -> View:
        """Print the ticket that failed to print (its number is still valid)."""
        ticket = self.unprinted
        if ticket is None:
            return self._show(HOME)
        now = self.clock()
        st = self.printer.status()
        if not st.can_print:
            return self._failed(ticket, _printer_text(st), now)
        return self._print(ticket, now, reprint=True, tip=self._unprinted_tip)

    def reset(self) -> View:
        """Back to the start (the customer tapped "back", or walked away)."""
        self.identity, self._grant = None, None
        return self._show(self._idle_view())

    def tick(self) -> View:
        """Time passes: expired views and identities fall back to HOME."""
        now = self.clock()
        self._expire(now)
        if self.view.until and now >= self.view.until:
            self._resolve_offer()
            if self.view.kind is ViewKind.PRINT_FAILED:
                _LOG.warning("ticket %s never printed; the number stays valid", self.view.ticket and self.view.ticket.number)
                self.unprinted = None
            self.view = self._idle_view()
        elif self.view is self._home or self.view is self._closed:
            self.view = self._idle_view()  # opening or closing time passed while nobody was here
        return self.view

    # -- issuing --------------------------------------------------------------------------------
    def _take(self, b: Business, now: float, *, tip: bool = True) -> View:
        who = self.identity
        who_key = who.customer if who else ""
        if self._last_issue is not None:
            last_t, last_who = self._last_issue
            if now - last_t < self.cfg.kiosk.repeat_guard_s and last_who == who_key:
                _LOG.info("repeat guard: press ignored")
                return self._message("您刚刚已取号，请稍候", "You just took a ticket. Please wait a moment.")
        if not self.open_at(now):
            _LOG.info("outside opening hours: nothing issued")
            closed = self._closed_view()
            return self._message(closed.zh, closed.en)
        st = self.printer.status()
        self.printer_changed(st)
        if not st.can_print:
            _LOG.warning("not issuing: printer %s (%s)", st.state, st.detail)
            self._note("printer_fault", b.code, str(st.state))
            return self._message(*_printer_text(st))
        cmd = self._command(b, who)
        if self.on_busy is not None:
            self.on_busy(self._show(ISSUING))
        try:
            answer = self._issue(cmd)
        except TimeoutError:
            _LOG.warning("core did not answer the issue request; nothing printed")
            return self._message(
                "排队系统暂无响应，未出号。请稍后再试或联系大堂工作人员。",
                "The queue system is not answering, so no ticket was issued. Please try again shortly or ask our staff.",
            )
        except QcallError as err:
            _LOG.warning("issue failed: %s", err.code)
            return self._message(f"取号失败：{err.zh}", "Sorry, no ticket could be issued. Please ask our staff.")
        except OSError as err:
            _LOG.warning("issue failed: %s", err)
            return self._message(
                "排队系统连接中断，未出号。请联系大堂工作人员。",
                "The queue system cannot be reached, so no ticket was issued. Please ask our staff.",
            )
        if isinstance(answer, ErrorInfo):
            _LOG.info("core refused the ticket: %s", answer.code)
            if answer.code in ("bad_pin", "pin_locked"):
                self._grant = None  # the core refused the staff PIN: staff authorise again
            return self._message(answer.zh, answer.en)
        self._last_issue = (now, who_key)
        self.identity, self._grant = None, None
        _LOG.info("issued %s (%s, tier %s, via %s)", answer.number, answer.business, answer.tier, answer.via)
        return self._print(answer, now, reprint=False, tip=tip)

    def open_at(self, now: float) -> bool:
        """Within the hours tickets are issued (always, when `[kiosk] hours_only` is off)."""
        return issuing_at(self.cfg, now)

    def _command(self, b: Business, who: Recognized | None) -> Issue:
        tier = who.tier if who else self.recognizer.normal_tier
        via: Via = who.via if who else "button"
        granted_by = staff_pin = ""
        if self._grant is not None and self.priority_tier:
            granted_by, staff_pin = self._grant.teller, self._grant.pin
            tier = min(tier, self.priority_tier, key=lambda t: self._tiers[t].rank)
            via = who.via if who else "staff"
        return Issue(
            business=b.code,
            tier=tier,
            via=via,
            customer=who.customer if who else "",
            masked_name=who.masked_name if who else "",
            granted_by=granted_by,
            staff_pin=staff_pin,
            kiosk=self.cfg.kiosk.id,
        )

    def _print(self, ticket: TicketView, now: float, *, reprint: bool, tip: bool = True) -> View:
        """Print the ticket; `tip=False` when the customer already declined the self-service
        offer on screen (the ticket does not repeat it)."""
        data = self.layout.render(ticket, reprint=reprint, tip=tip)
        try:
            self.printer.print_ticket(data)
        except PrinterError as err:
            _LOG.warning("ticket %s did not print: %s", ticket.number, err)
            self._unprinted_tip = tip
            return self._failed(ticket, (err.zh, getattr(err, "en_text", str(err))), now)
        self.unprinted = None
        b = self._business.get(ticket.business)
        zh = f"请取走您的号票 {ticket.number}，前面还有 {ticket.ahead} 人"
        en = f"Please take your ticket {ticket.number}. {ticket.ahead} ahead of you."
        return self._show(View(ViewKind.ISSUED, zh, en, ticket=ticket, business=b.code if b else "",
                               tier=ticket.tier, until=now + self.issued_s))

    def _failed(self, ticket: TicketView, why: tuple[str, str], now: float) -> View:
        self.unprinted = ticket
        return self._show(View(
            ViewKind.PRINT_FAILED,
            f"{why[0]}。您的号码 {ticket.number} 有效，请记下号码，可点“补打”或请工作人员帮助。",
            f"{why[1]} Your number {ticket.number} is valid: note it down, tap 'Reprint' or ask our staff.",
            ticket=ticket, business=ticket.business, tier=ticket.tier, can_reprint=True,
            until=now + self.failed_s,
        ))

    # -- helpers --------------------------------------------------------------------------------
    def _granted(self, teller: str, now: float, pin: str = "") -> View:
        self._grant = _Grant(teller, now + self.staff_s, pin)
        _LOG.info("priority ticket authorised by staff %s", teller)
        return self._show(self._grant_view(teller, self._grant.until))

    def _grant_view(self, teller: str, until: float) -> View:
        return View(ViewKind.STAFF_OK, f"工作人员 {teller} 已授权优先取号，请选择业务",
                    f"Priority authorised by staff {teller}. Please choose the business.",
                    tier=self.priority_tier, until=until)

    def _message(self, zh: str, en: str) -> View:
        return self._show(View(ViewKind.MESSAGE, zh, en, until=self.clock() + self.message_s))

    def _show(self, view: View) -> View:
        if view.kind is not ViewKind.SELF_SERVICE:
            self._resolve_offer()
        self.view = view
        return view

    def _resolve_offer(self) -> None:
        """The self-service offer left the screen without a ticket: the customer took it."""
        if self._offer:
            self._note("offer_accepted", self._offer, "")
            self._offer = ""

    def _idle_view(self) -> View:
        if self.identity is not None:
            return self._identity_view
        if not self.open_at(self.clock()):
            return self._closed_view()
        return self._home

    def _closed_view(self) -> View:
        """What the idle screen says outside opening hours, before anyone presses a button."""
        if self._closed is None:
            h, last = self.cfg.hours, last_ticket(self.cfg)
            self._closed = View(ViewKind.MESSAGE, f"现在不是取号时间。本网点取号时间 {h.open}–{last}，欢迎届时光临。",
                                f"Tickets are issued from {h.open} to {last}. Please come back then.")
        return self._closed

    def _expire(self, now: float) -> None:
        if self.identity is not None and now >= self._identity_until:
            self.identity = None
        if self._grant is not None and now >= self._grant.until:
            self._grant = None

    def _today(self, now: float) -> date:
        return datetime.fromtimestamp(now, self._tz).date()


def _printer_text(st: PrinterStatus) -> tuple[str, str]:
    if st.state is Status.PAPER_OUT:
        return "取号机缺纸，暂停取号，请联系大堂工作人员", "The ticket printer is out of paper. Please ask our staff."
    if st.state is Status.NO_ANSWER:
        return "取号机打印机无响应，请联系大堂工作人员", "The ticket printer is not responding. Please ask our staff."
    return "取号机打印机故障，请联系大堂工作人员", "The ticket printer has a fault. Please ask our staff."
