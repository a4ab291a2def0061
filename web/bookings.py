"""Appointments on the web (预约): the lobby's day list and booking a slot for a customer.

The core holds the bookings (retained `state/bookings`); this page shows the chosen day's, with
what each means now (due, checked in, late, no-show), and books through the bus as the person
signed in. The customer's phone number or ID number is turned into the kiosk's keyed hash by the
`hasher` the service was given (qcall.web wires the branch's privacy key); it is never kept,
logged or sent. The name is masked to its first character (张*) before it leaves the form.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from qbus import messages as m
from qbus.config import BranchConfig

if TYPE_CHECKING:
    from web.live import TicketSeen

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed at a kiosk
ID_OR_PHONE = re.compile(r"^[0-9]{11}$|^[0-9]{17}[0-9Xx]$|^[0-9]{12,19}$")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def slots(cfg: BranchConfig) -> list[str]:
    """Every bookable slot start of a day, "HH:MM", within opening hours."""
    step = cfg.rules.appointment_slot_minutes
    oh, om = map(int, cfg.hours.open.split(":"))
    ch, cm = map(int, cfg.hours.close.split(":"))
    return [f"{t // 60:02d}:{t % 60:02d}" for t in range(oh * 60 + om, ch * 60 + cm, step)]


def slot_at(cfg: BranchConfig, day: str, slot: str) -> float:
    """Branch time (epoch seconds) of a slot's start on a day, in the branch's time zone."""
    d = date.fromisoformat(day)
    hh, mm = map(int, slot.split(":"))
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=ZoneInfo(cfg.branch.timezone)).timestamp()


@dataclass(frozen=True)
class Row:
    code: str
    time: str
    business: str
    name: str
    status: str  # css class
    zh: str
    en: str
    number: str
    source: str
    ticket: str = ""  # what became of the ticket it gave: 等候中 waiting, 已叫号 3号窗口 called, ...
    ticket_state: str = ""


# A checked-in booking's ticket as the day list says it (the ticket's state from the events).
TICKET_STATES = {"waiting": "等候中 waiting", "called": "已叫号 called", "serving": "办理中 being served",
                 "served": "已办结 served", "missed": "过号 missed the call", "cancelled": "已取消 cancelled"}


def day_of(cfg: BranchConfig, now: float) -> str:
    """The branch's calendar day at `now` (its time zone), YYYY-MM-DD."""
    return datetime.fromtimestamp(now, ZoneInfo(cfg.branch.timezone)).date().isoformat()


def day_rows(cfg: BranchConfig, bookings: list[m.BookingView], day: str, now: float,
             tickets: Mapping[str, TicketSeen] | None = None) -> list[Row]:
    """The day list: who is due, checked in, late (still expected), no-show or cancelled, and for
    a checked-in booking what its ticket is doing now (when this service has seen it: `tickets`)."""
    tz = ZoneInfo(cfg.branch.timezone)
    names = {b.code: b.name_zh for b in cfg.business}
    late_s = cfg.rules.appointment_late_minutes * 60
    out = []
    for b in bookings:
        local = datetime.fromtimestamp(b.at, tz)
        if local.date().isoformat() != day:
            continue
        if b.status == "booked":
            status, zh, en = (("noshow", "未到 (过迟)", "no-show so far") if now > b.at + late_s
                              else ("late", "迟到", "late") if now > b.at else ("due", "待到", "due"))
        else:
            status, zh, en = {"checked_in": ("in", "已签到", "checked in"), "late": ("in late", "迟到签到（普通号）",
                              "came late: walk-in ticket"), "missed": ("noshow", "未到", "no-show"),
                              "cancelled": ("cancelled", "已取消", "cancelled")}[b.status]
        seen = tickets.get(b.number) if tickets is not None and b.number else None
        ticket = TICKET_STATES.get(seen.state, seen.state) if seen else ""
        if seen and seen.counter and seen.state in ("called", "serving", "missed"):
            ticket = f"{ticket} · {seen.counter}号窗口"
        out.append(Row(b.code, f"{local:%H:%M}", names.get(b.business, b.business), b.masked_name, status, zh, en,
                       b.number, b.source, ticket, seen.state if seen else ""))
    return out


def days_ahead(today: str, n: int = 14) -> list[str]:
    d = date.fromisoformat(today)
    return [(d + timedelta(days=i)).isoformat() for i in range(n)]
