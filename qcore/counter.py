"""A counter's live state inside the core."""

from __future__ import annotations

from qbus.messages import CounterStatus
from qcore import errors as e
from qcore.lane import Lane
from qcore.ticket import Ticket

# Short names for the one definition (qbus.messages.CounterStatus): the operations read as prose.
CLOSED, IDLE, CALLED, SERVING = CounterStatus.CLOSED, CounterStatus.IDLE, CounterStatus.CALLED, CounterStatus.SERVING
RATING, PAUSED = CounterStatus.RATING, CounterStatus.PAUSED


class CounterRt:
    """What the core tracks per counter: status, teller, ticket in hand, calling-rule memory.

    `order` is the tier order this counter calls in (preferred tiers first, then by rank),
    `prefers` its preferred tiers, `restricted` whether it takes only some tiers;
    `streak`/`normal_run` implement the interleaving ratio; `wrr` holds smooth weighted
    round-robin credit per business type; `directed` holds tickets transferred to this counter.
    """

    __slots__ = (
        "age_lanes", "appt_lanes", "busy_s", "by", "directed", "id", "last_rated", "normal_run", "note",
        "open_s", "order", "plan", "prefers", "rating_due", "rating_ticket", "restricted", "serves",
        "since", "status", "streak", "teller", "ticket", "wrr",
    )

    def __init__(self, cid: int, serves: dict[str, int], order: list[str],
                 prefers: frozenset[str] = frozenset(), restricted: bool = False) -> None:
        self.id = cid
        self.serves = serves
        self.order = order
        self.prefers = prefers
        self.restricted = restricted
        self.status: CounterStatus = CLOSED
        self.teller = ""
        self.ticket: Ticket | None = None
        self.rating_ticket: Ticket | None = None
        self.rating_due = 0.0
        self.last_rated: Ticket | None = None
        self.streak = 0
        self.normal_run = 0
        self.wrr = dict.fromkeys(serves, 0)
        self.directed = Lane(aged=False)
        self.busy_s = 0.0
        self.open_s = 0.0
        self.since = 0.0
        # Who put the counter in its status from the office, and why (a pause's reason); "" otherwise.
        self.by = ""
        self.note = ""
        # Filled by qcore.rules.plan_counter(): (tier, is_priority, is_preferred, [(business, lane)]).
        self.plan: list[tuple[str, bool, bool, list[tuple[str, Lane]]]] = []
        self.age_lanes: list[Lane] = []
        self.appt_lanes: list[Lane] = []

    def open_busy_s(self, now: float) -> tuple[float, float]:
        """Seconds open and seconds busy (calling or serving) so far today, the running stretch
        included (qcore.stats' busy share). BranchCore._status books the same rule, inlined."""
        open_s, busy_s, status = self.open_s, self.busy_s, self.status
        if status != CLOSED:
            elapsed = now - self.since
            open_s += elapsed
            if status == CALLED or status == SERVING:
                busy_s += elapsed
        return open_s, busy_s


def counter_of(counters: dict[int, CounterRt], cid: int) -> CounterRt:
    """The counter with id `cid`, or the UnknownCounter error a device is shown."""
    c = counters.get(cid)
    if c is None:
        raise e.UnknownCounter(f"counter {cid} does not exist", zh=f"没有 {cid} 号窗口")
    return c
