"""The fact model of a closed business day: what the history store keeps, what reports read and
what head office ingests. One definition: the SQL tables (SQLite and PostgreSQL) are derived from
these structs by `qhistory.schema`, and `DayFacts` is also the JSON form of a whole day.

Every row carries `branch` and `day` (the business day, YYYY-MM-DD, in the branch's time zone), so
a head office database can hold many branches in the same tables. Times are branch time, seconds
since the epoch (UTC); durations are seconds. No raw card or ID number ever reaches a fact (the
core never sees one); the keyed customer hash is kept only when `[history] keep_customer_hash` is
on (for repeat-visit counts), and no export (HTML, CSV, JSON, the day's JSON) ever carries it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

FACTS_VERSION = 1

Outcome = Literal["served", "no_show", "cancelled", "abandoned"]
StepKind = Literal["issued", "called", "recalled", "skipped", "requeued", "transferred", "started",
                   "finished", "rated", "cancelled", "abandoned"]
SpanKind = Literal["open", "pause"]
KioskKind = Literal["offer_accepted", "offer_declined", "printer_fault", "unknown_card"]
BookingOutcome = Literal["kept", "late", "missed", "cancelled", "open"]


class Fact(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every fact row: which branch and business day it belongs to."""

    branch: str
    day: str


class Step(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, array_like=True):
    """One moment of a ticket's life (stored as a compact JSON array inside its ticket row).

    `counter` and `teller` are where it happened; `detail` is the transfer's target
    ("business:wealth" or "counter:5"), the recall count, or a rating's stars / unrated reason."""

    at: float
    kind: StepKind
    counter: int = 0
    teller: str = ""
    detail: str = ""


class TicketFact(Fact, kw_only=True):
    """One ticket's whole life. Key: (branch, day, number).

    `business` is where it ended (after transfers), `first_business` where it was issued.
    `wait_s` is the wait until the first call; for an abandoned ticket (still waiting, or missed and
    never back, at close) it is the time from issue to the day's close: a customer who gave up
    waited too. `stars`: 1..scale, 0 unrated (see `rating_reason`), -1 never finished.
    """

    number: str
    business: str
    first_business: str
    tier: str
    via: str
    kiosk: str = ""
    granted_by: str = ""
    appointment_at: float = 0.0
    issued_at: float
    first_called_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    ended_at: float = 0.0
    outcome: Outcome
    wait_s: float = 0.0
    service_s: float = 0.0
    counter: int = 0
    teller: str = ""
    recalls: int = 0
    skips: int = 0
    transfers: int = 0
    referral: bool = False
    stars: int = -1
    rating_reason: str = ""
    rating_source: str = ""
    customer_hash: str = ""
    life: list[Step] = []


class CounterSpan(Fact, kw_only=True):
    """A stretch of a counter's day: `open` (from open or login to close or logout, with the teller
    signed in) or `pause` (暂停, from pause to resume, with its reason). Key: (branch, day, counter,
    kind, start_at)."""

    counter: int
    kind: SpanKind
    teller: str = ""
    start_at: float
    end_at: float
    reason: str = ""


class AlertFact(Fact, kw_only=True):
    """A wait alert raised by the core (`wait`: past the branch limit, `tier`: past the tier's
    target). `resolved_at` is when the customer was called (or left); `acked_at` / `acked_by` when
    and by whom it was acknowledged (`qcall ack`), 0 / "" if nobody did. Key: (branch, day, number, kind, raised_at)."""

    kind: str
    number: str
    business: str
    tier: str
    raised_at: float
    waited_s: float
    limit_s: float
    resolved_at: float = 0.0
    acked_at: float = 0.0
    acked_by: str = ""


class KioskFact(Fact, kw_only=True):
    """Something the kiosk saw that made no ticket, or that a ticket cannot show: a self-service
    offer accepted or declined, a printer fault, an unknown card (never the card's number).
    Key: (branch, day, kiosk, at, kind)."""

    kiosk: str
    at: float
    kind: KioskKind
    business: str = ""
    detail: str = ""


class BookingFact(Fact, kw_only=True):
    """One appointment (预约) for the day: `kept` (checked in within the window, an appointment
    ticket), `late` (checked in past the lateness window: a normal ticket), `missed` (nobody came by
    the day's end), `cancelled`, `open` (still open when an unclosed day was archived). `number` is
    the ticket it became; `wait_s` the wait from the booked time to the ticket's first call (0 when
    never called: see `called_at`). Never the customer's hash or name. Key: (branch, day, code)."""

    code: str
    business: str
    tier: str = ""
    booked_at: float
    outcome: BookingOutcome
    number: str = ""
    checked_in_at: float = 0.0
    early_s: float = 0.0
    called_at: float = 0.0
    wait_s: float = 0.0


class DayRecord(Fact, kw_only=True):
    """One archived day: the idempotency key (branch, day) and what the archive held."""

    archived_at: float
    opened_at: float
    closed_at: float
    tickets: int
    facts_version: int = FACTS_VERSION


class DayFacts(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Everything archived for one (branch, day), in one transaction."""

    record: DayRecord
    tickets: list[TicketFact] = []
    spans: list[CounterSpan] = []
    alerts: list[AlertFact] = []
    kiosk: list[KioskFact] = []
    bookings: list[BookingFact] = []


ComplaintSource = Literal["comment_book", "phone", "rating", "web", "letter", "in_person"]
ComplaintStatus = Literal["open", "contacted", "replied", "closed"]


class Complaint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """意见簿 / 投诉: one complaint and its deadlines (contact 24 h, reply 3 days, close 30 days by
    default, `[complaints]` in the config). A 1-2 star rating opens one with the ticket, counter and
    teller (`ref` = "rating:<day>:<number>", unique, so archiving a day twice opens it once).
    `contact` is how to reach the customer; it is personal and never exported."""

    id: int = 0
    branch: str
    ref: str = ""
    source: ComplaintSource
    opened_at: float
    text: str
    contact: str = ""
    handler: str = ""
    day: str = ""
    number: str = ""
    counter: int = 0
    teller: str = ""
    contact_due: float
    reply_due: float
    close_due: float
    contacted_at: float = 0.0
    replied_at: float = 0.0
    closed_at: float = 0.0
    closed_by: str = ""
    outcome: str = ""

    @property
    def status(self) -> ComplaintStatus:
        if self.closed_at:
            return "closed"
        if self.replied_at:
            return "replied"
        if self.contacted_at:
            return "contacted"
        return "open"

    def overdue(self, now: float) -> list[str]:
        """Which deadlines have passed unmet at `now`: any of "contact", "reply", "close"."""
        out = []
        if not self.contacted_at and not self.closed_at and now > self.contact_due:
            out.append("contact")
        if not self.replied_at and not self.closed_at and now > self.reply_due:
            out.append("reply")
        if not self.closed_at and now > self.close_due:
            out.append("close")
        return out


FACT_TABLES: dict[str, tuple[type[msgspec.Struct], tuple[str, ...]]] = {
    "history_day": (DayRecord, ("branch", "day")),
    "ticket_fact": (TicketFact, ("branch", "day", "number")),
    "counter_span": (CounterSpan, ("branch", "day", "counter", "kind", "start_at")),
    "alert_fact": (AlertFact, ("branch", "day", "number", "kind", "raised_at")),
    "kiosk_fact": (KioskFact, ("branch", "day", "kiosk", "at", "kind")),
    "booking_fact": (BookingFact, ("branch", "day", "code")),
}
"""Table name -> (fact struct, primary key). The schema, the inserts and the loads all read this."""

PRIVATE_FIELDS = frozenset({"customer_hash", "contact"})
"""Fields that never leave the store: no report, CSV, JSON or day export carries them."""


def public(facts: DayFacts) -> DayFacts:
    """The day as it may leave the branch (to head office, into a file): no customer hash."""
    if not any(t.customer_hash for t in facts.tickets):
        return facts
    tickets = [msgspec.structs.replace(t, customer_hash="") if t.customer_hash else t for t in facts.tickets]
    return msgspec.structs.replace(facts, tickets=tickets)
