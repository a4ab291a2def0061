"""The branch as the web pages see it, built only from the bus: retained state, events, presence.

`LiveBranch.apply(topic, payload)` takes one raw MQTT message (already on the event loop's thread,
see web.feed) and updates the picture; `dirty` says which page sections it touched, so the
renderer re-renders only those. Retained state makes a restarted service right again at once;
what only events carry (the day's missed tickets, who cancelled what, wait alerts, the advisor's
advice) is kept from the moment the service started. "Open another counter", low-rating and
satisfaction alerts are the core's advisor's (qserver.advisor, `Advice` on `alert/advice`): one
source for the dashboard, `qcall watch` and any other screen; the web computes none of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import PayloadError
from qbus.topics import Topics, pad_device

_LOG = logging.getLogger(__name__)

TICKETS_KEPT = 20_000


@dataclass(slots=True)
class TicketSeen:
    """What the web service learnt about one ticket from events (for lists and for 'why refused')."""

    number: str
    business: str
    tier: str
    issued_at: float
    state: str = "waiting"  # waiting | called | serving | missed | served | cancelled
    counter: int = 0
    by: str = ""  # who last acted on it from the web (cancelled / requeued / moved by)
    changed_at: float = 0.0
    granted_by: str = ""
    action: str = ""  # the last action a person took on it: requeued | cancelled | moved


@dataclass(slots=True)
class Alert:
    key: str
    kind: str  # wait | tier | rating | satisfaction | offline | paper | open_counter | link
    zh: str
    en: str
    at: float
    manager_only: bool = False


@dataclass(slots=True)
class Devices:
    presence: dict[str, m.Presence] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)  # when a device last changed online state


class LiveBranch:
    """Everything the pages show. Not thread-safe: one thread (the event loop) applies and reads."""

    def __init__(self, cfg: BranchConfig, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self.topics = Topics(cfg.bus.prefix, cfg.branch.id)
        self.queues = m.QueueState(waiting={})
        self.counters: dict[int, m.CounterState] = {}
        self.hall = m.HallView()
        self.stats: dict[str, Any] = {}
        self.acks: dict[str, m.AckView] = {}
        self.bookings: list[m.BookingView] = []  # retained state/bookings (the lobby's day list)
        self.notice = m.Notice()
        self.devices = Devices()
        self.tickets: dict[str, TicketSeen] = {}
        self.event_alerts: dict[str, Alert] = {}
        self._advised: dict[str, m.Advice] = {}  # open_counter advice by alert key, until it is met
        self.last_bus_at = 0.0  # newest branch time seen on the bus (for the clock check)
        self.bus_online = False
        self.dirty: set[str] = set()
        self.changed_tickets: set[str] = set()  # numbers whose state an event changed (read and cleared by web.app)
        self.version = 0
        self._events = msgspec.json.Decoder(m.AnyEvent)
        self._decoders: dict[str, Callable[[bytes], Any]] = {
            "queues": msgspec.json.Decoder(m.QueueState).decode,
            "hall": msgspec.json.Decoder(m.HallView).decode,
            "acks": msgspec.json.Decoder(m.AcksState).decode,
            "bookings": msgspec.json.Decoder(m.BookingsState).decode,
            "stats": msgspec.json.decode,
        }
        self._counter_dec = msgspec.json.Decoder(m.CounterState)
        self._presence_dec = msgspec.json.Decoder(m.Presence)
        self._notice_dec = msgspec.json.Decoder(m.Notice)
        self._advice_dec = msgspec.json.Decoder(m.Advice)

    # ------------------------------------------------------------------ input

    def apply(self, topic: str, payload: bytes) -> None:
        """One message from the bus. A malformed one is logged and dropped, never fatal."""
        info = self.topics.parse(topic)
        if info is None:
            return
        try:
            if info.kind == "event":
                self._event(self._events.decode(payload))
            elif info.kind == "state":
                self._state(info.rest, payload)
            elif info.kind == "presence":
                self._presence(self._presence_dec.decode(payload))
            elif info.kind == "alert" and info.rest == ("advice",):
                self._advice(self._advice_dec.decode(payload))
            elif info.kind == "notice":
                self.notice = self._notice_dec.decode(payload)
                self.dirty.add("notice")
        except (msgspec.DecodeError, msgspec.ValidationError, PayloadError) as err:
            _LOG.warning("dropped malformed message on %s: %s", topic, err)
            return
        self.version += 1

    def set_online(self, online: bool) -> None:
        self.bus_online = online
        self.dirty.add("devices")
        self.version += 1

    def _state(self, rest: tuple[str, ...], payload: bytes) -> None:
        if rest[0] == "counter" and len(rest) == 2:
            c = self._counter_dec.decode(payload)
            self.counters[c.counter] = c
            self.dirty.update(("counters", "alerts"))
            self._advice_met()
            return
        kind = rest[0]
        decode = self._decoders.get(kind)
        if decode is None or len(rest) != 1:
            return
        value = decode(payload)
        if kind == "queues":
            self.queues = value
            self.dirty.update(("queues", "alerts"))
            self._advice_met()
        elif kind == "hall":
            self.hall = value
            self.dirty.add("hall")
        elif kind == "acks":
            self.acks = dict(value.acks)
            self.dirty.add("alerts")
        elif kind == "bookings":
            self.bookings = value.bookings
            self.dirty.add("bookings")
        elif kind == "stats" and isinstance(value, dict):
            self.stats = value
            self.dirty.update(("kpis", "counters"))

    def _presence(self, p: m.Presence) -> None:
        before = self.devices.presence.get(p.device)
        self.devices.presence[p.device] = p
        if before is None or (before.online, before.detail) != (p.online, p.detail):
            self.devices.since[p.device] = self.clock()  # when it went offline, or ran out of paper
        self.dirty.update(("devices", "alerts"))

    def _event(self, ev: Any) -> None:
        self.last_bus_at = max(self.last_bus_at, ev.at)
        t = self.tickets
        if isinstance(ev, m.TicketIssued):
            v = ev.ticket
            t[v.number] = TicketSeen(v.number, v.business, v.tier, v.issued_at, granted_by=v.granted_by,
                                     changed_at=ev.at)
            if len(t) > TICKETS_KEPT:
                t.pop(next(iter(t)))
            self.changed_tickets.add(v.number)
            self.dirty.add("lists")
        elif isinstance(ev, m.TicketCalled):
            self._mark(ev.number, "called", ev.at, counter=ev.counter)
            self._clear_ticket_alerts(ev.number)
        elif isinstance(ev, m.ServiceStarted):
            self._mark(ev.number, "serving", ev.at, counter=ev.counter)
        elif isinstance(ev, m.ServiceFinished):
            self._mark(ev.number, "served", ev.at)
        elif isinstance(ev, m.TicketSkipped):
            self._mark(ev.number, "missed", ev.at, counter=ev.counter)
        elif isinstance(ev, m.TicketRequeued):
            self._mark(ev.number, "waiting", ev.at, by=ev.by, action="requeued")
        elif isinstance(ev, m.TicketCancelled):
            self._mark(ev.number, "cancelled", ev.at, by=ev.by, action="cancelled")
            self._clear_ticket_alerts(ev.number)
        elif isinstance(ev, m.TicketMoved):
            self._mark(ev.number, "waiting", ev.at, by=ev.by, action="moved")
            seen = t.get(ev.number)
            if seen is not None:
                seen.business = ev.to_business
        elif isinstance(ev, m.TicketTransferred):
            self._mark(ev.number, "waiting", ev.at)
            seen = t.get(ev.number)
            if seen is not None:
                seen.business = ev.to_business
        elif isinstance(ev, m.WaitAlert):
            self._wait_alert(ev)
        elif isinstance(ev, m.AlertAcked):
            ack = m.AckView(by=ev.by, at=ev.at)
            if ev.key:
                self.acks[ev.key] = ack
            else:  # a ticket's wait alerts, acknowledged by a teller id (qcall ack)
                self.acks.setdefault(f"wait:{ev.number}", ack)
                self.acks.setdefault(f"tier:{ev.number}", ack)
            self.dirty.add("alerts")
        elif isinstance(ev, m.NoticeSet):
            self.notice = m.Notice(zh=ev.zh, en=ev.en)
            self.dirty.add("notice")
        elif isinstance(ev, m.DayReset):
            self.tickets.clear()
            self.event_alerts.clear()
            self._advised.clear()
            self.acks.clear()
            self.dirty.update(("lists", "alerts"))

    def _mark(self, number: str, state: str, at: float, *, counter: int = 0, by: str = "",
              action: str = "") -> None:
        seen = self.tickets.get(number)
        if seen is None:
            return
        seen.state = state
        seen.changed_at = at
        self.changed_tickets.add(number)
        if by:
            seen.by, seen.action = by, action
        if counter:
            seen.counter = counter
        self.dirty.add("lists")

    def _wait_alert(self, ev: m.WaitAlert) -> None:
        key = f"{ev.kind}:{ev.number}"
        tier = self.tier_name(ev.tier)
        biz = self.business_name(ev.business)
        mins = ev.waited_s / 60
        if ev.kind == "tier":
            zh = f"{tier}客户 {ev.number}（{biz}）已等 {mins:.0f} 分钟，超过目标 {ev.limit_s / 60:.0f} 分钟"
            en = f"{ev.tier} customer {ev.number} ({ev.business}) has waited {mins:.0f} min, target {ev.limit_s / 60:.0f}"
        else:
            zh = f"{ev.number}（{biz}）已等候 {mins:.0f} 分钟"
            en = f"{ev.number} ({ev.business}) has waited {mins:.0f} min"
        self.event_alerts[key] = Alert(key, ev.kind, zh, en, ev.at)
        self.dirty.add("alerts")

    def _advice(self, a: m.Advice) -> None:
        """The advisor's advice as a dashboard alert. Ratings are for the manager only (the lobby
        may not read teller ratings); "open another counter" lasts until it is met."""
        if a.kind == "open_counter":
            key = f"open:{a.business}:{a.at:.0f}"
            for old in [k for k in self._advised if k.startswith(f"open:{a.business}:")]:
                self._advised.pop(old)
                self.event_alerts.pop(old, None)
            self._advised[key] = a
            self.event_alerts[key] = Alert(key, "open_counter", a.zh, a.en, a.at)
        elif a.kind == "low_rating":
            teller = f"（{self.teller_name(a.teller)}）" if a.teller else ""
            key = f"rating:{a.number}"
            self.event_alerts[key] = Alert(key, "rating", a.zh + teller, a.en, a.at, manager_only=True)
        else:
            key = f"satisfaction:{a.at:.0f}"
            for old in [k for k in self.event_alerts if k.startswith("satisfaction:")]:
                self.event_alerts.pop(old)
            self.event_alerts[key] = Alert(key, "satisfaction", a.zh, a.en, a.at, manager_only=True)
        self.dirty.add("alerts")

    def _advice_met(self) -> None:
        """An "open another counter" alert goes when the wait is back under its target or one of
        the counters it named has opened."""
        for key, a in list(self._advised.items()):
            est = self.queues.est_wait_s.get(a.business, 0.0)
            opened = any(self.counters[c].status not in ("closed", "paused") for c in a.counters if c in self.counters)
            if est <= a.target or opened:
                self._advised.pop(key)
                self.event_alerts.pop(key, None)
                self.dirty.add("alerts")

    def _clear_ticket_alerts(self, number: str) -> None:
        for kind in ("wait", "tier"):
            if self.event_alerts.pop(f"{kind}:{number}", None) is not None:
                self.dirty.add("alerts")

    # ------------------------------------------------------------------ names

    def business_name(self, code: str) -> str:
        return next((b.name_zh for b in self.cfg.business if b.code == code), code)

    def tier_name(self, code: str) -> str:
        return next((t.name_zh for t in self.cfg.tier if t.code == code), code)

    def teller_name(self, teller_id: str) -> str:
        return next((t.name for t in self.cfg.teller if t.id == teller_id), teller_id)

    # ------------------------------------------------------------------ derived

    def expected_devices(self) -> list[tuple[str, str, str]]:
        """(device id, kind, label) of every device the branch config says should be online."""
        out = [("core", "core", "排队核心 Queue core"), (self.cfg.kiosk.id, "kiosk", "取号机 Kiosk"),
               ("display1", "display", "大厅显示屏 Hall display")]
        for i, line in enumerate(self.cfg.serial):
            out.append((f"bridge{i + 1}", "bridge", f"串口桥 Serial bridge {line.port}"))
            for d in line.devices:
                out.append((pad_device(d.counter), "pad", f"{d.counter}号窗口 键盘/评价器 pads"))
        return list(dict.fromkeys(out))

    def device_state(self, device: str) -> str:
        """online | offline | unknown (never heard of, or reported by a bridge that is offline)."""
        p = self.devices.presence.get(device)
        if p is None:
            return "unknown"
        if p.via:
            via = self.devices.presence.get(p.via)
            if via is None or not via.online:
                return "unknown"
        return "online" if p.online else "offline"

    def paper(self, kiosk: str) -> str:
        """The kiosk printer's condition from its presence detail: paper_ok, near_end, paper_out, ..."""
        p = self.devices.presence.get(kiosk)
        if p is None or not p.detail.startswith("printer:"):
            return ""
        return p.detail.removeprefix("printer:")

    def alerts(self, manager: bool) -> list[Alert]:
        """The alerts a role sees now, newest first: events' alerts plus those the state implies."""
        out = [a for a in self.event_alerts.values() if manager or not a.manager_only]
        if self.hall.clock_unconfirmed:
            out.append(Alert("clock:unconfirmed", "link", "系统时间未确认：核心暂不服务，请行长确认时间 (qcall confirm-clock)",
                             "the branch clock is unconfirmed: the core serves nobody until a manager confirms it",
                             0.0))
        if not self.bus_online:
            out.append(Alert("bus:offline", "link", "网页服务与消息总线断开：页面数据可能已过时",
                             "the web service lost the bus: what this page shows may be out of date", 0.0))
        for device, _kind, label in self.expected_devices():
            if self.device_state(device) == "offline":
                since = self.devices.since.get(device, 0.0)
                out.append(Alert(f"offline:{device}:{since:.0f}", "offline", f"{label} 离线",
                                 f"{device} is offline", since))
        kiosk = self.cfg.kiosk.id
        paper = self.paper(kiosk)
        if paper and paper != "paper_ok" and self.device_state(kiosk) == "online":
            since = self.devices.since.get(kiosk, 0.0)
            zh = "取号机缺纸" if paper == "paper_out" else "取号机纸将用完" if paper == "near_end" else f"取号机打印机故障 ({paper})"
            out.append(Alert(f"paper:{kiosk}:{paper}:{since:.0f}", "paper", zh, f"kiosk printer: {paper}", since))
        return sorted(out, key=lambda a: -a.at)
