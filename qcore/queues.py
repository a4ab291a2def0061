"""The day's waiting lines: every lane a ticket can wait in, and the bookkeeping that spans them.

A waiting ticket sits in exactly one *home* lane: its (business, tier) lane, its business's
appointment lane for its tier, or a counter's directed lane (`CounterRt.directed`). Tickets in the
first two are also entered in their business's *age* lane (anti-starvation: oldest first across
tiers) and in the *alert* lanes (one per wait limit), so every question the rules, the alerts and
the views ask is a head peek or a counter read. This module owns those lanes; the core decides
when tickets move, and the calling rules see the lanes only through `qcore.rules.CallingQueues`,
which `Queues` implements.
"""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heappush

from qcore.lane import Entry, Lane
from qcore.plan import BranchPlan
from qcore.ticket import State, Ticket


class Queues:
    """All lanes of one business day, built fresh at every day reset."""

    __slots__ = (
        "age", "aging_s", "ahead_lanes", "alert_lanes", "appt_live", "appts", "directed_n",
        "interleave_n", "interleave_p", "lane_of", "lanes", "tier_alert", "tier_priority",
    )

    def __init__(self, plan: BranchPlan) -> None:
        tiers = plan.tiers
        # The rules' parameters travel with the lanes they apply to (see CallingQueues).
        self.aging_s = plan.aging_s
        self.interleave_p = plan.interleave_p
        self.interleave_n = plan.interleave_n
        self.tier_priority = plan.tier_priority
        self.lanes: dict[str, dict[str, Lane]] = {b: {t: Lane() for t in tiers} for b in plan.businesses}
        self.lane_of = {(b, t): lane for b, ts in self.lanes.items() for t, lane in ts.items()}
        self.age: dict[str, Lane] = {b: Lane() for b in plan.businesses}
        # Appointments per type *and tier*, so a counter restricted to some tiers calls only theirs.
        self.appts: dict[str, dict[str, Lane]] = {b: {t: Lane() for t in tiers} for b in plan.businesses}
        # The lanes holding the people a new (business, tier) ticket has ahead of it.
        self.ahead_lanes = {
            (b, t): [self.lanes[b][x] for x in plan.ahead_tiers[t]] + list(self.appts[b].values())
            for b, t in self.lane_of
        }
        self.appt_live = 0
        # Tickets waiting in counters' directed lanes (transferred to a named counter), per type.
        self.directed_n = dict.fromkeys(plan.businesses, 0)
        # Wait alerts: one lane per limit, ordered by wait key, so a deadline check is a head peek.
        self.alert_lanes: list[tuple[str, float, Lane]] = [("wait", plan.alert_s, Lane(aged=False))]
        self.tier_alert: dict[str, Lane] = {}
        for t in plan.tier_cfg.values():
            if t.priority:
                lane = Lane(aged=False)
                self.tier_alert[t.code] = lane
                self.alert_lanes.append(("tier", t.max_wait_minutes * 60.0, lane))

    # ------------------------------------------------------------------ what the rules see

    def tier_lane(self, business: str, tier: str) -> Lane:
        return self.lanes[business][tier]

    def appt_lane(self, business: str, tier: str) -> Lane:
        return self.appts[business][tier]

    def age_lane(self, business: str) -> Lane:
        return self.age[business]

    def is_priority(self, tier: str) -> bool:
        return self.tier_priority[tier]

    # ------------------------------------------------------------------ moving tickets

    def enqueue(self, t: Ticket, lane: Lane, key: float) -> None:
        """Put a ticket in `lane` (and, for ordinary lanes, in its age and alert lanes)."""
        t.state = State.WAITING
        gen = t.gen = t.gen + 1
        t.wait_from = key
        t.lane = lane
        entry = (key, t.seq, gen, t)
        # Lane.push inlined: this is the hottest path in the core.
        for x in (lane, self.age[t.business], self.alert_lanes[0][2]) if lane.aged else (lane,):
            fifo = x.fifo
            if not fifo or fifo[-1] <= entry:
                fifo.append(entry)
            else:
                heappush(x.late, entry)
            x.live += 1
        if lane.aged:
            tier_lane = self.tier_alert.get(t.tier)
            if tier_lane is not None:
                tier_lane.push(t, key)
        else:
            self.directed_n[t.business] += 1

    def dequeue(self, t: Ticket) -> None:
        """Take a waiting ticket out of every lane it counts in (lazily: its entries go stale)."""
        lane: Lane = t.lane  # type: ignore[assignment]
        lane.live -= 1
        if lane.aged:
            self.age[t.business].live -= 1
            if t.appointment_at and lane is self.appts[t.business][t.tier]:
                self.appt_live -= 1
        else:
            self.directed_n[t.business] -= 1
        t.gen += 1
        t.lane = None

    def overdue(self, now: float) -> Iterator[tuple[str, float, Entry]]:
        """Take every alert-lane entry whose limit has passed: (kind, limit, entry), once each."""
        for kind, limit, lane in self.alert_lanes:
            while True:
                head = lane.first()
                if head is None or head[0] + limit > now:
                    break
                lane.pop()
                yield kind, limit, head

    def alert_due(self) -> list[float]:
        """When each alert lane's head reaches its limit."""
        due = []
        for _, limit, lane in self.alert_lanes:
            head = lane.first()
            if head is not None:
                due.append(head[0] + limit)
        return due

    # ------------------------------------------------------------------ counting

    def waiting(self, business: str) -> int:
        """People waiting for one business type (all tiers, appointments and transfers included)."""
        return self.age[business].live + self.directed_n[business]

    def waiting_all(self) -> dict[str, int]:
        return {b: self.age[b].live + self.directed_n[b] for b in self.lanes}

    def oldest(self) -> dict[str, dict[str, float]]:
        """Since when the longest-waiting ticket of each (business, tier) waits: one head peek each."""
        out: dict[str, dict[str, float]] = {}
        for b, tiers in self.lanes.items():
            for t, lane in tiers.items():
                head = lane.first() if lane.live else None
                if head is not None:
                    out.setdefault(b, {})[t] = head[0]
        return out

    def by_tier(self) -> dict[str, dict[str, int]]:
        """Waiting per type and tier, plus "appointment" and "directed" (transferred to a counter)."""
        out = {b: {t: lane.live for t, lane in tiers.items() if lane.live} for b, tiers in self.lanes.items()}
        for b, appts in self.appts.items():
            n = sum(lane.live for lane in appts.values())
            if n:
                out[b]["appointment"] = n
        for b, n in self.directed_n.items():
            if n:
                out[b]["directed"] = n
        return out
