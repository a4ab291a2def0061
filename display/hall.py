"""What the hall display shows, as a model fed only by bus messages.

The screen never asks anyone for data: it folds the messages it is handed (retained state and
events from qbus.messages, plus a `BusLink` signal from the bus client) into a `HallState`, and
draws that. A restarted screen is whole again as soon as the retained `HallView` arrives; while
the bus is away the last state stays up with an "offline" mark, never a blank screen.

Each region of the screen has a revision number that moves only when what it shows really
changed, so the renderer can redraw just those regions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from qbus import messages as m
from qbus.config import BranchConfig

_LOG = logging.getLogger(__name__)

#: Regions whose content comes from the bus (the clock and ticker move with time instead).
HEARD_MAX = 500
MISSED_MAX = 3
CLOCK_NOTICE = ("系统时间未确认，请稍候取号", "Waiting for clock: tickets resume once the time is confirmed")
REGIONS = ("calling", "recent", "waiting", "paused", "notice", "link")


@dataclass(frozen=True)
class BusLink:
    """The bus client's connection signal: `online=False` when the broker is lost.

    Any other message also counts as proof that the bus is up, so a client that only ever sends
    `BusLink(online=False)` still gets the mark cleared on reconnect.
    """

    online: bool


@dataclass(frozen=True)
class Highlight:
    """The newest call, blinking from `since` until `until` (display clock, not branch time)."""

    number: str
    counter: int
    since: float
    until: float


@dataclass
class HallState:
    """Everything on the hall screen that comes from the bus.

    `calling` is newest first, one entry per counter, holding only counters whose status is
    "called" (the same rule as the core's retained HallView, so a resync never changes the
    picture). `recent` is newest first, recalls folded into one line per number and counter.
    """

    highlight_s: float = 6.0
    recent_max: int = 8
    notice_default: tuple[str, str] = ("", "")
    calling: list[m.CallView] = field(default_factory=list)
    recent: list[m.CallView] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)
    est_wait_s: dict[str, float] = field(default_factory=dict)  # the core's estimate per business
    paused: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    bus_notice: tuple[str, str] = ("", "")
    view_notice: tuple[str, str] = ("", "")
    clock_unconfirmed: bool = False
    # Calls this screen has shown, by (number, counter, recall), and the business day they belong
    # to: a call in a retained HallView that is not among them was missed (the broker restarted
    # between the core's publish and our subscription) and is announced late, never lost.
    heard: dict[tuple[str, int, int], None] = field(default_factory=dict)
    heard_day: str | None = None  # None: no HallView yet (a fresh screen announces nothing old)
    missed: list[m.CallView] = field(default_factory=list)
    online: bool = False
    highlight: Highlight | None = None
    rev: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REGIONS, 0))

    @classmethod
    def from_config(cls, cfg: BranchConfig) -> HallState:
        d = cfg.display
        return cls(highlight_s=d.highlight_s, recent_max=d.recent_calls,
                   notice_default=(d.notice_zh, d.notice_en))

    # ------------------------------------------------------------------ reading

    @property
    def notice(self) -> tuple[str, str]:
        """While the core waits for a confirmed clock, that is what the hall must know (nobody gets
        a number); otherwise a `Notice` set on the bus wins, then the notice carried in the
        HallView (the core's config), then this display's own config."""
        if self.clock_unconfirmed:
            return CLOCK_NOTICE
        for n in (self.bus_notice, self.view_notice, self.notice_default):
            if any(n):
                return n
        return ("", "")

    def take_missed(self) -> list[m.CallView]:
        """Calls found missed since the last take, oldest first (for the voice)."""
        out, self.missed = self.missed, []
        return out

    def _hear(self, view: m.CallView) -> bool:
        """Remember a call; False if it was already heard."""
        key = (view.number, view.counter, view.recall)
        if key in self.heard:
            return False
        self.heard[key] = None
        while len(self.heard) > HEARD_MAX:
            del self.heard[next(iter(self.heard))]
        return True

    def highlighted(self, now: float) -> Highlight | None:
        h = self.highlight
        return h if h is not None and h.since <= now < h.until else None

    # ------------------------------------------------------------------ writing

    def apply(self, msg: object, now: float) -> None:
        """Fold one message in. Unknown kinds are ignored: the display never stops for a payload."""
        if isinstance(msg, BusLink):
            self._set_online(msg.online)
            return
        self._set_online(True)
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            _LOG.debug("hall display ignores %s", type(msg).__name__)
            return
        handler(self, msg, now)

    def _bump(self, region: str) -> None:
        self.rev[region] += 1

    def _set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            self._bump("link")
            _LOG.info("hall display bus link %s", "up" if online else "lost")

    def _set_calling(self, calling: list[m.CallView]) -> None:
        if calling != self.calling:
            self.calling = calling
            self._bump("calling")

    def _set_recent(self, recent: list[m.CallView]) -> None:
        recent = _fold_recent(recent, self.recent_max)
        if recent != self.recent:
            self.recent = recent
            self._bump("recent")

    def _set_paused(self, paused: Iterable[int]) -> None:
        p = sorted(set(paused))
        if p != self.paused:
            self.paused = p
            self._bump("paused")

    def _set_closed(self, closed: Iterable[int]) -> None:
        self.closed = sorted(set(closed))

    def _call(self, view: m.CallView, now: float) -> None:
        """A (re)call: the number goes to the top of both lists and blinks."""
        self._hear(view)
        others = [c for c in self.calling if c.counter != view.counter]
        self._set_calling([view, *others])
        self._set_recent([view, *self.recent])
        self._set_paused(c for c in self.paused if c != view.counter)
        self.highlight = Highlight(view.number, view.counter, now, now + self.highlight_s)
        self._bump("calling")

    def _counter_status(self, counter: int, status: str, number: str, now: float) -> None:
        if status == "called" and number:
            if not any(c.counter == counter and c.number == number for c in self.calling):
                others = [c for c in self.calling if c.counter != counter]
                self._set_calling([*others, m.CallView(number=number, counter=counter, at=now)])
        else:
            self._set_calling([c for c in self.calling if c.counter != counter])
            h = self.highlight
            if h is not None and h.counter == counter:
                self.highlight = None
                self._bump("calling")
        if status == "paused":
            self._set_paused([*self.paused, counter])
        else:
            self._set_paused(c for c in self.paused if c != counter)
        if status == "closed":
            self._set_closed([*self.closed, counter])
        else:
            self._set_closed(c for c in self.closed if c != counter)


def _fold_recent(calls: list[m.CallView], limit: int) -> list[m.CallView]:
    """Newest first, one line per (number, counter): a recall moves the line up, not doubles it."""
    seen: set[tuple[str, int]] = set()
    out: list[m.CallView] = []
    for c in calls:
        key = (c.number, c.counter)
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
        if len(out) >= limit:
            break
    return out


def _on_hall_view(s: HallState, v: m.HallView, now: float) -> None:
    """The retained picture: replaces everything, and blinks nothing (it is not a new call) unless
    it holds calls this screen never heard of: those it announces (`missed`) and blinks."""
    missed = _missed_calls(s, v)
    s._set_calling(sorted(v.calling, key=lambda c: -c.at))
    s._set_recent(list(v.recent))
    if v.waiting != s.waiting:
        s.waiting = dict(v.waiting)
        s._bump("waiting")
    s._set_paused(v.paused)
    s._set_closed(v.closed)
    if (v.notice_zh, v.notice_en) != s.view_notice:
        s.view_notice = (v.notice_zh, v.notice_en)
        s._bump("notice")
    if v.clock_unconfirmed != s.clock_unconfirmed:
        s.clock_unconfirmed = v.clock_unconfirmed
        s._bump("notice")
    if missed:
        newest = missed[-1]
        s.highlight = Highlight(newest.number, newest.counter, now, now + s.highlight_s)
        s._bump("calling")
    h = s.highlight
    if h is not None and not any(c.counter == h.counter and c.number == h.number for c in s.calling):
        s.highlight = None
        s._bump("calling")


def _missed_calls(s: HallState, v: m.HallView) -> list[m.CallView]:
    """Calls of `v.recent` this screen has not heard, oldest first (at most MISSED_MAX: a long
    outage is shown, not read out in full). The first HallView of a fresh screen only sets the
    baseline (those calls are old, not news)."""
    if s.heard_day is None:
        s.heard_day = v.day
        for c in v.recent:
            s._hear(c)
        return []
    if v.day != s.heard_day:  # a new business day whose reset this screen did not see
        s.heard.clear()
        s.heard_day = v.day
    new = [c for c in reversed(v.recent) if s._hear(c)][-MISSED_MAX:]
    s.missed += new
    return new


def _on_called(s: HallState, ev: m.TicketCalled, now: float) -> None:
    s._call(m.CallView(number=ev.number, counter=ev.counter, at=ev.at, business=ev.business,
                       booked=ev.booked), now)


def _on_recalled(s: HallState, ev: m.TicketRecalled, now: float) -> None:
    business = next((c.business for c in s.calling if c.number == ev.number), "")
    booked = any(c.booked for c in s.calling if c.number == ev.number)
    s._call(m.CallView(number=ev.number, counter=ev.counter, at=ev.at, business=business,
                       recall=ev.recalls, booked=booked), now)


def _on_counter_changed(s: HallState, ev: m.CounterChanged, now: float) -> None:
    s._counter_status(ev.counter, ev.status, ev.number, now)


def _on_counter_state(s: HallState, st: m.CounterState, now: float) -> None:
    s._counter_status(st.counter, st.status, st.number, now)


def _on_queue_state(s: HallState, q: m.QueueState, now: float) -> None:
    if q.waiting != s.waiting or q.est_wait_s != s.est_wait_s:
        s.waiting = dict(q.waiting)
        s.est_wait_s = dict(q.est_wait_s)
        s._bump("waiting")


def _on_notice(s: HallState, n: m.Notice, now: float) -> None:
    if (n.zh, n.en) != s.bus_notice:
        s.bus_notice = (n.zh, n.en)
        s._bump("notice")


def _on_day_reset(s: HallState, ev: m.DayReset, now: float) -> None:
    s.heard.clear()
    s.heard_day = ev.day
    s._set_calling([])
    s._set_recent([])
    s.highlight = None
    if any(s.waiting.values()):
        s.waiting = dict.fromkeys(s.waiting, 0)
        s._bump("waiting")


_HANDLERS: dict[type, Callable[[HallState, Any, float], None]] = {
    m.HallView: _on_hall_view,
    m.TicketCalled: _on_called,
    m.TicketRecalled: _on_recalled,
    m.CounterChanged: _on_counter_changed,
    m.CounterState: _on_counter_state,
    m.QueueState: _on_queue_state,
    m.Notice: _on_notice,
    m.DayReset: _on_day_reset,
}
