"""From a bus command (a qbus.messages struct) to the core operation it names.

The service and the journal replay hand the core decoded commands; this table is the one place
that says which struct runs which `BranchCore` method with which fields, so replaying a journal
and serving live traffic cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qbus import messages as m
from qcore import errors as e

if TYPE_CHECKING:
    from qcore.core import BranchCore

Op = Callable[["BranchCore", Any, float], Any]


def _issue(core: BranchCore, c: m.Issue, now: float) -> m.TicketView:
    return core.issue(now, c.business, c.tier, c.via, c.customer, c.masked_name, c.appointment_at,
                      c.granted_by, c.kiosk)


OPS: dict[type, Op] = {
    m.Issue: _issue,
    m.CallNext: lambda k, c, now: k.call_next(now, c.counter),
    m.Recall: lambda k, c, now: k.recall(now, c.counter),
    m.Skip: lambda k, c, now: k.skip(now, c.counter),
    m.Requeue: lambda k, c, now: k.requeue(now, c.number, c.by),
    m.Transfer: lambda k, c, now: k.transfer(now, c.counter, c.to_business, c.to_counter),
    m.StartService: lambda k, c, now: k.start(now, c.counter),
    m.FinishService: lambda k, c, now: k.finish(now, c.counter, c.request_rating),
    m.Rate: lambda k, c, now: k.rate(now, c.counter, c.stars, c.source),
    m.Pause: lambda k, c, now: k.pause(now, c.counter, c.reason, c.by),
    m.Resume: lambda k, c, now: k.resume(now, c.counter, c.by),
    m.OpenCounter: lambda k, c, now: k.open(now, c.counter, c.by),
    m.CloseCounter: lambda k, c, now: k.close(now, c.counter, c.by),
    m.Login: lambda k, c, now: k.login(now, c.counter, c.teller),
    m.Logout: lambda k, c, now: k.logout(now, c.counter),
    m.Cancel: lambda k, c, now: k.cancel(now, c.number, c.by),
    m.Move: lambda k, c, now: k.move(now, c.number, c.to_business, c.by),
    m.SetNotice: lambda k, c, now: k.set_notice(now, c.zh, c.en, c.by),
    m.Book: lambda k, c, now: k.book(now, c.code, c.at, c.business, c.tier, c.customer, c.masked_name,
                                     c.source, c.by),
    m.CancelBooking: lambda k, c, now: k.cancel_booking(now, c.code, c.by),
    m.CheckIn: lambda k, c, now: k.check_in(now, c.code, c.customer, c.kiosk),
    m.Tick: lambda k, c, now: k.tick(now),
    m.ResetDay: lambda k, c, now: k.reset_day(now, c.day),
    m.ClockStep: lambda k, c, now: k.step_clock(now),
    m.KioskNote: lambda k, c, now: k.note_kiosk(now, c.kiosk, c.kind, c.business, c.detail),
    m.AckAlert: lambda k, c, now: k.ack_alert(now, c.number, c.by, c.key),
}


def execute(core: BranchCore, cmd: Any, now: float) -> Any:
    """Apply one bus command. Returns the ticket view or ticket touched (None for the rest)."""
    op = OPS.get(type(cmd))
    if op is None:
        raise e.CoreError(f"the core does not handle {type(cmd).__name__}")
    return op(core, cmd, now)
