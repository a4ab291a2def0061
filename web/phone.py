"""The customer's phone page: where one ticket stands, from the bus events the web already reads.

The printed QR holds `<base_url>/t/<token>` (qbus.ticket_link). `PhoneLine` keeps, per business,
the waiting tickets in the order the core would reach them when nothing else changes (tier rank,
then wait key, then issue order), so "people ahead" of a ticket is its index there — the same count
the ticket showed when printed, kept current as others are called, cancel or move. A burst of
events marks businesses dirty; `views()` then walks each dirty business once (sorted, O(n log n))
and yields a small view for every ticket someone follows, so a call costs one pass and one encode
per followed ticket, not one bus subscription or one render per phone.

Nothing personal leaves here: number, business, place, wait, the counter's public name, and the
masked name the ticket already printed (张*) at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.ticket_link import ticket_token

TOKENS_KEPT = 50_000


@dataclass(slots=True)
class Place:
    """One ticket of today as the phone page needs it."""

    number: str
    business: str
    rank: int
    key: float  # the core's wait key (issue, appointment or re-queue time)
    seq: int
    state: str = "waiting"  # waiting | called | serving | served | missed | cancelled
    counter: int = 0
    booked: bool = False
    masked_name: str = ""
    remote: bool = False  # taken on a phone at the door poster: no paper ticket, this page is it
    at_seq: int = 0  # the journal row of the last event (or state/waiting) that told us about it


@dataclass(frozen=True, slots=True)
class PhoneView:
    """What the page shows; the SSE message is `as_json()` of it."""

    number: str
    business_zh: str
    business_en: str
    state: str  # waiting | near | called | serving | served | missed | cancelled | unknown
    ahead: int
    wait_min: int
    zh: str
    en: str
    masked_name: str = ""
    booked: bool = False
    remote: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "ahead": self.ahead, "wait_min": self.wait_min, "zh": self.zh,
                "en": self.en, "buzz": self.state == "called"}


class PhoneLine:
    """Today's tickets by token, and where each waiting one stands. Event-loop thread only."""

    def __init__(self, cfg: BranchConfig, key: bytes) -> None:
        self.cfg = cfg
        self.key = key
        self.rank = {t.code: t.rank for t in cfg.tier}
        self.business = {b.code: b for b in cfg.business}
        self.counters = {c.id: c for c in cfg.counter}
        self.near = cfg.web.phone_near
        self.requeue_min = cfg.rules.requeue_window_minutes
        self.requeue_front = cfg.rules.requeue_position == "front"
        self.places: dict[str, Place] = {}
        self.by_token: dict[str, str] = {}
        self.day_tag = ""
        self.dirty: set[str] = set()  # businesses whose order changed
        self.touched: set[str] = set()  # tickets whose own state changed
        self._seq = 0

    # ------------------------------------------------------------------ lookup

    def set_day(self, day: str) -> None:
        """Index every number today could have, so a page opened after a restart of the web
        service still finds its ticket (its place is then known from the next events on)."""
        tag = day.replace("-", "") + "-"
        if not day or tag == self.day_tag:
            return
        self.day_tag = tag
        self.by_token.clear()
        width = self.cfg.rules.number_width
        for b in self.cfg.business:
            for n in range(1, 10 ** width):
                number = b.prefix + str(n).zfill(width)
                self.by_token[ticket_token(self.key, tag + number)] = number

    def lookup(self, token: str) -> str | None:
        """The number of today's ticket behind `token`; None for a forged or another day's token."""
        return self.by_token.get(token)

    # ------------------------------------------------------------------ events

    def apply(self, ev: Any) -> None:
        p = self.places
        if isinstance(ev, m.TicketIssued):
            v = ev.ticket
            self._seq += 1
            key = max(v.issued_at, v.appointment_at) if v.appointment_at else v.issued_at
            p[v.number] = Place(v.number, v.business, self.rank.get(v.tier, 0), key, self._seq,
                                booked=v.appointment_at > 0, masked_name=v.masked_name,
                                remote=v.via == "poster", at_seq=ev.seq)
            tag = v.id[: -len(v.number)] if v.id.endswith(v.number) else self.day_tag
            if len(self.by_token) < TOKENS_KEPT:
                self.by_token[ticket_token(self.key, tag + v.number)] = v.number
            self.dirty.add(v.business)
        elif isinstance(ev, m.TicketCalled):
            self._state(ev.number, "called", ev.seq, ev.counter)
        elif isinstance(ev, m.ServiceStarted):
            self._state(ev.number, "serving", ev.seq, ev.counter)
        elif isinstance(ev, m.ServiceFinished):
            self._state(ev.number, "served", ev.seq, ev.counter)
        elif isinstance(ev, m.TicketSkipped):
            self._state(ev.number, "missed", ev.seq, ev.counter)
        elif isinstance(ev, m.TicketCancelled):
            self._state(ev.number, "cancelled", ev.seq)
        elif isinstance(ev, m.TicketRequeued):
            t = p.get(ev.number)
            if t is not None and not self.requeue_front:
                t.key = ev.at
            self._state(ev.number, "waiting", ev.seq)
        elif isinstance(ev, (m.TicketMoved, m.TicketTransferred)):
            t = p.get(ev.number)
            if t is not None:
                self.dirty.add(t.business)
                t.business = ev.to_business
            self._state(ev.number, "waiting", ev.seq)
        elif isinstance(ev, m.DayReset):
            for t in p.values():
                self.touched.add(t.number)
            p.clear()
            self.set_day(ev.day)

    def rebuild(self, state: m.WaitingState) -> None:
        """Correct the places from the core's retained `state/waiting`: the tickets this service
        never saw issued (it started after them) are added, and what it missed while it was away
        (a call, a cancel: events older than the state's `seq` it never got) is set right. What
        events newer than the state told is kept as it is."""
        if state.day:
            self.set_day(state.day)
        listed: set[str] = set()
        for e in state.tickets:
            listed.add(e.number)
            t = self.places.get(e.number)
            if t is None:
                self._seq += 1
                self.places[e.number] = Place(e.number, e.business, self.rank.get(e.tier, 0), e.key, self._seq,
                                              booked=e.booked, at_seq=state.seq)
                self.dirty.add(e.business)
            elif t.at_seq < state.seq and (t.state, t.business) != ("waiting", e.business):
                self.dirty.update((t.business, e.business))
                t.state, t.business, t.key, t.at_seq = "waiting", e.business, e.key, state.seq  # (re-queued: its new key)
                self.touched.add(t.number)
        if not state.complete:
            return
        for t in list(self.places.values()):
            if t.state == "waiting" and t.number not in listed and t.at_seq < state.seq:
                del self.places[t.number]  # no longer waiting, and we missed why: "watch the hall screen"
                self.dirty.add(t.business)
                self.touched.add(t.number)

    def seen_counter(self, c: m.CounterState) -> None:
        """A ticket at a counter (called or being served) this service never saw issued: from the
        core's retained `state/counter/<n>`, so its page says where to go after a restart too."""
        if not c.number or c.number in self.places or c.status not in ("called", "serving"):
            return
        self._seq += 1
        self.places[c.number] = Place(c.number, c.business, self.rank.get(c.tier, 0), 0.0, self._seq,
                                      state=str(c.status), counter=c.counter)
        self.touched.add(c.number)

    def _state(self, number: str, state: str, seq: int, counter: int = 0) -> None:
        t = self.places.get(number)
        if t is None:
            return
        t.at_seq = max(t.at_seq, seq)
        if (t.state == "waiting") != (state == "waiting"):
            self.dirty.add(t.business)
        t.state = state
        if counter:
            t.counter = counter
        self.touched.add(number)

    # ------------------------------------------------------------------ views

    def views(self, followed: set[str], est: dict[str, float], waiting: dict[str, int]) -> Iterator[PhoneView]:
        """Fresh views of the followed tickets whose place or state may have changed; clears the marks."""
        dirty, self.dirty = self.dirty, set()
        touched, self.touched = self.touched, set()
        done: set[str] = set()
        for b in dirty:
            line = self.line(b)
            per = _per_person(est, waiting, b, self._service_s(b))
            for i, t in enumerate(line):
                if t.number in followed:
                    done.add(t.number)
                    yield self._view(t, i, per)
        for number in touched - done:
            if number in followed:
                yield self.view(number, est, waiting)

    def line(self, business: str) -> list[Place]:
        """The waiting tickets of one business in the order the core would reach them."""
        waiting = [t for t in self.places.values() if t.business == business and t.state == "waiting"]
        waiting.sort(key=lambda t: (t.rank, t.key, t.seq))
        return waiting

    def view(self, number: str, est: dict[str, float], waiting: dict[str, int]) -> PhoneView:
        t = self.places.get(number)
        if t is None:
            return self._unknown(number)
        ahead = 0
        if t.state == "waiting":
            ahead = next(i for i, x in enumerate(self.line(t.business)) if x is t)
        return self._view(t, ahead, _per_person(est, waiting, t.business, self._service_s(t.business)))

    def _service_s(self, business: str) -> float:
        b = self.business.get(business)
        open_n = max(1, sum(1 for c in self.counters.values() if business in c.serves))
        return (b.service_minutes * 60.0 if b else 300.0) / open_n

    def _names(self, business: str) -> tuple[str, str]:
        b = self.business.get(business)
        return (b.name_zh, b.name_en) if b else (business, business)

    def counter_names(self, cid: int) -> tuple[str, str]:
        """The counter's real name as the hall shows it ("3号窗口" / "counter 3" by default)."""
        c = self.counters.get(cid)
        zh = c.name_zh if c and c.name_zh else f"{cid}号窗口"
        en = c.name_en if c and c.name_en else f"counter {cid}"
        return zh, en

    def _unknown(self, number: str) -> PhoneView:
        b = next((x for x in self.cfg.business if number.startswith(x.prefix)), None)
        zh, en = (b.name_zh, b.name_en) if b else ("", "")
        return PhoneView(number, zh, en, "unknown", 0, 0, "请留意大厅叫号屏上的号码",
                         "Please watch for your number on the hall screen")

    def _view(self, t: Place, ahead: int, per_person_s: float) -> PhoneView:
        bzh, ben = self._names(t.business)
        wait = 0
        state = t.state
        if state == "waiting":
            wait = math.ceil(ahead * per_person_s / 60) if ahead else 0
            if ahead <= self.near:
                state = "near"
                zh, en = "请准备，马上就到您了", "Get ready: your turn is near"
                if ahead:
                    zh, en = f"请准备，前面还有 {ahead} 人", f"Get ready: {ahead} ahead of you"
            else:
                zh, en = f"前面还有 {ahead} 人，预计约 {wait} 分钟", f"{ahead} ahead of you, about {wait} min"
        elif state == "called":
            czh, cen = self.counter_names(t.counter)
            zh, en = f"请到 {czh} 办理", f"Please go to {cen} now"
        elif state == "serving":
            czh, cen = self.counter_names(t.counter)
            zh, en = f"正在 {czh} 为您办理", f"Being served at {cen}"
        elif state == "served":
            zh, en = "业务已办结，感谢您的光临", "All done. Thank you for coming"
        elif state == "missed":
            zh = f"您已过号。请在 {self.requeue_min:.0f} 分钟内到大堂服务台重新排队，或重新取号"
            en = f"You missed your call. Within {self.requeue_min:.0f} min ask at the lobby desk to rejoin, or take a new number"
        else:
            zh, en = "您已离开队列，欢迎再来", "You have left the line"
        return PhoneView(t.number, bzh, ben, state, ahead, wait, zh, en, t.masked_name, t.booked, t.remote)


def _per_person(est: dict[str, float], waiting: dict[str, int], business: str, fallback_s: float) -> float:
    """Seconds per person ahead: the core's own estimate for a new ticket divided by the line."""
    n = waiting.get(business, 0)
    return est.get(business, 0.0) / n if n and est.get(business) else fallback_s
