"""A closed day's domain events, re-derived by replaying its journal rows through a fresh core.

The core is deterministic, so replaying the rows from the day's `reset_day` with the `now` each
was applied at yields exactly the events the live core emitted that day (est_wait_s on tickets
aside: the core's running service-time average starts fresh). The day ends at the next accepted
`reset_day` row: the events that row's closing produces (ratings left pending, counters closed)
belong to the day it closes. A day still open (`qcall day close` before the reset) is closed on
the replayed core only, at `close_at`; nothing is journaled.

No journal I/O here: the caller (qcall) reads the rows with qserver.journal and passes them in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import QcallError
from qcore import BranchCore, Ticket

_LOG = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(m.Command)
END_OF_TIME_DAY = "9999-12-31"


class JournalRow(Protocol):
    """What replay needs of a journal row (qserver.journal.Row)."""

    @property
    def at(self) -> float: ...
    @property
    def cmd(self) -> bytes: ...


@dataclass
class ReplayedDay:
    """One business day as replayed: its events in order, and its tickets as the core held them."""

    day: str
    opened_at: float
    closed_at: float
    events: list[Any] = field(default_factory=list)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    closed_by_reset: bool = False
    bookings: list[m.BookingView] = field(default_factory=list)


class NotADayStart(QcallError, ValueError):
    code = "not_a_day_start"


def replay_day(cfg: BranchConfig, rows: Iterable[JournalRow], close_at: float | None = None,
               before: Iterable[JournalRow] = ()) -> ReplayedDay:
    """Replay rows starting at a day's `reset_day` row, up to and including the next accepted one.

    `close_at`: when the rows end without a next day (the day is still the journal's current one),
    close it at this time (default: the last row's time). `before`: the booking rows (and day
    resets) of earlier days (`booking_rows`): bookings outlive a day, so a fresh core must hold the
    ones made before the day, or its check-ins would be refused on replay and its tickets differ."""
    core = BranchCore(cfg)
    for row in before:
        _apply(core, _decoder.decode(row.cmd), row.at)
    core.drain()  # earlier days' events (and their missed bookings) are theirs, not this day's
    it = iter(rows)
    first = next(it, None)
    cmd = _decoder.decode(first.cmd) if first is not None else None
    if first is None or not isinstance(cmd, m.ResetDay):
        raise NotADayStart("a day's replay must start at its reset_day row")
    core.execute(cmd, first.at)
    core.drain()
    out = ReplayedDay(day=cmd.day, opened_at=first.at, closed_at=first.at,
                      bookings=[msgspec.structs.replace(v) for v in core.bookings_state().bookings])
    last_at = first.at
    for row in it:
        cmd = _decoder.decode(row.cmd)
        if isinstance(cmd, m.ResetDay) and cmd.day > core.day:
            out.tickets = core.tickets  # the reset replaces the dict; keep the day's
            _apply(core, cmd, row.at)
            out.events += [e for e in core.drain() if not isinstance(e, m.DayReset)]
            out.closed_at = row.at
            out.closed_by_reset = True
            return out
        _apply(core, cmd, row.at)
        out.events += core.drain()
        last_at = row.at
    out.tickets = core.tickets
    end = max(last_at, close_at if close_at is not None else last_at)
    core.reset_day(end, END_OF_TIME_DAY)
    out.events += [e for e in core.drain() if not isinstance(e, m.DayReset)]
    out.closed_at = end
    return out


def _apply(core: BranchCore, cmd: Any, at: float) -> None:
    try:
        core.execute(cmd, at)
    except QcallError:
        pass  # refused then, refused now: the core is deterministic (the journal keeps refusals)


R = TypeVar("R", bound=JournalRow)
CARRIED_OPS = (b'"op":"book"', b'"op":"cancel_booking"', b'"op":"reset_day"')


def booking_rows(rows: Iterable[R]) -> list[R]:
    """The rows a later day's replay needs first (`replay_day(before=...)`): bookings, their
    cancellations and the day resets between them (which drop bookings of past days)."""
    return [r for r in rows if any(op in r.cmd for op in CARRIED_OPS)]


def day_starts(reset_rows: Iterable[tuple[int, bytes]]) -> list[tuple[int, str]]:
    """(seq, day) of the reset_day rows the core accepted, from (seq, cmd) of every reset_day row.

    The core accepts a reset only for a day after its current one, so the accepted ones are the
    rows whose day is later than every day before them."""
    out: list[tuple[int, str]] = []
    latest = ""
    for seq, raw in reset_rows:
        cmd = _decoder.decode(raw)
        if isinstance(cmd, m.ResetDay) and cmd.day > latest:
            latest = cmd.day
            out.append((seq, cmd.day))
    return out
