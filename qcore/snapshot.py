"""The core's state as an explicit, versioned structure: what a snapshot stores, and nothing else.

Why not pickle: a pickle stores whatever the objects hold today, under a version string someone
must remember to bump; a core change without the bump restores stale state. Here the state is
spelled out as msgspec structs (`CoreHead`, `CounterRow`, `TicketRow`), and `SCHEMA` is a digest
of those structs *and* of the attribute names of every core object they are read from. Changing
the shape of the core or of the snapshot changes `SCHEMA` by itself, so an old snapshot is refused
(the journal is replayed instead); an attribute that the snapshot does not cover makes `capture`
refuse loudly instead of dropping it.

Split in two for the service: `capture()` only copies (tuples of plain values, C-speed
attrgetter), so it is quick enough for the service thread; `encode()` turns a capture into bytes
and may run in another thread, since a capture shares nothing mutable with the live core.
What is derived from the config (lanes, plans, tables) is rebuilt by `restore()` from the config
in force, which must match `behaviour_digest()` of the one the snapshot was taken under.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import Any

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qcore.booking import Booking
from qcore.core import RECENT_CALLS, BranchCore
from qcore.counter import CounterRt
from qcore.lane import Lane
from qcore.plan import BranchPlan
from qcore.queues import Queues
from qcore.ticket import State, Ticket

TICKETS_PER_PART = 1000


class TicketRow(msgspec.Struct, array_like=True):
    """One ticket of the day. `home`: where it waits ("" not waiting, "t" its tier lane, "a" its
    appointment lane, "d<counter>" a counter's directed lane); `alerts`: which wait-alert lanes
    still hold it (bit 1: the branch-wide limit, bit 2: its tier's limit)."""

    seq: int
    number: str
    business: str
    tier: str
    via: str
    issued_at: float
    wait_from: float
    customer: str
    masked_name: str
    appointment_at: float
    granted_by: str
    kiosk: str
    state: int
    gen: int
    counter: int
    teller: str
    called_at: float
    started_at: float
    finished_at: float
    missed_at: float
    first_wait_s: float
    recalls: int
    transfers: int
    rating: int
    home: str = ""
    alerts: int = 0


class CounterRow(msgspec.Struct, array_like=True):
    """A counter's live state; tickets by number."""

    id: int
    status: m.CounterStatus
    teller: str
    ticket: str
    rating_ticket: str
    rating_due: float
    last_rated: str
    streak: int
    normal_run: int
    wrr: dict[str, int]
    busy_s: float
    open_s: float
    since: float
    by: str = ""
    note: str = ""


class BookingRow(msgspec.Struct, array_like=True):
    """An appointment the core holds (qcore.booking): its view and the keyed hash of the card that
    booked it (so the card still checks in after a restart; never a card number)."""

    view: m.BookingView
    customer: str


class CoreHead(msgspec.Struct):
    """Everything but the tickets, which follow in `ticket_parts` parts of list[TicketRow]."""

    schema: str
    day: str
    clock: float
    svc_s: dict[str, float]
    next_no: dict[str, int]
    seq: int
    recent: list[m.CallView]
    counters: list[CounterRow]
    ticket_parts: int
    acks: dict[str, m.AckView] = {}
    notice: tuple[str, str] = ("", "")
    bookings: list[BookingRow] = []


# Ticket attributes copied as they are: the TicketRow fields before `home` and `alerts`.
TICKET_FIELDS = TicketRow.__struct_fields__[:-2]
# What each core object holds, as state the snapshot stores or as what restore() rebuilds from the
# config. Any other attribute is state this module does not know about: capture() refuses it.
CORE_STATE = frozenset({"acks", "bookings", "clock", "counters", "day", "day_tag", "next_no", "notice", "queues",
                        "recent", "seq", "svc_s", "tickets"})
CORE_DERIVED = frozenset({"cfg", "events", "plan", "serving"})
TICKET_DERIVED = frozenset({"lane"})
COUNTER_DERIVED = frozenset({"age_lanes", "appt_lanes", "directed", "order", "plan", "prefers",
                             "restricted", "serves"})
QUEUES_DERIVED = frozenset(Queues.__slots__)  # the lanes: rebuilt from the tickets' `home`


class SnapshotError(ValueError):
    """A snapshot that cannot be taken or used (another schema, another config, or damaged)."""


def slots(cls: type) -> set[str]:
    """Every slot of a class and its bases."""
    return {s for k in cls.__mro__ for s in getattr(k, "__slots__", ())}


def check_shape(ticket: type = Ticket, counter: type = CounterRt) -> None:
    """The structs above must cover every attribute of the core's objects (checked at import, so
    a new attribute without its snapshot field fails every test instead of being dropped)."""
    problems = []
    want = set(TICKET_FIELDS) | TICKET_DERIVED
    if slots(ticket) != want:
        problems.append(f"{ticket.__name__} {sorted(slots(ticket) ^ want)}")
    want = set(CounterRow.__struct_fields__) | COUNTER_DERIVED
    if slots(counter) != want:
        problems.append(f"{counter.__name__} {sorted(slots(counter) ^ want)}")
    if problems:
        raise SnapshotError(f"qcore.snapshot does not cover: {'; '.join(problems)}")


def schema() -> str:
    """A digest of the snapshot's structure and of the core objects' attribute names: any change
    to either gives another schema, and snapshots of another schema are never restored."""
    _, defs = msgspec.json.schema_components([CoreHead, TicketRow])
    shape = {
        "defs": defs,
        "core": sorted(CORE_STATE | CORE_DERIVED),
        "ticket": sorted(slots(Ticket)), "counter": sorted(slots(CounterRt)),
        "queues": sorted(slots(Queues)), "plan": sorted(slots(BranchPlan)),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


check_shape()
SCHEMA = schema()

_NOT_BEHAVIOUR = frozenset({"name_zh", "name_en", "mark", "zone_zh", "zone_en",
                            "self_service_zh", "self_service_en"})


def _plain(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return {k: _plain(v) for k, v in msgspec.structs.asdict(value).items() if k not in _NOT_BEHAVIOUR}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def behaviour_digest(cfg: BranchConfig) -> str:
    """A digest of what the core reads of a config (its BranchPlan, without names and texts).

    Editing the hall notice, the journal path, the broker or a PIN leaves it unchanged, so a
    snapshot survives those edits; a change to the rules, types, tiers or counters does not.
    """
    plan = BranchPlan(cfg)
    data = {name: _plain(getattr(plan, name)) for name in sorted(BranchPlan.__slots__)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------ capture (service thread)

_ticket_values = attrgetter(*TICKET_FIELDS)


@dataclass(frozen=True, slots=True)
class Capture:
    """A detached copy of the core's state: plain values only, safe to encode in another thread."""

    head: CoreHead
    tickets: list[tuple[Any, ...]]
    where: dict[str, tuple[str, int]]  # waiting tickets: number -> (home, alerts)


def _number(t: Ticket | None) -> str:
    return "" if t is None else t.number


def _final(t: Ticket) -> bool:
    """Nothing can change this ticket any more: served and its rating recorded, or cancelled."""
    return (t.state == State.SERVED and t.rating >= 0) or t.state == State.CANCELLED


class Capturer:
    """`capture` with a memory of the day's leading final tickets (tickets finish roughly in issue
    order): their rows are copied once, so a capture at 40,000 tickets copies only the tail."""

    def __init__(self) -> None:
        self._key: tuple[int, str] = (0, "")
        self._rows: list[tuple[Any, ...]] = []

    def capture(self, core: BranchCore) -> Capture:
        """Copy the core's state (quick: the service thread calls it between two batches)."""
        unknown = set(vars(core)) - CORE_STATE - CORE_DERIVED
        if unknown:
            raise SnapshotError(f"BranchCore holds state the snapshot does not cover: {sorted(unknown)}")
        if core.events:
            raise SnapshotError("capture with undrained events")
        key = (id(core.tickets), core.day)
        if key != self._key or len(self._rows) > len(core.tickets):
            self._key, self._rows = key, []
        done, tail = self._rows, []
        leading = True
        rest = list(islice(core.tickets.values(), len(done), None))
        for t in rest:
            row = _ticket_values(t)
            if leading and _final(t):
                done.append(row)
            else:
                leading = False
                tail.append(row)
        where = _where(core, [t for t in rest if t.lane is not None])
        counters = [CounterRow(c.id, c.status, c.teller, _number(c.ticket), _number(c.rating_ticket),
                               c.rating_due, _number(c.last_rated), c.streak, c.normal_run, dict(c.wrr),
                               c.busy_s, c.open_s, c.since, c.by, c.note) for c in core.counters.values()]
        tickets = done + tail
        head = CoreHead(schema=SCHEMA, day=core.day, clock=core.clock, svc_s=dict(core.svc_s),
                        next_no=dict(core.next_no), seq=core.seq, recent=list(core.recent),
                        counters=counters, ticket_parts=-(-len(tickets) // TICKETS_PER_PART),
                        acks=dict(core.acks), notice=core.notice,
                        bookings=[BookingRow(msgspec.structs.replace(b.view), b.customer)  # a copy: views change
                                  for b in core.bookings.values()])
        return Capture(head, tickets, where)


def _where(core: BranchCore, waiting: list[Ticket]) -> dict[str, tuple[str, int]]:
    """Where each waiting ticket waits (its home lane) and which alert lanes still hold it."""
    if not waiting:
        return {}
    q = core.queues
    homes: dict[int, str] = {}
    for tiers in q.lanes.values():
        homes.update((id(lane), "t") for lane in tiers.values())
    for appts in q.appts.values():
        homes.update((id(lane), "a") for lane in appts.values())
    for c in core.counters.values():
        homes[id(c.directed)] = f"d{c.id}"
    alerted: dict[str, int] = {}
    for bit, lanes in ((1, [q.alert_lanes[0][2]]), (2, list(q.tier_alert.values()))):
        for lane in lanes:
            lane.first()  # drops stale entries at the head (what every tick does anyway)
            for e in (*lane.fifo, *lane.late):
                if e[2] == e[3].gen:
                    alerted[e[3].number] = alerted.get(e[3].number, 0) | bit
    return {t.number: (homes[id(t.lane)], alerted.get(t.number, 0)) for t in waiting}


def capture(core: BranchCore) -> Capture:
    """A one-off capture (no memory between calls)."""
    return Capturer().capture(core)


# ------------------------------------------------------------------ bytes (any thread)

_enc = msgspec.msgpack.Encoder()
_head_dec = msgspec.msgpack.Decoder(CoreHead)
_tickets_dec = msgspec.msgpack.Decoder(list[TicketRow])


def encode(cap: Capture) -> list[bytes]:
    """The capture as parts: the head, then the tickets in parts of TICKETS_PER_PART (so a writer
    can store them in small transactions, and no single encode holds the interpreter long)."""
    parts = [_enc.encode(cap.head)]
    where, none = cap.where, ("", 0)
    for i in range(0, len(cap.tickets), TICKETS_PER_PART):
        chunk = [(*row, *where.get(row[1], none)) for row in cap.tickets[i:i + TICKETS_PER_PART]]
        parts.append(_enc.encode(chunk))
    return parts


def restore(cfg: BranchConfig, parts: list[bytes]) -> BranchCore:
    """A core rebuilt from `encode()`'s parts under `cfg` (SnapshotError if not of this schema)."""
    try:
        head = _head_dec.decode(parts[0])
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError) as err:
        raise SnapshotError(f"snapshot head unreadable: {err}") from err
    if head.schema != SCHEMA:  # also checked on the stored row; this guards a mislabelled one
        raise SnapshotError(f"snapshot schema {head.schema} is not this core's {SCHEMA}")
    if len(parts) != 1 + head.ticket_parts:
        raise SnapshotError(f"snapshot has {len(parts) - 1} ticket parts, its head says {head.ticket_parts}")
    core = BranchCore(cfg, head.day)
    core.clock, core.seq = head.clock, head.seq
    core.svc_s.update(head.svc_s)
    core.next_no.update(head.next_no)
    core.recent = deque(head.recent, maxlen=RECENT_CALLS)
    core.acks = dict(head.acks)
    core.notice = (head.notice[0], head.notice[1])
    core.bookings = {r.view.code: Booking(r.view, r.customer) for r in head.bookings}
    waiting: list[tuple[Ticket, str, int]] = []
    tickets = core.tickets
    try:
        for part in parts[1:]:
            for r in _tickets_dec.decode(part):
                t = Ticket(r.seq, r.number, r.business, r.tier, r.via, r.issued_at, r.wait_from,
                           r.customer, r.masked_name, r.appointment_at, r.granted_by, r.kiosk)
                t.state, t.gen, t.counter, t.teller = State(r.state), r.gen, r.counter, r.teller
                t.called_at, t.started_at, t.finished_at = r.called_at, r.started_at, r.finished_at
                t.missed_at, t.first_wait_s, t.recalls = r.missed_at, r.first_wait_s, r.recalls
                t.transfers, t.rating = r.transfers, r.rating
                tickets[t.number] = t
                if r.home:
                    waiting.append((t, r.home, r.alerts))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as err:
        raise SnapshotError(f"snapshot tickets unreadable: {err}") from err
    _restore_counters(core, head.counters)
    _requeue(core, waiting)
    return core


def _restore_counters(core: BranchCore, rows: list[CounterRow]) -> None:
    tickets = core.tickets
    for r in rows:
        c = core.counters.get(r.id)
        if c is None:
            raise SnapshotError(f"snapshot has counter {r.id}, the config does not")
        c.status, c.teller = r.status, r.teller
        c.ticket = tickets[r.ticket] if r.ticket else None
        c.rating_ticket = tickets[r.rating_ticket] if r.rating_ticket else None
        c.last_rated = tickets[r.last_rated] if r.last_rated else None
        c.rating_due, c.streak, c.normal_run = r.rating_due, r.streak, r.normal_run
        c.wrr.update(r.wrr)
        c.busy_s, c.open_s, c.since = r.busy_s, r.open_s, r.since
        c.by, c.note = r.by, r.note


def _requeue(core: BranchCore, waiting: list[tuple[Ticket, str, int]]) -> None:
    """Put waiting tickets back in their lanes in queue order, with the gen they were queued with."""
    q = core.queues
    waiting.sort(key=lambda w: (w[0].wait_from, w[0].seq, w[0].gen))
    for t, home, alerts in waiting:
        lane: Lane
        if home == "t":
            lane = q.lanes[t.business][t.tier]
        elif home == "a":
            lane = q.appts[t.business][t.tier]
            if t.appointment_at:
                q.appt_live += 1
        else:
            lane = core.counters[int(home[1:])].directed
        t.lane = lane
        lane.push(t, t.wait_from)
        if lane.aged:
            q.age[t.business].push(t, t.wait_from)
            if alerts & 1:
                q.alert_lanes[0][2].push(t, t.wait_from)
            tier_lane = q.tier_alert.get(t.tier)
            if alerts & 2 and tier_lane is not None:
                tier_lane.push(t, t.wait_from)
        else:
            q.directed_n[t.business] += 1
