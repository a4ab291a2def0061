"""`qcall simulate --days N --history FILE`: a realistic stretch of branch days into the history.

Each day runs through the real core in virtual time (qcall.simulate) and its events are archived
exactly as a real closed day's are (qhistory.collect, one transaction per day). What makes it a
month a bank would recognise:
* weekdays differ: Monday and Friday busy, Saturday lighter, Sunday quiet;
* the lunch dip (12-14h) of the day profile, when tellers also take their lunch pause in turn;
* the pension-day peak (养老金发放日) around the 10th: half as many customers again, many elderly
  (the priority tier, granted by the lobby staff) and mostly cash;
* some customers are steered to self-service by the kiosk (offer accepted), some decline;
* a few transfers to wealth management (referrals), low ratings (which open complaints) and a
  couple of comment-book complaints; now and then a printer runs out of paper.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from qbus.config import BranchConfig
from qcall.simulate import (
    TIER_MIX,
    DayParams,
    Sim,
    Teller,
    _business_mix,
    _wake_all,
    arrival_times,
    pick_tier,
)
from qcore import BranchCore, CoreError
from qhistory import complaints as cm
from qhistory.collect import collect
from qhistory.facts import Complaint
from qhistory.store import HistoryStore

_LOG = logging.getLogger(__name__)

WEEKDAY_FACTOR = (1.15, 1.0, 0.95, 0.95, 1.1, 0.8, 0.55)
DAY_PROFILE = [0.6, 1.0, 0.9, 0.5, 0.45, 0.9, 0.8, 0.5]  # 9h..17h: morning peak, lunch dip
PAUSE_MINUTES = 30
PATIENCE_S = (25 * 60.0, 120 * 60.0)  # how long a waiting customer stays before leaving
LAST_CALL_MINUTES = 30  # tellers call until 30 min after closing; then the rest have given up
TRANSFER_P = 0.02


def pension_factor(d: dt.date) -> float:
    """养老金发放日: the 9th-11th are the peak, the 8th and 12th a little busier."""
    return {9: 1.5, 10: 1.6, 11: 1.4, 8: 1.15, 12: 1.15}.get(d.day, 1.0)


class MonthTeller(Teller):
    """A teller who also takes a lunch pause, and now and then refers a customer to wealth."""

    pause_wanted = False
    referral_to = ""
    last_call_at = float("inf")
    closing = float("inf")
    gone_home = False

    def _go_home(self) -> None:
        """After the last customer (or the last call): log out, closing the counter's day."""
        if not self.gone_home:
            self.gone_home = True
            self.sim.core.logout(self.sim.now, self.counter)

    def want_pause(self) -> None:
        self.pause_wanted = True
        if self.idle:
            self._pause()

    def _pause(self) -> None:
        sim = self.sim
        self.pause_wanted = False
        try:
            sim.core.pause(sim.now, self.counter, "lunch")
        except CoreError:
            return
        self.idle = False
        sim.at(sim.now + PAUSE_MINUTES * 60, self._resume)

    def _resume(self) -> None:
        self.sim.core.resume(self.sim.now, self.counter)
        self.idle = True
        self.try_call()

    def try_call(self) -> None:
        """Call when idle; a customer who waited past their patience has left: a no-show."""
        if not self.idle:
            return
        if self.pause_wanted:
            self._pause()
            return
        sim = self.sim
        if sim.now > self.last_call_at or (sim.now > self.closing and not sum(sim.core.queue_state().waiting.values())):
            self._go_home()
            return
        try:
            t = sim.core.call_next(sim.now, self.counter)
        except CoreError:
            return
        self.idle = False
        gone = sim.now - t.issued_at > sim.rng.uniform(*PATIENCE_S)
        if gone or sim.rng.random() < self.p.no_show:
            sim.at(sim.now + self.p.recall_every_s, lambda: self._recall(1))
        else:
            sim.at(sim.now + sim.rng.uniform(*self.p.walk_s), lambda: self._start(t.business))

    def _finish(self) -> None:
        sim = self.sim
        if self.referral_to and sim.rng.random() < TRANSFER_P:
            try:
                sim.core.transfer(sim.now, self.counter, to_business=self.referral_to)
            except CoreError:
                pass
            else:
                self._free()
                return
        super()._finish()


def _epoch(d: dt.date, hhmm: str, tz: ZoneInfo) -> float:
    hh, mm = map(int, hhmm.split(":"))
    return dt.datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz).timestamp()


def simulate_branch_day(cfg: BranchConfig, d: dt.date, seed: int, p: DayParams | None = None,
                        on_call: Callable[[Any], None] | None = None
                        ) -> tuple[list[Any], float, float, dict[str, str]]:
    """One realistic day; returns (its events in order, opened_at, closed_at, kiosk per ticket)."""
    tz = ZoneInfo(cfg.branch.timezone)
    p = p or DayParams()
    start, end = _epoch(d, cfg.hours.open, tz), _epoch(d, cfg.hours.close, tz)
    events: list[Any] = []
    core = BranchCore(cfg)
    opened = start - 3600
    core.reset_day(opened, d.isoformat())
    sim = Sim(core, seed, start, on_call, sink=events)
    events += core.drain()
    refer = next((b for b in cfg.targets.referral_businesses), "")
    tellers_cfg = [t for t in cfg.teller if t.role == "teller"]
    means = {b.code: b.service_minutes * 60 for b in cfg.business}
    rng = sim.rng
    service = lambda b: rng.lognormvariate(0, 0.5) * means[b] / 1.133  # noqa: E731 (mean = means[b])
    tellers: list[MonthTeller] = []
    for i, c in enumerate(cfg.counter):
        if i >= len(tellers_cfg):
            break
        core.login(start, c.id, tellers_cfg[i].id)
        t = MonthTeller(sim, c.id, service, p)
        t.referral_to = refer if refer and refer not in c.serves else ""
        t.last_call_at = end + LAST_CALL_MINUTES * 60
        t.closing = end
        tellers.append(t)
    events += core.drain()
    _arrivals(sim, cfg, p, d, start, end, tellers)
    lunch = _epoch(d, "12:00", tz)
    for i, t in enumerate(tellers):
        sim.at(start, t.try_call)
        sim.at(end + 1, t.try_call)
        sim.at(t.last_call_at + 1, t.try_call)
        sim.at(lunch + (i % 4) * PAUSE_MINUTES * 60, t.want_pause)
    for minute in range(int((end - start) // 60) + 60 * 3):
        sim.at(start + 60 * minute, lambda: sim.core.tick(sim.now))
    sim.run(end + 3 * 3600)
    last = sim.now
    for t in tellers:
        if not t.gone_home:
            try:
                core.logout(last, t.counter)
            except CoreError:
                _LOG.debug("counter %d still busy at the end of the simulated day", t.counter)
    events += core.drain()
    return events, opened, last, {n: t.kiosk for n, t in core.tickets.items() if t.kiosk}


def _arrivals(sim: Sim, cfg: BranchConfig, p: DayParams, d: dt.date, start: float, end: float,
              tellers: list[MonthTeller]) -> None:
    rng = sim.rng
    mix = _business_mix(cfg)
    pension = pension_factor(d)
    if pension > 1.2 and "cash" in mix:
        mix = {b: (w * 2.5 if b == "cash" else w) for b, w in mix.items()}
    tiers = {t.code for t in cfg.tier}
    normal = next(t.code for t in sorted(cfg.tier, key=lambda t: t.rank) if not t.priority)
    staff = next((t.id for t in cfg.teller if t.role == "lobby"), "")
    self_service = {b.code for b in cfg.business if b.self_service_zh or b.self_service_en}
    tier_mix = dict(TIER_MIX)
    if pension > 1.2:
        tier_mix["priority"] = 0.20
    per_hour = p.arrivals_per_hour * WEEKDAY_FACTOR[d.weekday()] * pension
    core = sim.core
    if rng.random() < 0.2:
        at = start + rng.uniform(0, end - start)
        sim.at(at, lambda: core.note_kiosk(sim.now, "kiosk1", "printer_fault", "", "paper_out"))
    for t in arrival_times(rng, start, end, per_hour, DAY_PROFILE):
        business = rng.choices(list(mix), list(mix.values()))[0]
        if business in self_service:
            if rng.random() < p.self_service_prob:
                sim.at(t, _note(sim, "offer_accepted", business))
                continue
            sim.at(t, _note(sim, "offer_declined", business))
        tier = pick_tier(rng, tier_mix, tiers, normal)
        via = "id_card" if tier == "priority" else ("bank_card" if tier != normal else
                                                     rng.choice(["button", "button", "bank_card", "passbook"]))
        granted = staff if tier == "priority" else ""
        if rng.random() < 0.01:
            sim.at(t, _note(sim, "unknown_card", ""))
        sim.at(t, _arrival(sim, business, tier, via, granted, tellers))


def _note(sim: Sim, kind: str, business: str) -> Callable[[], None]:
    return lambda: sim.core.note_kiosk(sim.now, "kiosk1", kind, business)


def _arrival(sim: Sim, business: str, tier: str, via: str, granted: str,
             tellers: list[MonthTeller]) -> Callable[[], None]:
    def arrive() -> None:
        sim.core.issue(sim.now, business, tier, via, granted_by=granted, kiosk="kiosk1")
        _wake_all(tellers)  # type: ignore[arg-type]
    return arrive


def rng_of(seed: int, i: int) -> random.Random:
    return random.Random(seed * 7919 + i)


def _handled(c: Complaint, rng: random.Random) -> Complaint:
    """Most complaints are handled in time; some late, a few still open (so overdue ones show)."""
    r = rng.random()
    if r < 0.15:
        return c
    late = 1.5 if r < 0.25 else 0.5
    contacted = c.opened_at + rng.uniform(1, 20) * 3600 * late
    replied = contacted + rng.uniform(0.2, 2.5) * 86400 * late
    return msgspec.structs.replace(c, handler="2001", contacted_at=contacted, replied_at=replied,
                                   closed_at=replied + 3600, closed_by="2001",
                                   outcome="已致电致歉并说明 / called, apologised and explained")


def simulate_month(cfg: BranchConfig, store: HistoryStore, first: dt.date, days: int, seed: int = 1,
                   arrivals_per_hour: float = 40.0, now: float | None = None) -> list[str]:
    """Archive `days` simulated days from `first` (days the branch is closed are skipped); returns
    the days archived. A day already in the store is left as it is (archiving is idempotent)."""
    done = []
    p = DayParams(arrivals_per_hour=arrivals_per_hour)
    for i in range(days):
        d = first + dt.timedelta(days=i)
        if d.isoweekday() not in cfg.hours.weekdays:
            continue
        events, opened, closed, kiosks = simulate_branch_day(cfg, d, seed * 1000 + i, p)
        facts = collect(cfg, d.isoformat(), events, opened, closed, archived_at=now or closed, kiosks=kiosks)
        extra = []
        if (seed + i) % 9 == 4:  # now and then a comment-book complaint
            extra.append(cm.new(cfg, source="comment_book", opened_at=closed - 3 * 3600, day=d.isoformat(),
                                text="等候时间太长，叫号不清楚 / waited too long, calls hard to hear",
                                ref=f"sim:{d.isoformat()}"))
        store.archive(facts, [_handled(c, rng_of(seed, i)) for c in cm.from_ratings(cfg, facts) + extra])
        done.append(d.isoformat())
    return done
