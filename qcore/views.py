"""What devices and people read of the core: queue, counter and hall views, waiting and missed lists.

Built on demand from the core's state (never on the hot path) as qbus structs, so the service can
publish them as they are and a screen can redraw from any one of them alone. Nothing here changes
the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qbus import messages as m
from qcore import errors as e
from qcore.counter import CALLED, CLOSED, PAUSED, SERVING, counter_of
from qcore.ticket import State, Ticket

if TYPE_CHECKING:
    from qcore.core import BranchCore


def estimate(core: BranchCore, business: str, ahead: int) -> float:
    """Seconds until `ahead` people are served by the open counters serving `business`."""
    open_n = 0
    for c in core.serving[business]:
        if c.status != CLOSED:
            open_n += 1
    return round(ahead * core.svc_s[business] / (open_n or 1), 1)


def queue_state(core: BranchCore) -> m.QueueState:
    """People waiting per business type and tier, with the estimated wait for a new ticket.

    Besides the tiers, `by_tier` counts "appointment" tickets and "directed" ones (transferred
    to a named counter), so the per-type total is the sum of its `by_tier` entries.
    """
    waiting = core.queues.waiting_all()
    est = {b: estimate(core, b, n) for b, n in waiting.items()}
    return m.QueueState(waiting=waiting, by_tier=core.queues.by_tier(), est_wait_s=est,
                        oldest=core.queues.oldest())


def waiting_state(core: BranchCore, limit: int = m.MAX_WAITING_LISTED) -> m.WaitingState:
    """Every waiting ticket, oldest wait key first, at most `limit` of them (the first to be
    reached stay): what a service restarted mid-day rebuilds the places from."""
    everyone = waiting_list(core)
    listed = [m.WaitingEntry(t.number, t.business, t.tier, t.wait_from, t.appointment_at > 0)
              for t in everyone[:max(0, limit)]]
    return m.WaitingState(day=core.day, tickets=listed, complete=len(everyone) <= limit)


def waiting_list(core: BranchCore, business: str | None = None) -> list[Ticket]:
    """Waiting tickets (optionally of one business type), oldest first."""
    q = core.queues
    out: list[Ticket] = []
    for b in [business] if business else list(q.lanes):
        if b not in q.lanes:
            raise e.UnknownBusiness(f"unknown business type {b!r}")
        out += q.age[b].tickets()
    for c in core.counters.values():
        out += [t for t in c.directed.tickets() if business in (None, t.business)]
    return sorted(out, key=lambda t: (t.wait_from, t.seq))


def counter_state(core: BranchCore, cid: int) -> m.CounterState:
    """One counter as its keypad, panel and the manager's screens show it."""
    c = counter_of(core.counters, cid)
    t = c.ticket
    teller = core.plan.tellers.get(c.teller)
    return m.CounterState(
        counter=c.id, status=c.status, teller=c.teller,
        teller_name=teller.name if teller else "", number=t.number if t else "",
        business=t.business if t else "", recalls=t.recalls if t else 0,
        tier=t.tier if t else "", waited_s=round(t.called_at - t.wait_from, 1) if t else 0.0,
        waiting=sum(core.queues.age[b].live for b in c.serves if b in core.queues.age) + c.directed.live,
        since=c.since, reason=c.note, by=c.by,
    )


def hall_view(core: BranchCore) -> m.HallView:
    """Everything the hall display needs to redraw from nothing."""
    counters = core.counters.values()
    calling = [m.CallView(number=c.ticket.number, counter=c.id, at=c.ticket.called_at,
                          business=c.ticket.business, recall=c.ticket.recalls,
                          booked=c.ticket.appointment_at > 0)
               for c in counters if c.status in (CALLED, SERVING) and c.ticket]
    calling.sort(key=lambda v: -v.at)
    return m.HallView(
        day=core.day, calling=calling, recent=list(core.recent),
        waiting=core.queues.waiting_all(),
        paused=[c.id for c in counters if c.status == PAUSED],
        closed=[c.id for c in counters if c.status == CLOSED],
    )


def missed_list(core: BranchCore) -> list[Ticket]:
    """Tickets whose customer did not come when called (they may still re-queue)."""
    return [t for t in core.tickets.values() if t.state == State.MISSED]
