"""Every payload on the bus, as msgspec structs: commands, replies, events and retained state.

One module shared by every component, so a payload is validated by the same schema wherever it is
read. Payloads are JSON; each carries `v` (schema version). Commands are a tagged union on `op`,
events on `type`. The core emits the event structs directly, so what the journal replays, what the
bus publishes and what the screens read are one definition.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1

# Field bounds. Every string on the bus has one, so no field can grow a message past the broker's
# max_packet_size (the largest message the core publishes stays a few kB), and a device cannot
# make the core store or echo an unbounded value. Lengths are in characters. The branch config is
# checked against the same numbers (qbus.config.validate), so the core never publishes a value
# that the devices' decoders would refuse.
MAX_ID = 64  # request ids (devices send 32 hex digits), ticket ids
MAX_CODE = 32  # business / tier codes, teller ids, device ids, error codes, reasons
MAX_NUMBER = 16  # a ticket number: prefix + number_width digits
MAX_HASH = 64  # the keyed hash of a card / ID (64 hex digits)
MAX_NAME = 64  # masked customer names, teller names
MAX_PIN = 32
MAX_TEXT = 500  # error messages, presence details
MAX_NOTICE = 300  # hall notice lines
MAX_LED = 64  # a pad's LED text
MAX_COUNTER = 999
MAX_STARS = 100
MAX_BOOKING_CODE = 12
MAX_ALERT_KEY = 80
# How many of each a branch may have (qbus.config.validate refuses more), so the retained state the
# core publishes (one entry per counter, business type, tier, member of staff) has a bound too.
MAX_COUNTERS = 64  # counters in one branch (the biggest branches have ~30)
MAX_BUSINESSES = 16  # business types
MAX_TIERS = 8  # customer tiers
MAX_STAFF = 128  # [[teller]] entries: tellers, lobby staff and managers
MAX_RECENT = 20  # calls the hall screen lists as recent (qcore keeps exactly these)
# Bookings the core holds at once (today's and later days'; cancelled ones until the day ends):
# state/bookings lists them all in one retained message. Past it a `book` is refused (`bookings_full`).
MAX_BOOKINGS = 150
# Alerts acknowledged on the web dashboard in one day (state/acks lists them all): past it a further
# acknowledgement is refused (`acks_full`); wait alerts acknowledged by ticket (qcall ack) are not kept.
MAX_ACKS = 200
# Waiting tickets state/waiting lists (the first to be reached): a branch with more waiting than this
# shows the rest's phone pages their places again from the next events after a web restart.
MAX_WAITING_LISTED = 500
# The largest payload the core can publish under these bounds (tests/test_schema_bounds.py builds
# it, field by field at each bound, and checks it decodes and fits): `[bus] max_packet_size` must
# hold it with the longest topic (qbus.config.validate).
LARGEST_PAYLOAD = 62_000

# Identifiers: business / tier codes, teller ids, web logins, device ids, error and reason codes,
# ticket numbers. ASCII only (the config is held to the same pattern), so a code costs one byte a
# character on the bus, never the six of a JSON-escaped control character.
IDENT = r"^[A-Za-z0-9_.:-]*$"

Id = Annotated[str, Meta(max_length=MAX_ID)]
Code = Annotated[str, Meta(pattern=IDENT, max_length=MAX_CODE)]
Number = Annotated[str, Meta(pattern=IDENT, max_length=MAX_NUMBER)]
Hash = Annotated[str, Meta(max_length=MAX_HASH)]
Name = Annotated[str, Meta(max_length=MAX_NAME)]
Pin = Annotated[str, Meta(max_length=MAX_PIN)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
NoticeText = Annotated[str, Meta(max_length=MAX_NOTICE)]
# A business day: the shape only; the core also checks that it is a real calendar date.
Day = Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$", max_length=10)]
MaybeDay = Annotated[str, Meta(pattern=r"^(\d{4}-\d{2}-\d{2})?$", max_length=10)]  # "" before the first day
CounterKey = Annotated[str, Meta(pattern=r"^\d{1,3}$", max_length=3)]  # a counter id as a JSON object key
HourKey = Annotated[str, Meta(pattern=r"^\d{2}$", max_length=2)]  # the branch's local hour "09"
CounterNo = Annotated[int, Meta(ge=0, le=MAX_COUNTER)]
Stars = Annotated[int, Meta(ge=0, le=MAX_STARS)]

Via = Literal["button", "bank_card", "passbook", "id_card", "staff", "appointment", "transfer", "poster"]


class CounterStatus(StrEnum):
    """Where a counter is in its cycle: the core sets it, every screen and pad shows it (the JSON
    value is the lower-case name). closed → idle (a teller signed in / opened) → called → serving →
    rating (waiting for the customer's stars) → idle; idle ⇄ paused (暂停服务)."""

    CLOSED = "closed"
    IDLE = "idle"
    CALLED = "called"
    SERVING = "serving"
    RATING = "rating"
    PAUSED = "paused"


class Msg(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base: strict (unknown fields are errors), keyword-only."""


# The member of staff who acted (a web login or a teller id), journaled inside the command so the
# journal and the history name them; "" for a device acting on its own (a keypad, the kiosk).
Person = Annotated[str, msgspec.Meta(pattern=IDENT, max_length=MAX_CODE)]
Reason = Annotated[str, msgspec.Meta(max_length=80)]
AlertKey = Annotated[str, msgspec.Meta(pattern=IDENT, max_length=MAX_ALERT_KEY)]  # "wait:A012", "paper:kiosk1:paper_out:1764…"


# --------------------------------------------------------------------------------------------
# Commands: device -> core.  Topic: <prefix>/v1/<branch>/cmd/<device>


class Issue(Msg, tag="issue", tag_field="op", kw_only=True):
    """Take a number. `customer` is the keyed hash of the card / ID, never the raw number."""

    business: Code
    tier: Code = "normal"
    via: Via = "button"
    customer: Hash = ""
    masked_name: Name = ""
    appointment_at: float = 0.0
    granted_by: Code = ""
    # The granting staff member's PIN, typed on the kiosk's PIN pad: the core checks it against the
    # hashes only it holds (with lockout), then blanks it before journaling. Empty for a staff card.
    staff_pin: Pin = ""
    kiosk: Code = ""
    reason: Reason = ""  # why staff granted this tier at the desk (journaled with granted_by)


class CallNext(Msg, tag="call_next", tag_field="op", kw_only=True):
    counter: CounterNo


class Recall(Msg, tag="recall", tag_field="op", kw_only=True):
    counter: CounterNo


class Skip(Msg, tag="skip", tag_field="op", kw_only=True):
    """The called customer did not come: the ticket goes to the missed list."""

    counter: CounterNo


class Requeue(Msg, tag="requeue", tag_field="op", kw_only=True):
    """A missed customer came back within the window."""

    number: Number
    by: Person = ""


class Move(Msg, tag="move", tag_field="op", kw_only=True):
    """分流: lobby staff move a *waiting* ticket to another business type; it keeps its number and
    its place by issue time (the customer has already waited)."""

    number: Number
    to_business: Code
    by: Person = ""


class Transfer(Msg, tag="transfer", tag_field="op", kw_only=True):
    """Send the ticket being served to another business type or to a named counter."""

    counter: CounterNo
    to_business: Code = ""
    to_counter: CounterNo = 0


class StartService(Msg, tag="start", tag_field="op", kw_only=True):
    """The 欢迎光临 key: the called customer has arrived."""

    counter: CounterNo


class FinishService(Msg, tag="finish", tag_field="op", kw_only=True):
    """The 客户评价 key (request_rating) or a plain finish (counts as unrated)."""

    counter: CounterNo
    request_rating: bool = True


class Rate(Msg, tag="rate", tag_field="op", kw_only=True):
    """A customer's stars, from a customer-facing device only (`pad<N>`: the serial bridge for a
    rating pad, or a rating tablet). `source` is set by the core service to the device the request
    came from (whatever the payload says), so the journal and the event record who rated."""

    counter: CounterNo
    stars: Stars
    source: Code = ""


PauseReason = Literal["", "lunch", "break", "meeting", "cash_count", "training", "system", "other"]


class Pause(Msg, tag="pause", tag_field="op", kw_only=True):
    """暂停服务, with why ("" when the keypad has no reason key): the history keeps pause time
    per teller and reason; `by` names the person who paused it from the office ("" from the keypad)."""

    counter: CounterNo
    reason: PauseReason = ""
    by: Person = ""


class Resume(Msg, tag="resume", tag_field="op", kw_only=True):
    counter: CounterNo
    by: Person = ""


class OpenCounter(Msg, tag="open", tag_field="op", kw_only=True):
    counter: CounterNo
    by: Person = ""


class CloseCounter(Msg, tag="close", tag_field="op", kw_only=True):
    counter: CounterNo
    by: Person = ""


class Login(Msg, tag="login", tag_field="op", kw_only=True):
    """Teller login. The PIN is checked by the core service and never journaled or logged."""

    counter: CounterNo
    teller: Code
    pin: Pin = ""


class Logout(Msg, tag="logout", tag_field="op", kw_only=True):
    counter: CounterNo


class Cancel(Msg, tag="cancel", tag_field="op", kw_only=True):
    number: Number
    by: Person = ""


class SetNotice(Msg, tag="set_notice", tag_field="op", kw_only=True):
    """The hall notice, set by a person (empty texts: back to the display's configured notice)."""

    zh: NoticeText = ""
    en: NoticeText = ""
    by: Person = ""


# Appointments (预约). A booking code is what the customer types at the kiosk (the booking system's
# own, or one the web made); `customer` is the keyed hash of the phone number or ID card that
# booked (the kiosk matches a swiped card by the same hash), never the number itself.
BookingCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{4,12}$", max_length=MAX_BOOKING_CODE)]
CustomerHash = Annotated[str, msgspec.Meta(max_length=128)]
MAX_MASKED_NAME = 16  # a booking's masked name (张*)
MaskedName = Annotated[str, msgspec.Meta(max_length=MAX_MASKED_NAME)]
BookingSource = Literal["web", "csv", "system"]


class Book(Msg, tag="book", tag_field="op", kw_only=True):
    """Book a slot: `at` is the slot's start (branch time, seconds since the epoch, on the
    `rules.appointment_slot_minutes` grid); at most `rules.appointment_slot_capacity` bookings per
    business and slot. Sent by the web (lobby / manager), the CSV import, or a bank's booking system."""

    code: BookingCode
    at: float
    business: Code
    tier: Code = "normal"
    customer: CustomerHash = ""
    masked_name: MaskedName = ""
    source: BookingSource = "system"
    by: Person = ""


class CancelBooking(Msg, tag="cancel_booking", tag_field="op", kw_only=True):
    code: BookingCode
    by: Person = ""


class CheckIn(Msg, tag="check_in", tag_field="op", kw_only=True):
    """At the kiosk: the booking's code as typed, or the keyed hash of the card swiped."""

    code: Annotated[str, msgspec.Meta(max_length=MAX_BOOKING_CODE)] = ""
    customer: CustomerHash = ""
    kiosk: Code = ""


class Tick(Msg, tag="tick", tag_field="op", kw_only=True):
    """Time passes: rating timeouts and wait alerts fire. Sent by the core service's timer."""


class AckAlert(Msg, tag="ack_alert", tag_field="op", kw_only=True):
    """Someone has seen an alert and is dealing with it. With `number` only: a ticket's wait alerts,
    `by` a teller id of the config (qcall ack). With `key`: one alert as the web dashboard names it
    ("wait:A012", "paper:kiosk1:…"), `by` the web login; the first acknowledgement of a key wins."""

    number: Number = ""
    by: Person
    key: AlertKey = ""


KioskNoteKind = Literal["offer_accepted", "offer_declined", "printer_fault", "unknown_card"]


class KioskNote(Msg, tag="kiosk_note", tag_field="op", kw_only=True):
    """Something the kiosk saw that made no ticket: a self-service offer accepted (the customer went
    to the machine) or declined (took a ticket anyway), a printer fault, an unknown card. Sent to
    the core so it is journaled with the day (and archived into the history); the core only
    re-announces it as a `KioskNoted` event. `detail` is a short code, never a card number."""

    kind: KioskNoteKind
    kiosk: Code = ""
    business: Code = ""
    detail: Code = ""


class UnlockPin(Msg, tag="unlock_pin", tag_field="op", kw_only=True):
    """A manager lifts a PIN lockout (a teller id, and every device it locked) before the window
    ends. Handled by the core service, never journaled (the lockouts are kept in the journal's meta
    table, not replayed)."""

    teller: Code


class ResetDay(Msg, tag="reset_day", tag_field="op", kw_only=True):
    """Start a new business day (YYYY-MM-DD); numbers restart. Refused unless `day` is a real date
    after the core's current day; from a device also when the branch clock has not reached it."""

    day: Day


class ClockStep(Msg, tag="clock_step", tag_field="op", kw_only=True):
    """Branch time steps to the journaled `at` of this command (either way): the core service's
    own command, sent only while nobody is waiting, called or being served (qserver.clock)."""


class ConfirmClock(Msg, tag="confirm_clock", tag_field="op", kw_only=True):
    """A manager confirms the branch's clock (a Pi without time sync): `now` is the time on the
    manager's device, epoch seconds. Handled by the core service, never journaled."""

    now: float


Command = (
    Issue | CallNext | Recall | Skip | Requeue | Transfer | StartService | FinishService | Rate
    | Pause | Resume | OpenCounter | CloseCounter | Login | Logout | Cancel | Tick | ResetDay
    | ClockStep | ConfirmClock
    | KioskNote | AckAlert | Move | SetNotice | UnlockPin | Book | CancelBooking | CheckIn
)
# What a teller's keypad or panel sends for its counter. Not `Rate`: a rating comes from the
# customer's pad (qbus.roles), never from the teller being rated.
COUNTER_COMMANDS = (
    CallNext, Recall, Skip, Transfer, StartService, FinishService, Pause, Resume,
    OpenCounter, CloseCounter, Login, Logout,
)


class Request(Msg, kw_only=True):
    """What a device publishes: a request id (for replies and de-duplication) and one command."""

    v: int = SCHEMA_VERSION
    id: Annotated[str, Meta(min_length=1, max_length=MAX_ID)]  # "" would make every such request one
    cmd: Command


# --------------------------------------------------------------------------------------------
# Views shared by replies and events


class TicketView(Msg, kw_only=True):
    """A ticket as devices see it. `id` (day + number) goes in the QR code."""

    id: Id
    number: Number
    business: Code
    tier: Code
    via: Via = "button"
    issued_at: float
    ahead: int = 0
    est_wait_s: float = 0.0
    masked_name: Name = ""
    appointment_at: float = 0.0
    granted_by: Code = ""
    booking: Code = ""  # the booking code this ticket was checked in from
    booking_late: bool = False  # checked in past the lateness window: a normal ticket instead


class BookingView(Msg, kw_only=True):
    """One booking as the lobby's day list and the booking system see it (no raw card or phone)."""

    code: BookingCode
    at: float
    business: Code
    tier: Code = "normal"
    masked_name: MaskedName = ""
    source: BookingSource = "system"
    by: Person = ""
    status: Literal["booked", "checked_in", "late", "missed", "cancelled"] = "booked"
    number: Number = ""  # the ticket it became at check-in
    checked_in_at: float = 0.0


class ErrorInfo(Msg, kw_only=True):
    code: Code
    en: Text
    zh: Text


class Reply(Msg, kw_only=True):
    """The answer to one request: `ok` with a result, or an error in Chinese and English."""

    v: int = SCHEMA_VERSION
    id: Id
    ok: bool
    ticket: TicketView | None = None
    number: Number = ""
    counter: CounterNo = 0
    error: ErrorInfo | None = None


# --------------------------------------------------------------------------------------------
# Events: core -> everyone.  Topic: <prefix>/v1/<branch>/event/<type>


class Event(Msg, tag_field="type"):
    """Base of every domain event; `at` is branch time (seconds since the epoch).

    `seq` is the journal row whose command produced the event and `n` its place among that row's
    events: replay derives the same pair, so (branch, seq, n) names one event for ever and head
    office stores each once however often a reconnect or the outbox delivers it (0: not journaled).
    """

    at: float
    seq: int = 0
    n: int = 0


class TicketIssued(Event, tag="issued", kw_only=True):
    ticket: TicketView


class TicketCalled(Event, tag="called", kw_only=True):
    number: Number
    counter: CounterNo
    business: Code
    tier: Code
    waited_s: float
    teller: Code = ""
    booked: bool = False  # an appointment ticket called (waited_s counts from the booked time)


class TicketRecalled(Event, tag="recalled", kw_only=True):
    number: Number
    counter: CounterNo
    recalls: int


class TicketSkipped(Event, tag="skipped", kw_only=True):
    number: Number
    counter: CounterNo


class TicketRequeued(Event, tag="requeued", kw_only=True):
    number: Number
    by: Code = ""


class TicketMoved(Event, tag="moved", kw_only=True):
    """A waiting ticket moved to another business type by lobby staff (分流)."""

    number: Number
    from_business: Code
    to_business: Code
    by: Code = ""


class TicketTransferred(Event, tag="transferred", kw_only=True):
    number: Number
    from_counter: CounterNo
    to_business: Code
    to_counter: CounterNo = 0


class TicketCancelled(Event, tag="cancelled", kw_only=True):
    number: Number
    by: Code = ""


class ServiceStarted(Event, tag="started", kw_only=True):
    number: Number
    counter: CounterNo
    teller: Code = ""


class ServiceFinished(Event, tag="finished", kw_only=True):
    number: Number
    counter: CounterNo
    service_s: float
    teller: Code = ""
    rating_requested: bool = True


class ServiceRated(Event, tag="rated", kw_only=True):
    """stars == 0 means unrated (timed out, not requested, or the next call came first): then
    `reason` says why and `source` is empty; a real rating names its `source` device (`pad3`)."""

    number: Number
    counter: CounterNo
    stars: Stars
    teller: Code = ""
    reason: Code = ""
    source: Code = ""


class CounterChanged(Event, tag="counter", kw_only=True):
    """`reason`: why a counter paused (see Pause), "" otherwise; `by`: who changed it from the
    office ("" from the keypad)."""

    counter: CounterNo
    status: CounterStatus
    teller: Code = ""
    number: Number = ""
    by: Code = ""
    reason: Code = ""


class WaitAlert(Event, tag="alert", kw_only=True):
    """kind: 'wait' (anyone past the branch limit) or 'tier' (past the tier's target)."""

    kind: Literal["wait", "tier"]
    number: Number
    business: Code
    tier: Code
    waited_s: float
    limit_s: float


class DayReset(Event, tag="day_reset", kw_only=True):
    day: Day


class AlertAcked(Event, tag="alert_ack", kw_only=True):
    """Alerts acknowledged by `by` (see AckAlert): a ticket's wait alerts (`number`), or one
    dashboard alert (`key`)."""

    number: Number = ""
    by: Person
    key: AlertKey = ""


class KioskNoted(Event, tag="kiosk", kw_only=True):
    """A kiosk's note (see KioskNote), as journaled: the history archives it with the day."""

    kiosk: Code
    kind: KioskNoteKind
    business: Code = ""
    detail: Code = ""


AdviceKind = Literal["open_counter", "satisfaction", "low_rating"]


class Advice(Event, tag="advice", kw_only=True):
    """Live advice for the lobby manager (published on alert/advice by the service's advisor).

    open_counter: `business`'s estimated wait passed its target; `counters` are the closed or
    paused counters that serve it. satisfaction: the share of satisfied ratings over the last
    `sample` ratings fell below the target. low_rating: a 1-2 star rating at `counter` (`number`,
    `teller`): the lobby manager should speak with the customer. `value` / `target` are the
    measured figure and its target (seconds, or a share)."""

    kind: AdviceKind
    business: Code = ""
    counters: Annotated[list[CounterNo], Meta(max_length=MAX_COUNTERS)] = []
    counter: CounterNo = 0
    number: Number = ""
    teller: Code = ""
    value: float = 0.0
    target: float = 0.0
    sample: int = 0
    zh: Text = ""
    en: Text = ""


class NoticeSet(Event, tag="notice", kw_only=True):
    zh: NoticeText = ""
    en: NoticeText = ""
    by: Person = ""


class PinLockout(Event, tag="pin_lockout", kw_only=True):
    """Wrong PINs locked a teller id (`kind` teller) or a device (`kind` device: it tried several
    ids) out of PIN checks until `until`. Published by the core service on `alert/pin_lockout`
    only (not journaled; the lockout itself is kept across restarts in the journal's meta table).
    `counter` is 0 for a kiosk's staff PIN."""

    kind: Literal["teller", "device"]
    teller: Code
    device: Code
    counter: CounterNo = 0
    failures: int
    until: float
class BookingMade(Event, tag="booked", kw_only=True):
    booking: BookingView


class BookingCancelled(Event, tag="booking_cancelled", kw_only=True):
    code: BookingCode
    by: Person = ""


class BookingCheckedIn(Event, tag="checked_in", kw_only=True):
    """A booking became ticket `number`. `late`: past the lateness window, so a normal ticket;
    `early_s` how long before the booked time it came (negative: after). History counts kept /
    late from these and the wait from the booked time as TicketCalled.at - booked_at."""

    code: BookingCode
    number: Number
    business: Code
    booked_at: float
    late: bool = False
    early_s: float = 0.0


class BookingMissed(Event, tag="booking_missed", kw_only=True):
    """Nobody checked in for a booking by the end of its business day (a no-show)."""

    code: BookingCode
    business: Code
    booked_at: float


AnyEvent = (
    TicketIssued | TicketCalled | TicketRecalled | TicketSkipped | TicketRequeued | TicketTransferred
    | TicketCancelled | ServiceStarted | ServiceFinished | ServiceRated | CounterChanged | WaitAlert
    | DayReset | KioskNoted | Advice | AlertAcked | TicketMoved | NoticeSet | PinLockout
    | BookingMade | BookingCancelled | BookingCheckedIn | BookingMissed
)


# --------------------------------------------------------------------------------------------
# Retained state: what a device needs to draw itself after a restart, with no history.


class CounterState(Msg, kw_only=True):
    """Retained per counter: <prefix>/v1/<branch>/state/counter/<id>."""

    v: int = SCHEMA_VERSION
    counter: CounterNo
    status: CounterStatus
    teller: Code = ""
    teller_name: Name = ""
    number: Number = ""
    business: Code = ""
    recalls: int = 0
    # The ticket in hand: its tier and how long it waited before this call (what the teller's
    # keypad and panel show after calling), and how many wait for this counter when the state was
    # made (its business types plus tickets transferred to it).
    tier: Code = ""
    waited_s: float = 0.0
    waiting: int = 0
    since: float = 0.0  # when it entered this status (branch time): "paused since 10:42"
    reason: Code = ""  # a pause's reason given from the office
    by: Person = ""  # who last changed it from the office


# Retained state keyed by what the config names (at most as many keys as the config may have).
_V = TypeVar("_V")
ByBusiness: TypeAlias = Annotated[dict[Code, _V], Meta(max_length=MAX_BUSINESSES)]
ByTier: TypeAlias = Annotated[dict[Code, _V], Meta(max_length=MAX_TIERS)]
ByStaff: TypeAlias = Annotated[dict[Code, _V], Meta(max_length=MAX_STAFF + 1)]  # and "": nobody signed in
ByCounter: TypeAlias = Annotated[dict[CounterKey, _V], Meta(max_length=MAX_COUNTERS)]
ByHour: TypeAlias = Annotated[dict[HourKey, _V], Meta(max_length=24)]


class QueueState(Msg, kw_only=True):
    """Retained: people waiting per business type (and per tier inside it)."""

    v: int = SCHEMA_VERSION
    waiting: ByBusiness[int]
    by_tier: ByBusiness[ByTier[int]] = {}
    est_wait_s: ByBusiness[float] = {}
    # Since when the longest-waiting ticket of each business and tier waits (branch time).
    oldest: ByBusiness[ByTier[float]] = {}


class WaitSummary(Msg, kw_only=True):
    """Seconds over a group of tickets: how many, mean, 90th percentile (nearest rank), longest."""

    n: int
    mean: float
    p90: float
    max: float


class TellerStats(Msg, kw_only=True):
    """One teller's day (星级柜员). Rates are 0..1; None while there is nothing to rate them on."""

    served: int
    service_s_mean: float
    rated: int
    stars_mean: float | None
    satisfaction_rate: float | None
    unrated_rate: float | None


class CounterStats(Msg, kw_only=True):
    """One counter's day, for its card on the dashboard (satisfaction None: nobody rated yet)."""

    served: int
    satisfaction_rate: float | None


class StatsState(Msg, kw_only=True):
    """Retained `state/stats`: the day's figures for the manager, republished every minute.

    Waits count to the first call; rates are shares 0..1 (None: nothing to compute them on yet);
    `counter_busy_share` is keyed by counter id, `arrivals_by_hour` and `staffing_advice` (counters
    to open, Erlang C, so 80% wait under the alert limit) by the branch's local hour "09".
    """

    v: int = SCHEMA_VERSION
    day: MaybeDay
    at: float = 0.0  # branch time the figures were made: a stale retained copy is told apart
    issued: int
    served: int
    no_shows: int
    cancelled: int
    still_waiting: int
    wait_s: WaitSummary
    wait_s_by_tier: ByTier[WaitSummary] = {}
    wait_s_by_type: ByBusiness[WaitSummary] = {}
    service_s_by_type: ByBusiness[WaitSummary] = {}
    satisfaction_rate: float | None = None
    unrated_rate: float | None = None
    tier_target_met: ByTier[float] = {}
    counter_busy_share: ByCounter[float] = {}
    by_teller: ByStaff[TellerStats] = {}
    by_counter: ByCounter[CounterStats] = {}
    priority_grants_by_staff: ByStaff[int] = {}
    arrivals_by_hour: ByHour[int] = {}
    staffing_advice: ByHour[int] = {}


class CallView(Msg, kw_only=True):
    number: Number
    counter: CounterNo
    at: float
    business: Code = ""
    recall: int = 0
    booked: bool = False  # an appointment (预约) ticket: the hall screen marks it


class HallView(Msg, kw_only=True):
    """Retained: everything the hall display shows, so a restarted screen redraws at once."""

    v: int = SCHEMA_VERSION
    day: MaybeDay = ""  # "" before the first day
    calling: Annotated[list[CallView], Meta(max_length=MAX_COUNTERS)] = []
    recent: Annotated[list[CallView], Meta(max_length=MAX_RECENT)] = []
    waiting: ByBusiness[int] = {}
    paused: Annotated[list[CounterNo], Meta(max_length=MAX_COUNTERS)] = []
    closed: Annotated[list[CounterNo], Meta(max_length=MAX_COUNTERS)] = []
    notice_zh: NoticeText = ""
    notice_en: NoticeText = ""
    # The branch's clock is not confirmed yet (no time sync, no manager's confirmation): the day
    # is not opened and requests are refused until it is; the screen says 系统时间未确认.
    clock_unconfirmed: bool = False


class Presence(Msg, kw_only=True):
    """Retained per device, with a Last Will of `online: false`.

    `via`: the device that publishes this presence for another (the bridge for `pad<N>`). Such a
    presence has no Last Will of its own, so it is only as current as `via`'s: when `via` is
    offline, read it as unknown."""

    v: int = SCHEMA_VERSION
    device: Code
    online: bool
    kind: Code = ""
    detail: Text = ""
    via: Code = ""


class AckView(Msg, kw_only=True):
    by: Person
    at: float


class AcksState(Msg, kw_only=True):
    """Retained `state/acks`: the day's acknowledged alerts, so a restarted dashboard still names who."""

    v: int = SCHEMA_VERSION
    day: MaybeDay = ""
    acks: Annotated[dict[AlertKey, AckView], Meta(max_length=MAX_ACKS)] = {}


class BookingsState(Msg, kw_only=True):
    """Retained `state/bookings`: every booking the core holds (today's and later days'), by time."""

    v: int = SCHEMA_VERSION
    bookings: Annotated[list[BookingView], Meta(max_length=MAX_BOOKINGS)] = []


class WaitingEntry(Msg, array_like=True):
    """One waiting ticket in `state/waiting`, a compact JSON array: `["A012", "cash", "normal", 1764554400.5, false]`."""

    number: Number
    business: Code
    tier: Code
    key: Annotated[float, Meta(ge=0, le=1e10)]  # the core's wait key (issue, appointment or re-queue time)
    booked: bool = False  # an appointment ticket


class WaitingState(Msg, kw_only=True):
    """Retained `state/waiting`: every waiting ticket, oldest wait key first (at most
    MAX_WAITING_LISTED: the first to be reached; `complete` is false when some are left out).

    What a service that (re)starts mid-day needs to know where each ticket stands (the web's phone
    pages) without the day's events. Sent at most every half second while tickets come and go.
    Numbers, business types, tiers and wait keys only: no names, no hashes.
    """

    v: int = SCHEMA_VERSION
    day: MaybeDay = ""
    seq: int = 0  # the journal row it reflects: every event up to this `seq` is in it
    tickets: Annotated[list[WaitingEntry], Meta(max_length=MAX_WAITING_LISTED)] = []
    complete: bool = True


class Notice(Msg, kw_only=True):
    """A notice line for the hall display (retained)."""

    v: int = SCHEMA_VERSION
    zh: NoticeText = ""
    en: NoticeText = ""


_command_decoder = msgspec.json.Decoder(Request)
_event_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()


def encode(msg: msgspec.Struct) -> bytes:
    """JSON bytes for any message here."""
    return _encoder.encode(msg)


def decode_request(data: bytes) -> Request:
    """Parse a device request; raises PayloadError with a readable reason.

    A payload nested thousands of levels deep makes msgspec raise RecursionError: that is a bad
    payload like any other, never an exception that could stop the caller."""
    from qbus.errors import PayloadError

    try:
        return _command_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise PayloadError(f"bad request: {err}", zh="请求格式错误") from err
    except RecursionError as err:
        raise PayloadError("bad request: nested too deeply", zh="请求格式错误") from err


class _RequestId(msgspec.Struct):
    id: Id = ""


_request_id_decoder = msgspec.json.Decoder(_RequestId)


def request_id_of(data: bytes) -> str:
    """Best effort: the request id of a payload that failed validation, so the error reply can be
    matched to its request ("" when there is none, or the payload is not even JSON)."""
    try:
        return _request_id_decoder.decode(data).id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    except RecursionError:  # the id may follow the deep part: no command has an `id` of its own
        found = _ID_FIELD.search(data)
        return found.group(1).decode() if found else ""


_ID_FIELD = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,%d})"' % MAX_ID)


def decode_event(data: bytes) -> AnyEvent:
    from qbus.errors import PayloadError

    try:
        return _event_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise PayloadError(f"bad event: {err}", zh="事件格式错误") from err


StructT = TypeVar("StructT", bound=msgspec.Struct)


def decode(data: bytes, kind: type[StructT]) -> StructT:
    """Parse retained state or any other message of a known type (typed as that type)."""
    from qbus.errors import PayloadError

    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise PayloadError(f"bad {kind.__name__}: {err}", zh="消息格式错误") from err
