"""Ticket layout -> ESC/POS bytes, Chinese in GB18030 encoded here.

python-escpos 3.1 switches to GB18030 only for a line that holds Han characters, so a line of
full-width punctuation alone (（）、：) comes out as "?". We therefore encode every piece of text
ourselves and hand python-escpos only bytes; it still builds the style, QR and cut commands.
The printer is put in Chinese (Kanji) mode with FS & after ESC @, which is what the ESC/POS printers
sold in China expect before double-byte GB18030 text; ASCII stays single-byte in that mode.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from escpos.printer import Dummy

from qbus.config import BranchConfig, Business, Counter, Tier
from qbus.linebreak import WJ, break_lines, glue
from qbus.messages import TicketView

ESC_INIT = b"\x1b\x40"
FS_CHINESE_ON = b"\x1c\x26"  # FS &: Kanji / Chinese character mode (GB18030 double-byte)
ESC_CODEPAGE_PC437 = b"\x1b\x74\x00"  # ESC t 0: the single-byte table for ASCII
INVERT_ON, INVERT_OFF = b"\x1d\x42\x01", b"\x1d\x42\x00"
ENCODING = "gb18030"


def display_width(text: str) -> int:
    """Columns on the printer: a character GB18030 encodes in two or more bytes (Han, full-width
    signs, and “ ” · too) prints double width in Chinese mode."""
    return sum(1 if c.isascii() else 2 if len(c.encode(ENCODING, errors="replace")) > 1 else 1
               for c in text)


def clean(text: str) -> str:
    """Drop control characters so printed data (a name off a card) can never inject a command."""
    return "".join(c for c in text if c >= " " and unicodedata.category(c) != "Cc")


def wrap(text: str, columns: int) -> list[str]:
    """Wrap by display width with the CJK line-breaking rules of qbus.linebreak (the kiosk screen
    uses the same function by pixels)."""
    return break_lines("\n".join(clean(p) for p in text.split("\n")), columns, display_width)


def encode(text: str) -> bytes:
    """GB18030 bytes; a character GB18030 cannot hold (none in practice) becomes '?'."""
    return clean(text.replace(WJ, "")).encode(ENCODING, errors="replace")


def zone_words(cfg: BranchConfig, business: str, tier: str, *, whole: bool = False) -> tuple[str, str]:
    """Which hall area and counters will call this ticket, in words (zh, en). `whole`: each counter's
    name glued (qbus.linebreak.glue) so wrapping never splits it."""
    keep = glue if whole else str
    counters = [c for c in cfg.counter if business in c.serves and (not c.tiers or tier in c.tiers)]
    zh_parts: list[str] = []
    en_parts: list[str] = []
    for zone_zh, zone_en, group in _by_zone(counters):
        # whole: a counter's name is never split across lines ("5号VIP窗\n口")
        names_zh = "、".join(keep(c.name_zh or f"{c.id}号窗口") for c in group)
        names_en = ", ".join(keep(c.name_en or f"Counter {c.id}") for c in group)
        zh_parts.append(f"{zone_zh} {names_zh}" if zone_zh else names_zh)
        en_parts.append(f"{zone_en}: {names_en}" if zone_en else names_en)
    return "；".join(zh_parts), "; ".join(en_parts)


def _by_zone(counters: list[Counter]) -> list[tuple[str, str, list[Counter]]]:
    groups: dict[tuple[str, str], list[Counter]] = {}
    for c in counters:
        groups.setdefault((c.zone_zh, c.zone_en), []).append(c)
    return [(zh, en, group) for (zh, en), group in groups.items()]


class TicketLayout:
    """Renders a TicketView into the bytes of one cut ticket for this branch."""

    def __init__(self, cfg: BranchConfig, *, width_chars: int = 48, qr_size: int = 6,
                 link: Callable[[str], str] | None = None) -> None:
        self.cfg = cfg
        # The QR's text from the ticket id: the phone page's URL (qbus.ticket_link), or the bare id.
        self.link = link
        self.width = width_chars
        self.qr_size = qr_size
        self._tz = ZoneInfo(cfg.branch.timezone)
        self._business = {b.code: b for b in cfg.business}
        self._tiers = {t.code: t for t in cfg.tier}

    def render(self, ticket: TicketView, *, reprint: bool = False, tip: bool = True) -> bytes:
        """`tip=False`: the customer declined the self-service offer on screen; not repeated."""
        p = Dummy()
        p._raw(ESC_INIT + ESC_CODEPAGE_PC437 + FS_CHINESE_ON)
        self._header(p)
        business = self._business.get(ticket.business)
        self._business_block(p, ticket, business)
        self._number(p, ticket)
        self._tier_block(p, self._tiers.get(ticket.tier))
        self._customer_block(p, ticket)
        self._calling_block(p, ticket)
        if tip and business is not None and business.self_service_zh:
            self._self_service(p, business)
        self._footer(p, ticket, reprint)
        p.cut()
        return bytes(p.output)

    # -- blocks ---------------------------------------------------------------------------------
    def _header(self, p: Dummy) -> None:
        b = self.cfg.branch
        p.set(align="center", bold=True, custom_size=True, width=2, height=2)
        self._lines(p, b.bank_zh or b.name_zh, size=2)
        p.set(bold=False, custom_size=True, width=1, height=1)
        if b.bank_en:
            self._lines(p, b.bank_en)
        self._lines(p, b.name_zh)
        self._lines(p, b.name_en)
        self._rule(p)

    def _business_block(self, p: Dummy, ticket: TicketView, business: Business | None) -> None:
        p.set(bold=True, custom_size=True, width=2, height=2)
        self._lines(p, business.name_zh if business else ticket.business, size=2)
        p.set(bold=False, custom_size=True, width=1, height=1)
        if business is not None:
            self._lines(p, business.name_en)

    def _number(self, p: Dummy, ticket: TicketView) -> None:
        size = max(2, min(6, self.width // max(1, len(ticket.number))))
        p._raw(b"\n")
        p.set(bold=True, custom_size=True, width=size, height=size)
        p._raw(encode(ticket.number) + b"\n")
        p.set(bold=False, custom_size=True, width=1, height=1)

    def _tier_block(self, p: Dummy, tier: Tier | None) -> None:
        if tier is None or not (tier.priority or tier.mark):
            return
        p.set(custom_size=True, width=2, height=2)
        mark = f" {tier.mark} " if tier.mark else ""
        name_zh, name_en = tier.customer_names()  # never the internal category on the customer's paper
        p._raw(INVERT_ON + encode(mark) + INVERT_OFF + encode(f" {name_zh}") + b"\n")
        p.set(custom_size=True, width=1, height=1)
        self._lines(p, name_en)

    def _customer_block(self, p: Dummy, ticket: TicketView) -> None:
        self._rule(p)
        p.set(align="left")
        if ticket.masked_name:
            self._lines(p, f"尊敬的 {ticket.masked_name} 您好  Dear {ticket.masked_name}")
        if ticket.ahead <= 0:
            self._lines(p, "您是下一位，请留意叫号。")
            self._lines(p, "You are next. Please watch for your number.")
        else:
            self._lines(p, f"您前面还有 {ticket.ahead} 人等候。")
            people = "person" if ticket.ahead == 1 else "people"
            self._lines(p, f"{ticket.ahead} {people} ahead of you.")
        if ticket.est_wait_s > 0:
            minutes = max(1, math.ceil(ticket.est_wait_s / 60))
            self._lines(p, f"预计等候约 {minutes} 分钟。")
            self._lines(p, f"Estimated wait: about {minutes} min.")
        if ticket.appointment_at > 0:
            at = datetime.fromtimestamp(ticket.appointment_at, self._tz).strftime("%H:%M")
            p._raw(INVERT_ON + encode(" 预约 APPOINTMENT ") + INVERT_OFF + b"\n")
            self._lines(p, f"预约时间 {at}  Appointment at {at}")
        if ticket.booking_late:
            self._lines(p, "您已超过预约时间，本号按普通号排队。")
            self._lines(p, "Your booking time had passed: this is a walk-in ticket.")
        if ticket.granted_by:
            self._lines(p, "优先号经大堂工作人员授权。 Priority granted by lobby staff.")

    def _calling_block(self, p: Dummy, ticket: TicketView) -> None:
        zh, en = zone_words(self.cfg, ticket.business, ticket.tier, whole=True)
        if not zh:
            return
        self._lines(p, f"请留意 {zh} 叫号。")
        self._lines(p, f"You will be called at {en}.")

    def _self_service(self, p: Dummy, business: Business) -> None:
        self._rule(p)
        self._lines(p, f"温馨提示：此业务也可在{business.self_service_zh}办理，无需排队。")
        self._lines(p, f"Tip: you can also do this at {business.self_service_en}, with no wait.")

    def _footer(self, p: Dummy, ticket: TicketView, reprint: bool) -> None:
        self._rule(p)
        p.set(align="center")
        p.qr(self.link(ticket.id) if self.link else ticket.id, native=True, size=self.qr_size)
        p._raw(b"\n")
        when = datetime.fromtimestamp(ticket.issued_at, self._tz)
        self._lines(p, f"取号时间 Issued {when:%Y-%m-%d %H:%M:%S}")
        if reprint:
            self._lines(p, "（补打）REPRINT")
        self._lines(p, "过号请到服务台重新排队。 Missed your call? Ask at the desk.")

    # -- helpers --------------------------------------------------------------------------------
    def _lines(self, p: Dummy, text: str, *, size: int = 1) -> None:
        for line in wrap(text, self.width // size):
            p._raw(encode(line) + b"\n")

    def _rule(self, p: Dummy) -> None:
        p._raw(b"-" * self.width + b"\n")
