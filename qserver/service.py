"""The core service: owns the core and its journal, applies bus commands, publishes the results.

Threading: the MQTT client's network thread decodes each request and either answers it at once
without the core (a bad payload, a device past its rate, a full inbox) or puts (device, request)
into `inbox`; one service thread does everything else, so the core needs no locks. Each loop
turn drains the inbox, applies every request (`DurableCore.submit`), commits them in one fsync
(group commit), then publishes the replies, the events and the retained state that changed. A
reply is the acknowledgement, so it is never sent before the commit.

Outbox: events of committed commands that the broker has not confirmed yet live only in paho's
memory; the journal's `published_seq` mark says up to which row everything was confirmed, and on
restart the events of later rows are re-derived by replay and published again (at least once).

Hostile or runaway devices ([limits], qserver.limits): each device has a token bucket, and a
request past it gets a `rate_limited` reply on the network thread, never reaching the inbox, so a
flood does not queue in front of anyone else's request. The inbox is bounded: when it is full a
request is answered `rate_limited` at once too (every request gets a reply). Messages waiting for
the broker's acknowledgement are bounded too: past `outbox_max` the service stops taking requests
until the broker catches up, so nothing of a committed command is ever dropped (backpressure, not
loss). Nothing larger than the broker's max_packet_size is handed to it (the broker would drop the
core's connection, and the outbox would send it again after every restart). An exception from one
message is logged and answered; it never stops the service.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import secrets
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from qbus import messages as m
from qbus.client import packet_size
from qbus.config import BranchConfig
from qbus.errors import PayloadError, QcallError
from qbus.roles import role_of
from qbus.topics import Topics
from qcore import BranchCore, stats
from qserver import auth
from qserver.advisor import Advisor
from qserver.clock import BranchClock, branch_clock, business_day, local_hour
from qserver.errors import ClockUnconfirmed, JournalError
from qserver.limits import DeviceLimiter, Overloaded, RateLimited, Unacked
from qserver.store import DurableCore, error_reply

_LOG = logging.getLogger(__name__)

STATS_EVERY_S = 60.0
# After events, the KPIs (served and satisfaction per counter on the dashboard) follow within this.
STATS_AFTER_EVENTS_S = 2.0
# state/waiting (the whole waiting list) at most this often while tickets come and go: a flood of
# issues must not rebuild and send it per batch. Its `seq` tells a reader which events it includes.
WAITING_EVERY_S = 0.5

# Events that change the retained state/bookings (the lobby's day list).
BOOKING_EVENTS = (m.BookingMade, m.BookingCancelled, m.BookingCheckedIn, m.BookingMissed, m.DayReset)


class InternalError(QcallError):
    """The core service failed on this request (logged); nothing was applied for it."""

    code = "internal"
    zh = "系统内部错误，请联系工作人员"


class Publisher(Protocol):
    """What the service needs from an MQTT client (qbus.client.BusClient)."""

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
                    on_sent: Callable[[], None] | None = None) -> bool: ...


class _Flight:
    """Messages of one committed batch, waiting for the broker's acknowledgements (PUBACKs)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.remaining = 0
        self._lock = threading.Lock()

    def sent(self) -> None:  # on the MQTT network thread
        with self._lock:
            self.remaining -= 1

    @property
    def done(self) -> bool:
        with self._lock:
            return self.remaining <= 0


class CoreService:
    """Apply commands from the bus to the durable core; publish replies, events and state."""

    def __init__(self, cfg: BranchConfig, store: DurableCore, bus: Publisher, topics: Topics,
                 clock: BranchClock | None = None, max_batch: int | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.bus = bus
        self.topics = topics
        self.clock = clock or branch_clock(cfg, floor=store.core.clock)
        self.max_batch = max_batch or cfg.storage.group_commit_max
        lim = cfg.limits
        self.inbox: queue.Queue[tuple[str, m.Request | None]] = queue.Queue()
        self.inbox_max = lim.inbox_max
        self.outbox_max = lim.outbox_max
        self.limiter = DeviceLimiter(lim.device_rate_per_s, lim.device_burst)
        self.unacked = Unacked()
        self.max_packet = cfg.bus.max_packet_size
        # The core's own request ids carry a secret: nobody can pre-empt one (they are keyed by
        # device `core` as well, which no bus message can claim).
        self._secret = secrets.token_hex(8)
        self.rate_limited = 0
        self.internal_errors = 0
        self.flights: list[_Flight] = []
        self._flight = _Flight(0)
        self.published_seq = int(store.journal.meta("published_seq", "0") or 0)
        self._last_stats = 0.0
        self._stats_stale = False
        self._last_waiting = 0.0
        self._waiting_stale = False
        self._stop = threading.Event()
        self._full_state = threading.Event()
        self.bad_payloads = 0
        self._shown_unconfirmed: bool | None = None  # what the hall screen was last told
        self._step_refused_logged = False
        # Called in the service thread after a day's reset is committed and published, with the
        # day closed and the published mark (qcall wires the history archive here).
        self.on_day_closed: Callable[[str, int], None] | None = None
        self.advisor = Advisor(cfg)

    # ------------------------------------------------------------------ inputs

    def on_message(self, topic: str, payload: bytes) -> None:
        """Called from the MQTT network thread; never blocks (the thread must keep reading the
        broker, acknowledgements included). What needs no core is answered here at once."""
        info = self.topics.parse(topic)
        if info is None or info.kind != "cmd" or not info.device:
            _LOG.warning("ignoring message on %s: not a command topic", topic)
            return
        device = info.device
        try:
            refusal = self._screen(device, payload)
        except Exception as err:  # a bug hit by one message must not stop the branch
            self.internal_errors += 1
            _LOG.exception("request from %s failed in the core service's intake", device)
            refusal = error_reply(m.request_id_of(payload), InternalError(f"internal error: {type(err).__name__}"))
        if refusal is not None:
            self._answer_now(device, refusal)

    def _screen(self, device: str, payload: bytes) -> m.Reply | None:
        """Queue a request for the core, or return the reply that refuses it without the core."""
        try:
            req = m.decode_request(payload)
        except PayloadError as err:
            self.bad_payloads += 1
            if self.limiter.take(device, self.clock.now()):  # a flood of garbage is answered, not logged
                _LOG.warning("bad payload from %s: %s", device, str(err)[:200])
            return error_reply(m.request_id_of(payload), err)
        if role_of(device) == "core":  # the core's own commands never come over the bus
            return error_reply(req.id, auth.Forbidden("no device may send as the core"))
        # A retry costs no token (its first answer may have been lost); the service thread sends
        # its stored reply, after the commit that made it durable.
        if self.store.answered(device, req.id) is None and not self.limiter.take(device, self.clock.now()):
            self.rate_limited += 1
            return error_reply(req.id, RateLimited(f"{device} sent too many requests; please wait a moment"))
        if self.inbox.qsize() >= self.inbox_max:
            self.rate_limited += 1
            return error_reply(req.id, Overloaded("the queue system is busy; please try again in a moment"))
        self.inbox.put((device, req))
        return None

    def _answer_now(self, device: str, reply: m.Reply) -> None:
        """A refusal: nothing was applied or journaled, so there is no commit to wait for. QoS 0:
        under a flood it halves the packets the core handles (no PUBACK), and a lost refusal
        costs nothing: the device re-sends the request (same id) on every reconnect and retry
        until it has an answer, and a re-sent refusal changes nothing either."""
        self.bus.publish_raw(self.topics.reply(device), m.encode(reply), qos=0)

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(("", None))

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Serve until stop(): publish the full state, then one batch per inbox wake-up."""
        self.publish_all_state()
        while not self._stop.is_set():
            if not self.unacked.wait_below(self.outbox_max, 0.5):
                continue  # the broker is behind (or gone): take nothing more until it catches up
            self.turn(timeout=self._sleep_for())
            if self._full_state.is_set():
                self._full_state.clear()
                self.publish_all_state()
            self.publish_stats()
            self.publish_waiting()
        self._advance_published()
        self.store.journal.flush_meta()

    def request_full_state(self) -> None:
        """Ask the service thread to republish all retained state (after a broker reconnect)."""
        self._full_state.set()
        self.inbox.put(("", None))

    def _sleep_for(self) -> float:
        due = self.store.core.next_deadline()
        if self._waiting_stale:
            due = min(due or math.inf, self._last_waiting + WAITING_EVERY_S)
        wait = 1.0 if due is None else due - self.clock.now()
        return max(0.01, min(1.0, wait))

    def turn(self, timeout: float = 0.0) -> int:
        """Apply whatever arrived (waiting up to `timeout` for the first message); returns how many."""
        batch: list[tuple[str, m.Request | None]] = []
        try:
            batch.append(self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait())
            while len(batch) < self.max_batch:
                batch.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        # Clock and day first: every request of this batch is applied on the day it belongs to, so
        # a reset never follows (and erases) a request acknowledged in the same turn.
        now = self._settle_clock()
        self._roll_day(now)
        replies: list[tuple[str, m.Reply, bool]] = []
        for device, req in batch:
            if req is not None:
                r = self._one(device, req, now)
                replies.append(r)
                if r[1].ok and r[2]:  # a manager confirmed the clock: settle before the rest
                    now = self._settle_clock()
                    self._roll_day(now)
        self._housekeeping(now)
        self._publish_alerts()
        events = self.store.core.drain()
        hall_changed = self._shown_unconfirmed != (not self.clock.confirmed)
        if not self.store.pending and not replies and not events and not hall_changed:
            self.store.journal.check_identity()  # a journal deleted while idle stops us now, not later
            self._advance_published()
            self.store.journal.flush_meta()  # idle: the mark's own fsync delays nobody
            return 0
        seq = self.store.commit() if self.store.pending else self.store.journal.last_seq
        self._publish(seq, [(d, r) for d, r, _ in replies], events, hall_changed)
        if self.on_day_closed is not None:
            for ev in events:
                if isinstance(ev, m.DayReset):
                    self.on_day_closed(ev.day, self.published_seq)
        return len(batch)

    def _one(self, device: str, req: m.Request, now: float) -> tuple[str, m.Reply, bool]:
        """One admitted request -> (device, reply, whether it confirmed the clock)."""
        try:
            return self._apply(device, req, now)
        except JournalError:
            raise
        except Exception as err:  # a bug hit by one message must not stop the branch
            self.internal_errors += 1
            _LOG.exception("request %s from %s failed inside the core service", req.id, device)
            return device, error_reply(req.id, InternalError(f"internal error: {type(err).__name__}")), False

    def _apply(self, device: str, req: m.Request, now: float) -> tuple[str, m.Reply, bool]:
        if isinstance(req.cmd, m.ConfirmClock):
            try:
                auth.admit(self.cfg, self.store.core, device, req.cmd, now)
            except auth.Forbidden as err:
                return device, error_reply(req.id, err), False
            self.clock.confirm(req.cmd.now, by=device)
            return device, m.Reply(id=req.id, ok=True), True
        if not self.clock.confirmed:
            return device, error_reply(req.id, ClockUnconfirmed(
                "the branch clock is not confirmed yet (waiting for time sync or a manager's "
                "confirm-clock); nothing is served on a clock that may be wrong")), False
        return device, self.store.submit(req.id, device, req.cmd, now), False

    def _settle_clock(self) -> float:
        """Adopt a wall-clock step when it is safe for the people being served; returns branch time.

        A step (either way, past `max_drift_s`) is taken only while nobody waits, is called or is
        served, and journaled as a ClockStep so the core's clock (and a replay) follows it; until
        then branch time keeps running on the monotonic clock. The first confirmation after an
        unconfirmed start moves time forward at once: that time really passed.
        """
        clock, core = self.clock, self.store.core
        if not clock.confirmed:
            return clock.now()
        first, clock.unconfirmed_at_start = clock.unconfirmed_at_start, False
        drift = clock.drift()
        if abs(drift) <= clock.max_drift_s:
            self._step_refused_logged = False
            return clock.now()
        if first and drift > 0:
            clock.step()
            return clock.now()
        if not core.at_rest():
            if not self._step_refused_logged:
                _LOG.warning("wall clock is %+.0f s from branch time; stepping when nobody is waiting "
                             "or being served", drift)
                self._step_refused_logged = True
            return clock.now()
        clock.step()
        now = clock.now()
        self.store.submit(f"core-clock-{secrets.token_hex(8)}", "core", m.ClockStep(), now)
        return now

    def _roll_day(self, now: float) -> None:
        """Open the new business day (on a confirmed clock only) before any request is applied."""
        if not self.clock.confirmed:
            return
        day = business_day(now, self.cfg.branch.timezone, self.cfg.hours.daily_reset)
        current = self.store.core.day
        if day > current or not _is_day(current):  # (a bad day an old version journaled)
            self.store.submit(f"core-reset-{day}-{self._secret}", "core", m.ResetDay(day=day), now)

    def _housekeeping(self, now: float) -> None:
        """Rating timeouts and wait alerts: the service's own Tick command."""
        due = self.store.core.next_deadline()
        if due is not None and due <= now:
            self.store.submit(f"core-tick-{now:.3f}-{self._secret}", "core", m.Tick(), now)

    # ------------------------------------------------------------------ outputs

    def _publish(self, seq: int, replies: list[tuple[str, m.Reply]], events: list[Any],
                 hall_changed: bool = False) -> None:
        t = self.topics
        flight = _Flight(seq)
        self._flight = flight
        for device, reply in replies:
            topic, payload = t.reply(device), m.encode(reply)
            if packet_size(topic, payload) > self.max_packet:  # cannot happen within the schema's bounds
                _LOG.error("reply %s to %s is %d bytes, over the broker's limit; sending an error instead",
                           reply.id, device, len(payload))
                payload = m.encode(error_reply(reply.id, InternalError("the reply was too large to send")))
            self._send(topic, payload)
        counters: set[int] = set()
        bookings = False
        for ev in events:
            self._send(t.event_of(ev), m.encode(ev))
            if isinstance(ev, m.WaitAlert):
                self._send(t.alert(ev.kind), m.encode(ev))
            if isinstance(ev, m.CounterChanged):
                counters.add(ev.counter)
            elif isinstance(ev, m.DayReset):
                counters.update(self.store.core.counters)
            if isinstance(ev, m.NoticeSet):
                self._send(t.notice(), m.encode(m.Notice(zh=ev.zh, en=ev.en)), retain=True)
            if isinstance(ev, m.AlertAcked | m.DayReset):
                self._send(t.state_acks(), m.encode(self.store.core.acks_state()), retain=True)
            if isinstance(ev, BOOKING_EVENTS):
                bookings = True
        if bookings:
            self._send(t.state_bookings(), m.encode(self.store.core.bookings_state()), retain=True)
        if events:
            self._stats_stale = self._waiting_stale = True
        if events or hall_changed:
            self._publish_state(counters)
            for advice in self.advisor.observe(events, self.store.core, self.clock.now()):
                payload = m.encode(advice)
                self._send(t.alert("advice"), payload)
                self._send(t.event_of(advice), payload)
        self.flights.append(flight)
        self._advance_published()

    def _publish_alerts(self) -> None:
        """PIN lockouts go out at once on `alert/pin_lockout` (nothing to commit: not journaled)."""
        alerts, self.store.pins.alerts = self.store.pins.alerts, []
        for a in alerts:
            self.bus.publish_raw(self.topics.alert("pin_lockout"), m.encode(a), qos=1)

    def _send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        flight = self._flight
        if packet_size(topic, payload) > self.max_packet:
            # The broker would drop our connection for it, and the outbox would send it again after
            # every restart: log it (nobody can receive it) and count it as delivered.
            _LOG.error("not publishing %d bytes on %s: over the broker's max_packet_size %d",
                       len(payload), topic, self.max_packet)
            return
        with flight._lock:
            flight.remaining += 1
        self.unacked.add()

        def sent() -> None:
            flight.sent()
            self.unacked.done()

        if not self.bus.publish_raw(topic, payload, retain=retain, qos=1, on_sent=sent):
            _LOG.error("publish to %s was refused by the client", topic)
            sent()

    def _publish_state(self, counters: set[int]) -> None:
        core, t = self.store.core, self.topics
        for c in sorted(counters):
            self._send(t.state_counter(c), m.encode(core.counter_state(c)), retain=True)
        self._send(t.state_queues(), m.encode(core.queue_state()), retain=True)
        self._send(t.state_hall(), m.encode(self.hall_view()), retain=True)

    def hall_view(self) -> m.HallView:
        """The core's hall view with the notice a person set (SetNotice), else the display's own."""
        view = self.store.core.hall_view()
        zh, en = self.store.core.notice
        if not (zh or en):
            zh, en = self.cfg.display.notice_zh, self.cfg.display.notice_en
        self._shown_unconfirmed = unconfirmed = not self.clock.confirmed
        return msgspec.structs.replace(view, notice_zh=zh, notice_en=en, clock_unconfirmed=unconfirmed)

    def publish_all_state(self) -> None:
        """Everything retained, so a device that (re)connects resyncs from retained state alone.

        Also publishes the outbox: events of journaled commands the broker never confirmed
        before the last stop (re-derived by replay), so subscribers get them at least once.
        """
        if self.store.outbox:
            events, self.store.outbox = self.store.outbox, []
            _LOG.info("republishing %d events the broker had not confirmed", len(events))
            self._publish(self.store.journal.last_seq, [], events)
        self._flight = _Flight(self.store.journal.last_seq)
        self._publish_state(set(self.store.core.counters))
        core = self.store.core
        self._send(self.topics.state_acks(), m.encode(core.acks_state()), retain=True)
        self._send(self.topics.state_bookings(), m.encode(core.bookings_state()), retain=True)
        if any(core.notice):
            self._send(self.topics.notice(), m.encode(m.Notice(zh=core.notice[0], en=core.notice[1])), retain=True)
        self.publish_stats(force=True)
        self.publish_waiting(force=True)

    def publish_waiting(self, force: bool = False) -> None:
        """Retained state/waiting after changes, at most every WAITING_EVERY_S (like state/stats it
        is rebuilt from the core, so it is sent outside the outbox's flights)."""
        now = self.clock.now()
        if not force and (not self._waiting_stale or now - self._last_waiting < WAITING_EVERY_S):
            return
        self._last_waiting, self._waiting_stale = now, False
        state = self.store.core.waiting_state()  # within the schema's bounds: it fits the broker
        state.seq = self.store.journal.last_seq
        self.bus.publish_raw(self.topics.state_waiting(), m.encode(state), retain=True)

    def publish_stats(self, force: bool = False) -> None:
        now = self.clock.now()
        due = STATS_AFTER_EVENTS_S if self._stats_stale else STATS_EVERY_S
        if not force and now - self._last_stats < due:
            return
        self._last_stats = now
        self._stats_stale = False
        try:
            payload = m.encode(stats_state(self.cfg, self.store.core, now))
        except msgspec.ValidationError:  # a KPI the schema lacks: a bug (tests/test_stats_state), not a reason to stop
            _LOG.exception("the day's figures do not fit StatsState; state/stats not updated")
            return
        self.bus.publish_raw(self.topics.state_stats(), payload, retain=True)


    def _advance_published(self) -> None:
        """Move the journal's `published_seq` past every batch the broker has confirmed."""
        done = self.published_seq
        while self.flights and self.flights[0].done:
            done = self.flights.pop(0).seq
        if done != self.published_seq:
            self.published_seq = done
            self.store.journal.stage_meta("published_seq", str(done))


def branch_kpis(cfg: BranchConfig, core: BranchCore, now: float) -> dict[str, Any]:
    """The day's KPIs with hours in the branch's own time zone (arrivals per hour, staffing)."""
    tz = cfg.branch.timezone
    return stats.kpis(core, now, hour_of=lambda t: local_hour(t, tz))


def stats_state(cfg: BranchConfig, core: BranchCore, now: float) -> m.StatsState:
    """The day's KPIs as the `state/stats` payload (checked against the schema as it is built)."""
    k = branch_kpis(cfg, core, now)
    k["at"] = now  # when these figures were made: a watcher tells a stale retained copy apart
    return msgspec.convert(k, m.StatsState)


def _is_day(day: str) -> bool:
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return len(day) == 10
