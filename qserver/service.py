"""The core service: owns the core and its journal, applies bus commands, publishes the results.

Threading: the MQTT client's network thread only puts (topic, payload) into `inbox`; one service
thread does everything else, so the core needs no locks. Each loop turn drains the inbox, applies
every request (`DurableCore.submit`), commits them in one fsync (group commit), then publishes the
replies, the events and the retained state that changed. A reply is the acknowledgement, so it is
never sent before the commit.

Outbox: events of committed commands that the broker has not confirmed yet live only in paho's
memory; the journal's `published_seq` mark says up to which row everything was confirmed, and on
restart the events of later rows are re-derived by replay and published again (at least once).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import PayloadError
from qbus.topics import Topics
from qcore import BranchCore, stats
from qserver import auth
from qserver.advisor import Advisor
from qserver.clock import BranchClock, branch_clock, business_day, local_hour
from qserver.errors import ClockUnconfirmed
from qserver.store import DurableCore, error_reply

_LOG = logging.getLogger(__name__)

STATS_EVERY_S = 60.0
# After events, the KPIs (served and satisfaction per counter on the dashboard) follow within this.
STATS_AFTER_EVENTS_S = 2.0

# Events that change the retained state/bookings (the lobby's day list).
BOOKING_EVENTS = (m.BookingMade, m.BookingCancelled, m.BookingCheckedIn, m.BookingMissed, m.DayReset)


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
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.flights: list[_Flight] = []
        self._flight = _Flight(0)
        self.published_seq = int(store.journal.meta("published_seq", "0") or 0)
        self._last_stats = 0.0
        self._stats_stale = False
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
        """Called from the MQTT network thread: only queue, never block."""
        self.inbox.put((topic, payload))

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(("", b""))

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Serve until stop(): publish the full state, then one batch per inbox wake-up."""
        self.publish_all_state()
        while not self._stop.is_set():
            self.turn(timeout=self._sleep_for())
            if self._full_state.is_set():
                self._full_state.clear()
                self.publish_all_state()
            self.publish_stats()
        self._advance_published()
        self.store.journal.flush_meta()

    def request_full_state(self) -> None:
        """Ask the service thread to republish all retained state (after a broker reconnect)."""
        self._full_state.set()
        self.inbox.put(("", b""))

    def _sleep_for(self) -> float:
        due = self.store.core.next_deadline()
        wait = 1.0 if due is None else due - self.clock.now()
        return max(0.01, min(1.0, wait))

    def turn(self, timeout: float = 0.0) -> int:
        """Apply whatever arrived (waiting up to `timeout` for the first message); returns how many."""
        batch: list[tuple[str, bytes]] = []
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
        for topic, payload in batch:
            if topic:
                r = self._one(topic, payload, now)
                if r is not None:
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
        seq = self.store.commit()
        self._publish(seq, [(d, r) for d, r, _ in replies], events, hall_changed)
        if self.on_day_closed is not None:
            for ev in events:
                if isinstance(ev, m.DayReset):
                    self.on_day_closed(ev.day, self.published_seq)
        return len(batch)

    def _one(self, topic: str, payload: bytes, now: float) -> tuple[str, m.Reply, bool] | None:
        """One request -> (device, reply, whether it confirmed the clock)."""
        info = self.topics.parse(topic)
        if info is None or info.kind != "cmd" or not info.device:
            _LOG.warning("ignoring message on %s: not a command topic", topic)
            return None
        device = info.device
        try:
            req = m.decode_request(payload)
        except PayloadError as err:
            self.bad_payloads += 1
            _LOG.warning("bad payload from %s: %s", device, err)
            return device, error_reply(_request_id(payload), err), False
        if isinstance(req.cmd, m.ConfirmClock):
            try:
                auth.check(device, req.cmd)
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
        if day > self.store.core.day:
            self.store.submit(f"core-reset-{day}", "core", m.ResetDay(day=day), now)

    def _housekeeping(self, now: float) -> None:
        """Rating timeouts and wait alerts: the service's own Tick command."""
        due = self.store.core.next_deadline()
        if due is not None and due <= now:
            self.store.submit(f"core-tick-{now:.3f}", "core", m.Tick(), now)

    # ------------------------------------------------------------------ outputs

    def _publish(self, seq: int, replies: list[tuple[str, m.Reply]], events: list[Any],
                 hall_changed: bool = False) -> None:
        t = self.topics
        flight = _Flight(seq)
        self._flight = flight
        for device, reply in replies:
            self._send(t.reply(device), m.encode(reply))
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
            self._stats_stale = True
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
        with flight._lock:
            flight.remaining += 1
        if not self.bus.publish_raw(topic, payload, retain=retain, qos=1, on_sent=flight.sent):
            _LOG.error("publish to %s was dropped by the client queue", topic)
            flight.sent()

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


def _request_id(payload: bytes) -> str:
    """Best effort: the request id of a payload that failed validation, so the error can be matched."""
    try:
        raw = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return ""
    rid = raw.get("id") if isinstance(raw, dict) else None
    return rid if isinstance(rid, str) else ""
