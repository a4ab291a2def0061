"""A canonical, JSON-able export of a BranchCore's whole state, for "same state?" assertions.

Replay determinism (re-running a command list on a fresh core), journal replay and snapshot
restore are all checked by comparing `export(a) == export(b)`. Everything that decides what the
core does next is included (tickets, where each waits, counters with their calling-rule memory,
the clock, the learned service times, the next alert deadline), as well as what devices see
(queue_state, hall_view), so a replay that loses anything observable shows up as a diff.
"""

from __future__ import annotations

from typing import Any

import msgspec

from qcore import BranchCore, Ticket


def where(core: BranchCore, t: Ticket) -> str:
    """Which queue a waiting ticket sits in: 'tier', 'appointment', 'counter:<id>' (or '' if none)."""
    lane = t.lane
    if lane is None:
        return ""
    if lane is core.queues.lanes[t.business][t.tier]:
        return "tier"
    if lane is core.queues.appts[t.business][t.tier]:
        return "appointment"
    for c in core.counters.values():
        if lane is c.directed:
            return f"counter:{c.id}"
    return "?"


def ticket_row(core: BranchCore, t: Ticket) -> dict[str, Any]:
    return {
        "number": t.number, "seq": t.seq, "state": t.state.name, "business": t.business, "tier": t.tier,
        "via": t.via, "customer": t.customer, "masked_name": t.masked_name, "kiosk": t.kiosk,
        "granted_by": t.granted_by, "appointment_at": t.appointment_at,
        "issued_at": t.issued_at, "wait_from": t.wait_from, "queue": where(core, t),
        "counter": t.counter, "teller": t.teller, "called_at": t.called_at, "started_at": t.started_at,
        "finished_at": t.finished_at, "missed_at": t.missed_at, "first_wait_s": t.first_wait_s,
        "recalls": t.recalls, "transfers": t.transfers, "rating": t.rating,
    }


def _number(t: Ticket | None) -> str:
    return t.number if t is not None else ""


def counter_row(core: BranchCore, cid: int) -> dict[str, Any]:
    c = core.counters[cid]
    return {
        "id": c.id, "status": c.status, "teller": c.teller, "ticket": _number(c.ticket),
        "rating_ticket": _number(c.rating_ticket), "rating_due": c.rating_due,
        "last_rated": _number(c.last_rated), "streak": c.streak, "normal_run": c.normal_run,
        "wrr": dict(c.wrr), "directed": [t.number for t in c.directed.tickets()],
        "busy_s": c.busy_s, "open_s": c.open_s, "since": c.since, "by": c.by, "note": c.note,
    }


def export(core: BranchCore) -> dict[str, Any]:
    """The core's state as plain data (tickets in issue order, counters by id)."""
    return {
        "day": core.day,
        "clock": core.clock,
        "next_no": dict(core.next_no),
        "seq": core.seq,
        "service_s": dict(core.svc_s),
        "tickets": [ticket_row(core, t) for t in sorted(core.tickets.values(), key=lambda t: t.seq)],
        "waiting": [t.number for t in core.waiting_list()],
        "counters": [counter_row(core, cid) for cid in sorted(core.counters)],
        "queue_state": msgspec.to_builtins(core.queue_state()),
        "hall_view": msgspec.to_builtins(core.hall_view()),
        "missed": [t.number for t in core.missed_list()],
        "next_deadline": core.next_deadline(),
        "acks": msgspec.to_builtins(core.acks_state()),
        "notice": list(core.notice),
        "bookings": msgspec.to_builtins(core.bookings_state()),
        "booking_customers": {code: b.customer for code, b in sorted(core.bookings.items())},
    }
