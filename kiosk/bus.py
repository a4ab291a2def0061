"""The kiosk's side of the bus: issuing through the core, cancelling orphans, presence, queue sizes.

`BusIssuer` is the flow's `issue` callable. It sends `Issue` with `BusClient.request()` and a
timeout (`[kiosk] issue_timeout_s`) and maps the `Reply` to a `TicketView` or an `ErrorInfo`.
When no reply comes in time it raises TimeoutError: the flow tells the customer (Chinese and
English) and prints nothing.

Why orphans need work: the core may have applied the request after all (it was slow, or its
reply was lost while the kiosk's link was down). That number exists in the queue but nobody holds
a ticket for it, and a counter would call an empty lobby. So every request the kiosk gave up on is
watched for `watch_s`:
- a reply that arrives late (the kiosk subscribes its own reply topic) -> `Cancel(number)`;
- after the kiosk reconnects it re-sends the given-up request with the SAME id: the core answers
  from its de-duplication cache (or applies it now), and an ok answer is cancelled the same way.
Cancels run on a worker thread (a bus handler must never wait for a reply) with one fixed request
id per orphan, retried until the core answers, so a retried cancel is applied once.

`KioskPresence` publishes the kiosk's retained `Presence` with the printer's condition in `detail`
("printer:paper_ok", "printer:near_end", "printer:paper_out", "printer:offline (cover open)", ...),
so staff tools watching `presence/+` see a kiosk that needs paper before customers complain.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hw.printer import PrinterStatus, Status
from kiosk.flow import TicketPrinter
from qbus import messages as m
from qbus.client import BusClient, Received, new_request_id
from qbus.errors import BusError, BusTimeout

_LOG = logging.getLogger(__name__)

BAD_REPLY = m.ErrorInfo(code="bad_reply", en="The queue system sent an unexpected answer. Please ask our staff.",
                        zh="排队系统应答异常，请联系大堂工作人员")


@dataclass
class _GivenUp:
    """An issue request the kiosk stopped waiting for; watched until `until` (monotonic)."""

    cmd: m.Issue | m.CheckIn
    until: float
    cancel_id: str = field(default_factory=new_request_id)
    number: str = ""  # set once a late answer names the orphan number


class BusIssuer:
    """`issue(Issue) -> TicketView | ErrorInfo` over the bus, with orphan cancelling (module docstring).

    Register it before the bus client starts (it subscribes the kiosk's reply topic). Call `close()`
    before closing the bus client.
    """

    def __init__(self, bus: BusClient, *, timeout_s: float, watch_s: float = 600.0,
                 cancel_timeout_s: float | None = None, retry_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.watch_s = watch_s
        self.cancel_timeout_s = cancel_timeout_s if cancel_timeout_s is not None else max(timeout_s, 3.0)
        self.retry_s = retry_s
        self._now = monotonic
        self._lock = threading.Condition()
        self._inflight: dict[str, m.Reply | None] = {}  # request id -> a reply seen by our handler
        self._given_up: dict[str, _GivenUp] = {}
        self.cancelled: list[str] = []  # orphan numbers the core confirmed cancelled
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._closed = False
        bus.subscribe(bus.topics.reply(bus.device), m.Reply, self._on_reply)
        self._worker = threading.Thread(target=self._work, name="kiosk-orphans", daemon=True)
        self._worker.start()

    # -- issuing ------------------------------------------------------------------------------
    def __call__(self, cmd: m.Issue | m.CheckIn) -> m.TicketView | m.ErrorInfo:
        rid = new_request_id()
        with self._lock:
            self._inflight[rid] = None
        try:
            reply = self.bus.request(cmd, self.timeout_s, request_id=rid)
        except BusTimeout:
            self._give_up(rid, cmd)
            raise
        finally:
            with self._lock:
                self._inflight.pop(rid, None)
        return _ticket_or_error(reply)

    def _give_up(self, rid: str, cmd: m.Issue | m.CheckIn) -> None:
        with self._lock:
            late = self._inflight.get(rid)
            self._given_up[rid] = _GivenUp(cmd, self._now() + self.watch_s)
        _LOG.warning("no answer to issue request %s within %g s; watching it for a late answer", rid,
                     self.timeout_s)
        if late is not None:  # the reply slipped in between the timeout and here
            self._late(rid, late)

    # -- late answers ---------------------------------------------------------------------------
    def _on_reply(self, msg: Received[m.Reply]) -> None:
        """Every reply on our topic (network thread): remember in-flight ones, act on given-up ones."""
        rid = msg.value.id
        with self._lock:
            if rid in self._inflight:
                self._inflight[rid] = msg.value
                return
            watched = rid in self._given_up
        if watched:
            self._late(rid, msg.value)

    def _late(self, rid: str, reply: m.Reply) -> None:
        with self._lock:
            entry = self._given_up.get(rid)
            if entry is None or entry.number:
                return  # already handled (a duplicate delivery)
            if not (reply.ok and reply.ticket is not None):
                self._given_up.pop(rid, None)
                _LOG.info("late answer to issue request %s: no ticket was made", rid)
                return
            entry.number = reply.ticket.number
        _LOG.warning("late answer to issue request %s: ticket %s nobody holds; cancelling it", rid,
                     reply.ticket.number)
        self._jobs.put(("cancel", rid))

    def recheck(self) -> None:
        """Ask the core again about every given-up request (after a reconnect: a reply may be lost)."""
        with self._lock:
            self._expire()
            rids = [rid for rid, e in self._given_up.items() if not e.number]
        for rid in rids:
            self._jobs.put(("recheck", rid))

    def watching(self) -> int:
        """Given-up requests still watched (tests and the kiosk's status)."""
        with self._lock:
            self._expire()
            return len(self._given_up)

    def wait_cancelled(self, n: int, timeout: float) -> bool:
        """Wait until `n` orphans have been cancelled (tests, demo)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.cancelled) >= n, timeout)

    def _expire(self) -> None:
        now = self._now()
        for rid in [r for r, e in self._given_up.items() if e.until <= now]:
            _LOG.warning("stopped watching issue request %s (no late answer within %g s)", rid, self.watch_s)
            del self._given_up[rid]

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, rid = job
            try:
                if kind == "cancel":
                    self._cancel(rid)
                else:
                    self._recheck_one(rid)
            except BusError as err:
                if self._closed:
                    return
                _LOG.warning("orphan %s: %s; trying again in %g s", rid, err, self.retry_s)
                self._retry_later(job)

    def _retry_later(self, job: tuple[str, str]) -> None:
        def again() -> None:
            if not self._closed:
                self._jobs.put(job)
        timer = threading.Timer(self.retry_s, again)
        timer.daemon = True
        timer.start()

    def _recheck_one(self, rid: str) -> None:
        with self._lock:
            entry = self._given_up.get(rid)
        if entry is None or entry.number:
            return
        reply = self.bus.request(entry.cmd, self.cancel_timeout_s, request_id=rid)
        self._late(rid, reply)

    def _cancel(self, rid: str) -> None:
        with self._lock:
            self._expire()
            entry = self._given_up.get(rid)
        if entry is None:
            return
        reply = self.bus.request(m.Cancel(number=entry.number), self.cancel_timeout_s, request_id=entry.cancel_id)
        with self._lock:
            self._given_up.pop(rid, None)
            if reply.ok:
                self.cancelled.append(entry.number)
            self._lock.notify_all()
        if reply.ok:
            _LOG.info("orphan ticket %s cancelled", entry.number)
        else:
            code = reply.error.code if reply.error else "?"
            _LOG.warning("orphan ticket %s could not be cancelled: %s", entry.number, code)

    def close(self) -> None:
        """Stop the worker; given-up requests are no longer watched. Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=self.cancel_timeout_s + 1)


def _ticket_or_error(reply: m.Reply) -> m.TicketView | m.ErrorInfo:
    if reply.ok and reply.ticket is not None:
        return reply.ticket
    if not reply.ok and reply.error is not None:
        return reply.error
    _LOG.warning("issue reply %s has neither a ticket nor an error", reply.id)
    return BAD_REPLY


# -- presence ---------------------------------------------------------------------------------------
def printer_detail(st: PrinterStatus | None) -> str:
    """Presence detail for a printer condition: printer:<state>[ (<cause>)]."""
    if st is None:
        return "printer:unknown"
    state = st.state
    if state in (Status.OFFLINE, Status.NO_ANSWER) and st.detail and st.detail != str(state):
        return f"printer:{state} ({st.detail})"
    return f"printer:{state}"


class KioskPresence:
    """Retained presence of the kiosk with the printer condition; re-sent on every reconnect."""

    def __init__(self, bus: BusClient) -> None:
        self.bus = bus
        self.detail = "printer:unknown"
        self._lock = threading.Lock()

    def printer(self, st: PrinterStatus | None) -> None:
        """Report the printer condition if it changed."""
        detail = printer_detail(st)
        with self._lock:
            if detail == self.detail:
                return
            self.detail = detail
        _LOG.info("kiosk presence: %s", detail)
        self.publish()

    def publish(self) -> None:
        if not self.bus.online:
            return  # sent by on_online when the link is back
        try:
            self.bus.publish(self.bus.topics.presence(self.bus.device),
                             m.Presence(device=self.bus.device, online=True, kind="kiosk", detail=self.detail),
                             retain=True)
        except BusError as err:
            _LOG.debug("presence not sent: %s", err)


class WatchedPrinter:
    """The flow's printer, reporting every status change to a callback (the kiosk's presence)."""

    def __init__(self, printer: TicketPrinter, on_status: Callable[[PrinterStatus], None]) -> None:
        self.inner = printer
        self.on_status = on_status
        self.last_status: PrinterStatus | None = None

    def status(self) -> PrinterStatus:
        st = self.inner.status()
        self._seen(st)
        return st

    def print_ticket(self, data: bytes) -> PrinterStatus:
        try:
            st = self.inner.print_ticket(data)
        finally:
            after = getattr(self.inner, "last_status", None)
            if after is not None:
                self._seen(after)
        return st

    def _seen(self, st: PrinterStatus) -> None:
        self.last_status = st
        self.on_status(st)


class KioskBus:
    """Everything the kiosk does on the bus, wired to one client: issuer, presence, queue sizes.

    `on_queues` gets each `QueueState` (retained: the current one arrives at connect) on the
    network thread; keep it short (the kiosk app queues it for its loop).
    """

    def __init__(self, bus: BusClient, *, timeout_s: float, watch_s: float = 600.0,
                 on_queues: Callable[[m.QueueState], None] | None = None) -> None:
        self.bus = bus
        self.issuer = BusIssuer(bus, timeout_s=timeout_s, watch_s=watch_s)
        self.presence = KioskPresence(bus)
        self.on_queues = on_queues
        self.queues: m.QueueState | None = None
        self.open_bookings = 0  # bookings waiting for check-in (retained state/bookings)
        bus.subscribe(bus.topics.state_queues(), m.QueueState, self._queues)
        bus.subscribe(bus.topics.state_bookings(), m.BookingsState, self._bookings)
        bus.on_online = self._online

    def note(self, kind: str, business: str, detail: str) -> None:
        """The flow's `note`: a KioskNote to the core (journaled for the day's history). Sent and
        not waited for (QoS 1 keeps it while offline; the id de-duplicates a redelivery)."""
        cmd = m.KioskNote(kind=kind, kiosk=self.bus.device, business=business, detail=detail[:32])  # type: ignore[arg-type]
        self.bus.publish(self.bus.topics.cmd(self.bus.device), m.Request(id=new_request_id(), cmd=cmd))

    def watch(self, printer: TicketPrinter) -> WatchedPrinter:
        """Wrap the kiosk's printer so its condition shows in the presence."""
        return WatchedPrinter(printer, self.presence.printer)

    def _online(self) -> None:
        self.presence.publish()
        self.issuer.recheck()

    def _queues(self, msg: Received[m.QueueState]) -> None:
        self.queues = msg.value
        if self.on_queues is not None:
            self.on_queues(msg.value)

    def _bookings(self, msg: Received[m.BookingsState]) -> None:
        self.open_bookings = sum(1 for b in msg.value.bookings if b.status == "booked")

    def close(self) -> None:
        self.issuer.close()
