"""Who is called next at a counter: the branch's calling rules, in order.

1. Tickets transferred to this very counter.
2. Anti-starvation: the oldest ticket the counter serves that has waited past `aging_minutes`.
3. Appointments whose time has come (of the tiers the counter takes).
4. The counter's tier order (preferred tiers first, then by rank). When a non-preferred priority
   tier has had `interleave_priority` calls in a row and a normal ticket waits, the next
   `interleave_normal` calls go to the normal tier.
5. Among business types with a ticket in the chosen tier: smooth weighted round-robin by the
   counter's weights (3:1 gives A A B A A A B ...), deterministic so tests and replays agree.
6. Within one queue: first come, first served (by wait key, then issue order).

Each step looks at queue heads only, so a call costs O(types × tiers) plus one O(log n) pop at
worst, whatever the queue length. The counter's plan (which lanes, in which order) is built once
per day by `plan_counter()`, so the hot path does no dictionary walking.

The rules see the branch only through `CallingQueues` (the day's lanes and the rule parameters,
implemented by `qcore.queues.Queues`) and the counter they call for; they change nothing but the
counter's calling memory (`plan`, `streak`, `normal_run`, `wrr`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from qcore import errors as e
from qcore.lane import Entry, Lane
from qcore.ticket import Ticket

if TYPE_CHECKING:
    from qcore.counter import CounterRt


class CallingQueues(Protocol):
    """What the calling rules may read of a branch's day: its lanes and the rules' parameters."""

    @property
    def aging_s(self) -> float:
        """A ticket waiting longer than this is called first (anti-starvation, rule 2)."""

    @property
    def interleave_p(self) -> int:
        """Non-preferred priority calls in a row before normal customers get a turn (rule 4)."""

    @property
    def interleave_n(self) -> int:
        """How many normal calls that turn lasts (rule 4)."""

    @property
    def appt_live(self) -> int:
        """Appointment tickets waiting anywhere (0 lets rule 3 be skipped outright)."""

    def tier_lane(self, business: str, tier: str) -> Lane:
        """The walk-in lane of one business type and tier."""

    def appt_lane(self, business: str, tier: str) -> Lane:
        """The appointment lane of one business type and tier (ordered by appointment time)."""

    def age_lane(self, business: str) -> Lane:
        """Every walk-in and appointment ticket of a business type, oldest wait first."""

    def is_priority(self, tier: str) -> bool:
        """Whether a tier counts as priority for interleaving."""


def plan_counter(q: CallingQueues, c: CounterRt) -> None:
    """Precompute the lanes `c` looks at, in calling order (once per day: lanes are per day)."""
    c.plan = [
        (tier, q.is_priority(tier), tier in c.prefers, [(b, q.tier_lane(b, tier)) for b in c.serves])
        for tier in c.order
    ]
    c.appt_lanes = [q.appt_lane(b, tier) for b in c.serves for tier in c.order]
    if c.restricted:
        c.age_lanes = [lane for _, _, _, pairs in c.plan for _, lane in pairs] + c.appt_lanes
    else:
        c.age_lanes = [q.age_lane(b) for b in c.serves]


def pick(q: CallingQueues, c: CounterRt, now: float) -> Ticket:
    """The ticket `c` calls now (the caller removes it); updates the counter's interleave memory.

    Raises QueueEmpty when nobody the counter serves is waiting.
    """
    if c.directed.live:
        t = c.directed.head()
        if t is not None:
            return t
    e1 = _oldest(c.age_lanes, now - q.aging_s)
    if e1 is not None:
        return e1[3]
    if q.appt_live:
        e2 = _oldest(c.appt_lanes, now)
        if e2 is not None:
            return e2[3]
    return _by_tier(q, c)


def _oldest(lanes: list[Lane], limit: float) -> Entry | None:
    """The head entry with the smallest key <= limit across `lanes`."""
    best: Entry | None = None
    for lane in lanes:
        if lane.live:
            e = lane.first()
            if e is not None and e[0] <= limit and (best is None or e < best):
                best = e
    return best


def _first_row(c: CounterRt) -> tuple[str, bool, bool, list[tuple[str, Lane]]] | None:
    """The first plan row (tier) with anyone waiting."""
    for row in c.plan:
        for _, lane in row[3]:
            if lane.live:
                return row
    return None


def _by_tier(q: CallingQueues, c: CounterRt) -> Ticket:
    row = _first_row(c)
    if row is None:
        raise e.QueueEmpty(f"nobody is waiting for counter {c.id}", zh="暂无等候客户")
    _, prio, pref, pairs = row
    if not prio:
        c.streak = c.normal_run = 0
    elif not pref:
        if c.streak >= q.interleave_p:
            normal = _first_normal(c)
            if normal is not None:
                pairs = normal
                c.normal_run += 1
                if c.normal_run >= q.interleave_n:
                    c.streak = c.normal_run = 0
            else:
                c.streak += 1
        else:
            c.streak += 1
    return _by_weight(c, pairs)


def _first_normal(c: CounterRt) -> list[tuple[str, Lane]] | None:
    for _, prio, _, pairs in c.plan:
        if not prio:
            for _, lane in pairs:
                if lane.live:
                    return pairs
    return None


def _by_weight(c: CounterRt, pairs: list[tuple[str, Lane]]) -> Ticket:
    cands = [(b, lane) for b, lane in pairs if lane.live]
    if len(cands) == 1:
        lane = cands[0][1]
    else:
        wrr, serves = c.wrr, c.serves
        total = 0
        best = None
        lane = cands[0][1]
        chosen = cands[0][0]
        for b, x in cands:
            w = serves[b]
            total += w
            wrr[b] += w
            if best is None or wrr[b] > best:
                best, lane, chosen = wrr[b], x, b
        wrr[chosen] -= total
    t = lane.head()
    if t is None:  # the live count said otherwise: a broken invariant, not a user error
        raise RuntimeError("a queue counted live tickets but had none")
    return t
