"""A day's domain events -> its facts (ticket lives, counter spans, alerts, kiosk notes).

A fold over the events the core emitted (or re-emitted on replay), in order. Pure: no I/O, and
the same events always give the same facts, so archiving twice, or after a crash, is identical.

Definitions (docs/history.md says the same):
* outcome: `served` (finished), `no_show` (called and skipped, never back; or still called at
  close), `cancelled`, `abandoned` (still waiting at close).
* `wait_s`: issue (or appointment) to first call, as the core measured it; for an abandoned ticket,
  issue to the moment it was given up: the later of the closing hour and the day's last counter
  activity, never after the day's close. A customer who gave up waited too.
* `service_s`: the last service segment (the business it ended in); a transferred ticket's earlier
  segments are in its life.
* bookings (预约) of the day (booked for a time in the business day): `kept` (checked in within the
  window), `late` (checked in past it: a normal ticket), `missed` (no check-in by the day's end),
  `cancelled`, `open`; a kept booking's `wait_s` is from the booked time to its ticket's first call
  (the core's `waited_s` of an appointment ticket), a late one's from its check-in.
* `referral`: transferred to a business in `[targets] referral_businesses`, or to a counter that
  serves one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from qbus import messages as m
from qbus.config import BranchConfig
from qhistory.facts import (
    AlertFact,
    BookingFact,
    CounterSpan,
    DayFacts,
    DayRecord,
    KioskFact,
    Step,
    TicketFact,
)
from qhistory.replay import ReplayedDay


class _Counter:
    __slots__ = ("open_at", "pause_at", "reason", "status", "teller")

    def __init__(self) -> None:
        self.status = "closed"
        self.teller = ""
        self.open_at = 0.0
        self.pause_at = 0.0
        self.reason = ""


class DayCollector:
    """Feed events in order with `add`, then `facts()` once the day is closed."""

    def __init__(self, cfg: BranchConfig, day: str, customers: Mapping[str, str] | None = None,
                 kiosks: Mapping[str, str] | None = None, bookings: Iterable[m.BookingView] = ()) -> None:
        self.cfg = cfg
        self.branch = cfg.branch.id
        self.day = day
        self.customers = customers if cfg.history.keep_customer_hash and customers else {}
        self.kiosks = kiosks or {}
        refer = set(cfg.targets.referral_businesses)
        self.referral_counters = {c.id for c in cfg.counter if refer & set(c.serves)}
        self.referral_business = refer
        self.tickets: dict[str, TicketFact] = {}
        self.state: dict[str, str] = {}
        self.counters: dict[int, _Counter] = {c.id: _Counter() for c in cfg.counter}
        self.spans: list[CounterSpan] = []
        self.alerts: list[AlertFact] = []
        self.open_alerts: dict[str, list[AlertFact]] = {}
        self.kiosk: list[KioskFact] = []
        self.last_activity = 0.0
        self.day_start = self._local(day, "00:00")
        self.day_end = self.day_start + 86400 + 3600  # past any daylight-saving shift; checked by date below
        self.bookings: dict[str, BookingFact] = {}
        self.booked_tickets: dict[str, BookingFact] = {}
        for v in bookings:
            self._booking(v)
        self._on: dict[type, Callable[[Any], None]] = {
            m.TicketIssued: self._issued, m.TicketCalled: self._called, m.TicketRecalled: self._recalled,
            m.TicketSkipped: self._skipped, m.TicketRequeued: self._requeued,
            m.TicketTransferred: self._transferred, m.TicketCancelled: self._cancelled,
            m.ServiceStarted: self._started, m.ServiceFinished: self._finished, m.ServiceRated: self._rated,
            m.CounterChanged: self._counter, m.WaitAlert: self._alert, m.KioskNoted: self._kiosk,
            m.AlertAcked: self._acked, m.BookingMade: self._booked, m.BookingCancelled: self._unbooked,
            m.BookingCheckedIn: self._checked_in, m.BookingMissed: self._missed,
        }

    def add(self, ev: Any) -> None:
        fn = self._on.get(type(ev))
        if fn is not None:
            fn(ev)

    # ------------------------------------------------------------------ tickets

    def _step(self, t: TicketFact, at: float, kind: str, counter: int = 0, teller: str = "",
              detail: str = "") -> None:
        t.life.append(Step(at=at, kind=kind, counter=counter, teller=teller, detail=detail))  # type: ignore[arg-type]

    def _issued(self, ev: m.TicketIssued) -> None:
        v = ev.ticket
        t = TicketFact(
            branch=self.branch, day=self.day, number=v.number, business=v.business,
            first_business=v.business, tier=v.tier, via=v.via, kiosk=self.kiosks.get(v.number, ""),
            granted_by=v.granted_by, appointment_at=v.appointment_at, issued_at=v.issued_at,
            outcome="abandoned", customer_hash=self.customers.get(v.number, ""), life=[],
        )
        self.tickets[v.number] = t
        self.state[v.number] = "waiting"
        self._step(t, ev.at, "issued", detail=v.granted_by and f"granted_by:{v.granted_by}")

    def _called(self, ev: m.TicketCalled) -> None:
        t = self.tickets.get(ev.number)
        if t is None:
            return
        if not t.first_called_at:
            t.first_called_at = ev.at
            t.wait_s = round(ev.waited_s, 3)
            b = self.booked_tickets.get(ev.number)
            if b is not None:
                b.called_at = ev.at
                b.wait_s = round(ev.waited_s if ev.booked else ev.at - b.checked_in_at, 3)
        t.counter, t.teller = ev.counter, ev.teller
        self.state[ev.number] = "called"
        self._resolve(ev.number, ev.at)
        self._touch(ev.at)
        self._step(t, ev.at, "called", ev.counter, ev.teller)

    def _recalled(self, ev: m.TicketRecalled) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.recalls += 1
            self._step(t, ev.at, "recalled", ev.counter, t.teller, str(ev.recalls))

    def _skipped(self, ev: m.TicketSkipped) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.skips += 1
            t.ended_at = ev.at
            self.state[ev.number] = "missed"
            self._touch(ev.at)
            self._step(t, ev.at, "skipped", ev.counter, t.teller)

    def _requeued(self, ev: m.TicketRequeued) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            self.state[ev.number] = "waiting"
            t.ended_at = 0.0
            self._step(t, ev.at, "requeued")

    def _transferred(self, ev: m.TicketTransferred) -> None:
        t = self.tickets.get(ev.number)
        if t is None:
            return
        t.transfers += 1
        if ev.to_business in self.referral_business or ev.to_counter in self.referral_counters:
            t.referral = True
        t.business = ev.to_business or t.business
        self.state[ev.number] = "waiting"
        self._touch(ev.at)
        target = f"counter:{ev.to_counter}" if ev.to_counter else f"business:{ev.to_business}"
        self._step(t, ev.at, "transferred", ev.from_counter, t.teller, target)

    def _cancelled(self, ev: m.TicketCancelled) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.outcome = "cancelled"
            t.ended_at = ev.at
            self.state[ev.number] = "cancelled"
            self._resolve(ev.number, ev.at)
            self._step(t, ev.at, "cancelled")

    def _started(self, ev: m.ServiceStarted) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.started_at = ev.at
            t.counter, t.teller = ev.counter, ev.teller
            self.state[ev.number] = "serving"
            self._touch(ev.at)
            self._step(t, ev.at, "started", ev.counter, ev.teller)

    def _finished(self, ev: m.ServiceFinished) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.finished_at = t.ended_at = ev.at
            t.service_s = round(ev.service_s, 3)
            t.outcome = "served"
            t.stars = 0
            self.state[ev.number] = "served"
            self._touch(ev.at)
            self._step(t, ev.at, "finished", ev.counter, ev.teller)

    def _rated(self, ev: m.ServiceRated) -> None:
        t = self.tickets.get(ev.number)
        if t is not None:
            t.stars = ev.stars
            t.rating_reason = ev.reason
            source = getattr(ev, "source", "")
            t.rating_source = source or ("pad" if ev.stars > 0 else "")
            self._step(t, ev.at, "rated", ev.counter, ev.teller, str(ev.stars) if ev.stars else ev.reason)

    def _touch(self, at: float) -> None:
        if at > self.last_activity:
            self.last_activity = at

    # ------------------------------------------------------------------ counters, alerts, kiosk

    def _counter(self, ev: m.CounterChanged) -> None:
        c = self.counters.get(ev.counter)
        if c is None:
            return
        old = c.status
        if old == "paused" and ev.status != "paused":
            self._span(ev.counter, "pause", c.teller, c.pause_at, ev.at, c.reason)
        if old != "closed" and (ev.status == "closed" or ev.teller != c.teller):
            self._span(ev.counter, "open", c.teller, c.open_at, ev.at)
        if ev.status != "closed" and (old == "closed" or ev.teller != c.teller):
            c.open_at = ev.at
        if ev.status == "paused" and old != "paused":
            c.pause_at, c.reason = ev.at, ev.reason
        c.status, c.teller = ev.status, ev.teller
        if ev.status == "closed" or old == "closed":
            self._touch(ev.at)

    def _span(self, counter: int, kind: str, teller: str, start: float, end: float, reason: str = "") -> None:
        self.spans.append(CounterSpan(branch=self.branch, day=self.day, counter=counter, kind=kind,  # type: ignore[arg-type]
                                      teller=teller, start_at=start, end_at=end, reason=reason))

    def _alert(self, ev: m.WaitAlert) -> None:
        a = AlertFact(branch=self.branch, day=self.day, kind=ev.kind, number=ev.number, business=ev.business,
                      tier=ev.tier, raised_at=ev.at, waited_s=round(ev.waited_s, 3), limit_s=ev.limit_s)
        self.alerts.append(a)
        self.open_alerts.setdefault(ev.number, []).append(a)

    def _acked(self, ev: m.AlertAcked) -> None:
        for a in self.alerts:
            if a.number == ev.number and not a.acked_at:
                a.acked_at, a.acked_by = ev.at, ev.by

    def _resolve(self, number: str, at: float) -> None:
        for a in self.open_alerts.pop(number, []):
            a.resolved_at = at

    def _kiosk(self, ev: m.KioskNoted) -> None:
        self.kiosk.append(KioskFact(branch=self.branch, day=self.day, kiosk=ev.kiosk, at=ev.at,
                                    kind=ev.kind, business=ev.business, detail=ev.detail))

    # ------------------------------------------------------------------ bookings (预约)

    def _ours(self, booked_at: float) -> bool:
        """A booking for a time in this business day (bookings are made days ahead)."""
        if not self.day_start <= booked_at < self.day_end:
            return False
        tz = ZoneInfo(self.cfg.branch.timezone)
        return dt.datetime.fromtimestamp(booked_at, tz).date().isoformat() == self.day

    def _booking(self, v: m.BookingView) -> None:
        if self._ours(v.at):
            self.bookings[v.code] = BookingFact(branch=self.branch, day=self.day, code=v.code, business=v.business,
                                                tier=v.tier, booked_at=v.at, outcome="open")

    def _booked(self, ev: m.BookingMade) -> None:
        self._booking(ev.booking)

    def _unbooked(self, ev: m.BookingCancelled) -> None:
        b = self.bookings.get(ev.code)
        if b is not None:
            b.outcome = "cancelled"

    def _fact_of(self, code: str, business: str, booked_at: float) -> BookingFact | None:
        b = self.bookings.get(code)
        if b is None and self._ours(booked_at):  # booked before the journal kept (compacted)
            b = self.bookings[code] = BookingFact(branch=self.branch, day=self.day, code=code,
                                                  business=business, booked_at=booked_at, outcome="open")
        return b

    def _checked_in(self, ev: m.BookingCheckedIn) -> None:
        b = self._fact_of(ev.code, ev.business, ev.booked_at)
        if b is not None:
            b.outcome = "late" if ev.late else "kept"
            b.number, b.checked_in_at, b.early_s = ev.number, ev.at, round(ev.early_s, 3)
            self.booked_tickets[ev.number] = b

    def _missed(self, ev: m.BookingMissed) -> None:
        b = self._fact_of(ev.code, ev.business, ev.booked_at)
        if b is not None:
            b.outcome = "missed"

    # ------------------------------------------------------------------ closing

    def facts(self, opened_at: float, closed_at: float, archived_at: float) -> DayFacts:
        """Close the day at `closed_at`: tickets still waiting are abandoned, missed ones no-shows."""
        give_up = min(closed_at, max(self._closing_hour(), self.last_activity))
        for number, t in self.tickets.items():
            st = self.state[number]
            if st == "waiting":
                t.outcome = "abandoned"
                t.ended_at = max(t.issued_at, give_up)
                t.wait_s = round(t.ended_at - (t.appointment_at or t.issued_at), 3) \
                    if not t.first_called_at else t.wait_s
                self._step(t, t.ended_at, "abandoned")
            elif st in ("missed", "called"):
                t.outcome = "no_show"
                t.ended_at = t.ended_at or give_up
            elif st == "serving":  # never finished before the close: served, up to the close
                t.outcome = "served"
                t.finished_at = t.ended_at = max(t.started_at, give_up)
                t.service_s = round(t.finished_at - t.started_at, 3)
                t.stars = 0
                t.rating_reason = "day_end"
        for a in [a for alerts in self.open_alerts.values() for a in alerts]:
            a.resolved_at = self.tickets[a.number].ended_at if a.number in self.tickets else closed_at
        self.open_alerts.clear()
        record = DayRecord(branch=self.branch, day=self.day, archived_at=archived_at, opened_at=opened_at,
                           closed_at=closed_at, tickets=len(self.tickets))
        return DayFacts(record=record, tickets=list(self.tickets.values()), spans=sorted(
            self.spans, key=lambda s: (s.start_at, s.counter, s.kind)), alerts=self.alerts, kiosk=self.kiosk,
            bookings=sorted(self.bookings.values(), key=lambda b: (b.booked_at, b.code)))

    def _closing_hour(self) -> float:
        """The day's closing time (hours.close, branch time zone) as epoch seconds."""
        return self._local(self.day, self.cfg.hours.close)

    def _local(self, day: str, hhmm: str) -> float:
        """`hhmm` on `day` in the branch's time zone, as epoch seconds."""
        hh, mm = map(int, hhmm.split(":"))
        d = dt.date.fromisoformat(day)
        local = dt.datetime(d.year, d.month, d.day, hh, mm, tzinfo=ZoneInfo(self.cfg.branch.timezone))
        return local.timestamp()


def collect(cfg: BranchConfig, day: str, events: Iterable[Any], opened_at: float, closed_at: float,
            archived_at: float, customers: Mapping[str, str] | None = None,
            kiosks: Mapping[str, str] | None = None, bookings: Iterable[m.BookingView] = ()) -> DayFacts:
    """All of a day's facts from its events (in order); `bookings`: those open as the day began
    (booked on earlier days, so their `booked` event is in an earlier day's journal)."""
    c = DayCollector(cfg, day, customers, kiosks, bookings)
    for ev in events:
        c.add(ev)
    return c.facts(opened_at, closed_at, archived_at)


def facts_of(cfg: BranchConfig, replayed: ReplayedDay, archived_at: float) -> DayFacts:
    """The facts of a replayed day (qhistory.replay), with the kiosk and, if configured, the keyed
    customer hash that only the core's tickets hold (neither is published on the bus)."""
    customers = {n: t.customer for n, t in replayed.tickets.items() if t.customer}
    kiosks = {n: t.kiosk for n, t in replayed.tickets.items() if t.kiosk}
    return collect(cfg, replayed.day, replayed.events, replayed.opened_at, replayed.closed_at,
                   archived_at, customers, kiosks, replayed.bookings)
