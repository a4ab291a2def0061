"""A ticket and its life: waiting → called → serving → served, or missed / cancelled."""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    WAITING = 0
    CALLED = 1
    SERVING = 2
    SERVED = 3
    MISSED = 4
    CANCELLED = 5


class Ticket:
    """One customer's ticket for one business day.

    `issued_at` never changes (a transfer keeps it, so stats and fairness see the true wait);
    `wait_from` is the key the queues order by (issue time, appointment time, or re-queue time).
    `gen` invalidates stale queue entries: every entry records the gen it was pushed with.
    """

    __slots__ = (
        "appointment_at", "business", "called_at", "counter", "customer", "finished_at", "first_wait_s",
        "gen", "granted_by", "issued_at", "kiosk", "lane", "masked_name", "missed_at", "number", "rating",
        "recalls", "seq", "started_at", "state", "teller", "tier", "transfers", "via", "wait_from",
    )

    def __init__(
        self, seq: int, number: str, business: str, tier: str, via: str, issued_at: float,
        wait_from: float, customer: str = "", masked_name: str = "", appointment_at: float = 0.0,
        granted_by: str = "", kiosk: str = "",
    ) -> None:
        self.seq = seq
        self.number = number
        self.business = business
        self.tier = tier
        self.via = via
        self.issued_at = issued_at
        self.wait_from = wait_from
        self.customer = customer
        self.masked_name = masked_name
        self.appointment_at = appointment_at
        self.granted_by = granted_by
        self.kiosk = kiosk
        self.state = State.WAITING
        self.gen = 0
        self.lane: object = None
        self.counter = 0
        self.teller = ""
        self.called_at = 0.0
        self.started_at = 0.0
        self.finished_at = 0.0
        self.missed_at = 0.0
        self.first_wait_s = -1.0
        self.recalls = 0
        self.transfers = 0
        self.rating = -1

    def __repr__(self) -> str:
        return f"Ticket({self.number} {self.business}/{self.tier} {self.state.name})"
