"""Live advice for the lobby manager, derived from each committed batch's events.

* open_counter: a business type's estimated wait passed its target (`[targets]
  business_wait_minutes`, else the normal tier's `max_wait_minutes`): name the closed or paused
  counters that serve it. At most once per `advice_every_minutes` per business type.
* satisfaction: the satisfied share of the last `advice_ratings` ratings is below `[targets]
  satisfaction` (at most once per interval).
* low_rating: a 1-2 star rating: someone from the lobby should speak with the customer now.

Not journaled: advice is derived from what the journal holds, and after a restart the advisor
simply starts fresh. It runs in the service thread, after the commit, on the events just
published; it never changes the core.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from qbus import messages as m
from qbus.config import BranchConfig
from qcore import BranchCore

LOW_STARS = 2


class Advisor:
    def __init__(self, cfg: BranchConfig) -> None:
        t = cfg.targets
        self.cfg = cfg
        self.every_s = t.advice_every_minutes * 60
        self.satisfied_min = cfg.rating.satisfied_min
        self.target = t.satisfaction
        self.ratings: deque[int] = deque(maxlen=t.advice_ratings)
        normal = [x for x in sorted(cfg.tier, key=lambda x: x.rank) if not x.priority]
        default = (normal[-1].max_wait_minutes if normal else 10.0) * 60
        self.wait_target_s = {b.code: t.business_wait_minutes.get(b.code, default / 60) * 60 for b in cfg.business}
        self.names = {b.code: (b.name_zh, b.name_en) for b in cfg.business}
        self.last: dict[str, float] = {}

    def _due(self, key: str, now: float) -> bool:
        if now - self.last.get(key, -1e18) < self.every_s:
            return False
        self.last[key] = now
        return True

    def observe(self, events: list[Any], core: BranchCore, now: float) -> list[m.Advice]:
        """Advice for this batch of events (usually none)."""
        out: list[m.Advice] = []
        queue_moved = False
        for ev in events:
            if isinstance(ev, m.ServiceRated) and ev.stars > 0:
                self.ratings.append(ev.stars)
                if ev.stars <= LOW_STARS:
                    out.append(m.Advice(
                        at=now, kind="low_rating", counter=ev.counter, number=ev.number, teller=ev.teller,
                        value=float(ev.stars), zh=f"{ev.counter}号窗口客户{ev.number}评价{ev.stars}星，请大堂经理及时沟通",
                        en=f"Counter {ev.counter}: {ev.number} rated {ev.stars} star(s); please see the customer now"))
                out += self._satisfaction(now)
            elif isinstance(ev, m.TicketIssued | m.CounterChanged):
                queue_moved = True
        if queue_moved:
            out += self._open_counters(core, now)
        return out

    def _satisfaction(self, now: float) -> list[m.Advice]:
        n = len(self.ratings)
        if n < (self.ratings.maxlen or 1):
            return []
        rate = sum(1 for s in self.ratings if s >= self.satisfied_min) / n
        if rate >= self.target or not self._due("satisfaction", now):
            return []
        return [m.Advice(at=now, kind="satisfaction", value=round(rate, 4), target=self.target, sample=n,
                         zh=f"最近{n}次评价满意率{rate:.0%}，低于目标{self.target:.0%}",
                         en=f"Satisfaction over the last {n} ratings is {rate:.0%}, below the {self.target:.0%} target")]

    def _open_counters(self, core: BranchCore, now: float) -> list[m.Advice]:
        out = []
        est = core.queue_state().est_wait_s
        for b, wait in est.items():
            target = self.wait_target_s.get(b)
            if target is None or wait <= target:
                continue
            spare = sorted(c.id for c in core.serving[b] if c.status in ("closed", "paused"))
            if not spare or not self._due(f"open:{b}", now):
                continue
            zh, en = self.names[b]
            ids = "、".join(str(c) for c in spare)
            out.append(m.Advice(
                at=now, kind="open_counter", business=b, counters=spare, value=round(wait, 1), target=target,
                zh=f"{zh}预计等候{wait / 60:.0f}分钟，超过目标{target / 60:.0f}分钟：请开放{ids}号窗口",
                en=f"{en}: estimated wait {wait / 60:.0f} min, over the {target / 60:.0f} min target: "
                   f"open counter {', '.join(str(c) for c in spare)}"))
        return out
