"""A branch day (or a plain FIFO queue) in accelerated virtual time, through the real core.

Discrete-event simulation: a heap of (time, order, action). Customers arrive from an hourly
profile (peaks mid-morning and mid-afternoon), tellers call, serve and ask for ratings, some
customers never come (no-shows) or never rate. The FIFO mode (one queue, C identical counters,
Poisson arrivals, exponential service, no tiers or no-shows) exists so the simulator can be
checked against M/M/c queueing theory.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig, loads
from qcore import BranchCore, CoreError, stats
from qserver.clock import local_hour

# Arrivals per hour from opening, relative: peaks mid-morning (10-11h) and mid-afternoon (14-15h).
DAY_PROFILE = [0.6, 1.0, 0.85, 0.55, 0.5, 0.9, 0.75, 0.45]
TIER_MIX = {"private": 0.01, "wealth": 0.03, "vip": 0.10, "priority": 0.06}
STARS = [(5, 0.70), (4, 0.20), (3, 0.06), (2, 0.02), (1, 0.02)]
DAY = dt.date(2026, 11, 23)  # the simulated business day (a Monday)


def day_start(tz: str) -> float:
    """Midnight of the simulated day in the branch's own time zone, as epoch seconds."""
    return dt.datetime.combine(DAY, dt.time(0), ZoneInfo(tz)).timestamp()


@dataclass
class DayParams:
    """Knobs of a simulated branch day."""

    arrivals_per_hour: float = 40.0
    no_show: float = 0.03
    rate_prob: float = 0.85
    self_service_prob: float = 0.2
    walk_s: tuple[float, float] = (10.0, 40.0)
    recall_every_s: float = 30.0


@dataclass(order=True)
class _Ev:
    at: float
    order: int
    action: Callable[[], None] = field(compare=False)


class Sim:
    """The event loop: schedule callables at virtual times, run them in order."""

    def __init__(self, core: BranchCore, seed: int, start: float,
                 on_call: Callable[[m.TicketCalled], None] | None = None,
                 sink: list[Any] | None = None) -> None:
        self.core = core
        self.rng = random.Random(seed)
        self.now = start
        self.heap: list[_Ev] = []
        self.n = 0
        self.on_call = on_call
        self.sink = sink  # every event, in order (the month simulator archives them)

    def at(self, t: float, action: Callable[[], None]) -> None:
        self.n += 1
        heapq.heappush(self.heap, _Ev(t, self.n, action))

    def run(self, until: float) -> None:
        while self.heap and self.heap[0].at <= until:
            ev = heapq.heappop(self.heap)
            self.now = ev.at
            ev.action()
            self._drain()

    def _drain(self) -> None:
        events = self.core.drain()
        if self.sink is not None:
            self.sink += events
        if self.on_call is not None:
            for ev in events:
                if isinstance(ev, m.TicketCalled):
                    self.on_call(ev)


class Teller:
    """One counter's teller: call when idle, wait for the customer, serve, ask for a rating."""

    def __init__(self, sim: Sim, counter: int, service: Callable[[str], float], p: DayParams,
                 fifo: bool = False) -> None:
        self.sim, self.counter, self.service, self.p, self.fifo = sim, counter, service, p, fifo
        self.idle = True

    def try_call(self) -> None:
        if not self.idle:
            return
        sim = self.sim
        try:
            t = sim.core.call_next(sim.now, self.counter)
        except CoreError:
            return  # nobody waiting; an arrival will wake us
        self.idle = False
        if self.fifo:
            self._start(t.business)
            return
        if sim.rng.random() < self.p.no_show:
            sim.at(sim.now + self.p.recall_every_s, lambda: self._recall(1))
        else:
            sim.at(sim.now + sim.rng.uniform(*self.p.walk_s), lambda: self._start(t.business))

    def _recall(self, n: int) -> None:
        sim = self.sim
        if n <= 2:
            sim.core.recall(sim.now, self.counter)
            sim.at(sim.now + self.p.recall_every_s, lambda: self._recall(n + 1))
            return
        sim.core.skip(sim.now, self.counter)
        self._free()

    def _start(self, business: str) -> None:
        sim = self.sim
        sim.core.start(sim.now, self.counter)
        sim.at(sim.now + self.service(business), self._finish)

    def _finish(self) -> None:
        sim = self.sim
        if self.fifo:
            sim.core.finish(sim.now, self.counter, request_rating=False)
            self._free()
            return
        sim.core.finish(sim.now, self.counter, request_rating=True)
        if sim.rng.random() < self.p.rate_prob:
            stars = sim.rng.choices([s for s, _ in STARS], [w for _, w in STARS])[0]
            sim.at(sim.now + sim.rng.uniform(3, 12), lambda: self._rate(stars))
        else:
            sim.at(sim.now + sim.core.plan.rating_s + 0.5, self._timeout)

    def _rate(self, stars: int) -> None:
        self.sim.core.rate(self.sim.now, self.counter, stars)
        self._free()

    def _timeout(self) -> None:
        self.sim.core.tick(self.sim.now)
        self._free()

    def _free(self) -> None:
        """Ready for the next customer (a real teller takes a couple of seconds to press the key)."""
        self.idle = True
        self.sim.at(self.sim.now + (0.0 if self.fifo else 2.0), self.try_call)


def _wake_all(tellers: list[Teller]) -> None:
    for t in tellers:
        t.try_call()


def simulate_day(cfg: BranchConfig, seed: int, p: DayParams | None = None,
                 on_call: Callable[[m.TicketCalled], None] | None = None) -> dict[str, Any]:
    """One branch day through the real core; returns the day's KPIs."""
    p = p or DayParams()
    core = BranchCore(cfg)
    open_h, open_m = map(int, cfg.hours.open.split(":"))
    close_h, close_m = map(int, cfg.hours.close.split(":"))
    day0 = day_start(cfg.branch.timezone)
    start = day0 + open_h * 3600 + open_m * 60
    end = day0 + close_h * 3600 + close_m * 60
    core.reset_day(start - 3600, "2026-11-23")
    sim = Sim(core, seed, start, on_call)
    rng = sim.rng
    tellers_cfg = [t for t in cfg.teller if t.role == "teller"]
    tellers: list[Teller] = []
    means = {b.code: b.service_minutes * 60 for b in cfg.business}
    service = lambda b: rng.lognormvariate(0, 0.5) * means[b] / 1.133  # noqa: E731 (mean = means[b])
    for i, c in enumerate(cfg.counter):
        teller = tellers_cfg[i % len(tellers_cfg)].id if tellers_cfg else ""
        if not teller or any(t.counter == c.id for t in tellers):
            continue
        core.login(start, c.id, teller)
        tellers.append(Teller(sim, c.id, service, p))
    _schedule_day_arrivals(sim, cfg, p, start, end, tellers)
    for t in tellers:
        sim.at(start, t.try_call)
    sim.at(end, lambda: None)
    for minute in range(int((end - start) // 60) + 60 * 3):
        sim.at(start + 60 * minute, lambda: sim.core.tick(sim.now))
    sim.run(end + 3 * 3600)  # the doors close at `end`; those inside are still served
    tz = cfg.branch.timezone
    return stats.kpis(core, sim.now, hour_of=lambda t: local_hour(t, tz))


def _schedule_day_arrivals(sim: Sim, cfg: BranchConfig, p: DayParams, start: float, end: float,
                           tellers: list[Teller]) -> None:
    rng = sim.rng
    mix = _business_mix(cfg)
    tiers = {t.code for t in cfg.tier}
    normal = next(t.code for t in sorted(cfg.tier, key=lambda t: t.rank) if not t.priority)
    self_service = {b.code for b in cfg.business if b.self_service_zh or b.self_service_en}
    for t in arrival_times(rng, start, end, p.arrivals_per_hour, DAY_PROFILE):
        business = rng.choices(list(mix), list(mix.values()))[0]
        if business in self_service and rng.random() < p.self_service_prob:
            continue  # steered to the self-service machine: no ticket
        tier = pick_tier(rng, TIER_MIX, tiers, normal)
        via = "id_card" if tier == "priority" else ("bank_card" if tier != normal else "button")
        sim.at(t, _arrival(sim, business, tier, via, tellers))


def arrival_times(rng: random.Random, start: float, end: float, per_hour: float,
                  profile: list[float]) -> Iterator[float]:
    """Arrival times from `start` to `end`: Poisson within each hour, the hours shaped by
    `profile` (relative busyness through the day) around `per_hour` on average. Lazy: what the
    caller draws from `rng` for one arrival comes before the next arrival's draw."""
    hours = max(1, int((end - start) // 3600))
    prof = [profile[i * len(profile) // hours] for i in range(hours)]
    scale = per_hour * hours / sum(prof)
    for h, rel in enumerate(prof):
        t = start + h * 3600
        rate = rel * scale / 3600
        while True:
            t += rng.expovariate(rate)
            if t >= start + (h + 1) * 3600 or t >= end:
                break
            yield t


def pick_tier(rng: random.Random, tier_mix: dict[str, float], tiers: set[str], normal: str) -> str:
    """A customer's tier from the shares in `tier_mix` (those the branch has); `normal` otherwise."""
    r = rng.random()
    for code, share in tier_mix.items():
        if r < share and code in tiers:
            return code
        r -= share
    return normal


def _arrival(sim: Sim, business: str, tier: str, via: str, tellers: list[Teller]) -> Callable[[], None]:
    def arrive() -> None:
        sim.core.issue(sim.now, business, tier, via)
        _wake_all(tellers)
    return arrive


def _business_mix(cfg: BranchConfig) -> dict[str, float]:
    """Typical share of customers per business type: quick business is by far the most frequent."""
    weights = {b.code: 1.0 / b.service_minutes**2 for b in cfg.business}
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


FIFO_TOML = """
[branch]
id = "fifo"
name_zh = "单队列"
name_en = "FIFO"
[rules]
aging_minutes = 100000
wait_alert_minutes = 100000
[[business]]
code = "all"
prefix = "A"
name_zh = "业务"
name_en = "Service"
service_minutes = {service}
[[tier]]
code = "normal"
rank = 1
name_zh = "普通"
name_en = "Standard"
max_wait_minutes = 100000
{counters}
[[teller]]
id = "t"
name = "t"
"""


def simulate_fifo(counters: int, arrivals_per_hour: float, service_minutes: float, hours: float,
                  seed: int) -> dict[str, Any]:
    """M/M/c through the real core: Poisson arrivals, exponential service, C identical counters."""
    block = "\n".join(f"[[counter]]\nid = {i}\nserves = {{ all = 1 }}" for i in range(1, counters + 1))
    cfg = loads(FIFO_TOML.format(service=service_minutes, counters=block))
    cfg = _with_tellers(cfg, counters)
    # The queue-theory check runs `hours` (1000) as one business day: more numbers than a branch
    # may configure (2..4 digits), so the core never refuses for numbers_exhausted here.
    cfg = msgspec.structs.replace(cfg, rules=msgspec.structs.replace(cfg.rules, number_width=7))
    core = BranchCore(cfg)
    core.reset_day(0.0, "2026-01-01")
    sim = Sim(core, seed, 1.0)
    rng = sim.rng
    mean_s = service_minutes * 60
    tellers = []
    for i in range(1, counters + 1):
        core.login(1.0, i, f"t{i}")
        tellers.append(Teller(sim, i, lambda _b: rng.expovariate(1 / mean_s), DayParams(), fifo=True))
    end = 1.0 + hours * 3600
    waits: list[float] = []
    t = 1.0
    while True:
        t += rng.expovariate(arrivals_per_hour / 3600)
        if t >= end:
            break
        sim.at(t, _arrival(sim, "all", "normal", "button", tellers))
    orig_call = core.call_next

    def call_and_record(now: float, counter: int) -> Any:
        tk = orig_call(now, counter)
        waits.append(now - tk.issued_at)
        return tk

    core.call_next = call_and_record  # type: ignore[method-assign]
    sim.run(end)
    waits.sort()
    n = len(waits)
    return {
        "policy": "fifo", "counters": counters, "arrivals_per_hour": arrivals_per_hour,
        "service_minutes": service_minutes, "hours": hours, "seed": seed, "served": n,
        "mean_wait_s": round(sum(waits) / n, 2) if n else 0.0,
        "p90_wait_s": round(waits[min(n - 1, int(0.9 * n))], 2) if n else 0.0,
        "max_wait_s": round(waits[-1], 2) if n else 0.0,
        "theory_mean_wait_s": round(mmc_mean_wait(counters, arrivals_per_hour, service_minutes), 2),
    }


def _with_tellers(cfg: BranchConfig, n: int) -> BranchConfig:
    import msgspec

    from qbus.config import Teller

    tellers = [Teller(id=f"t{i}", name=f"t{i}") for i in range(1, n + 1)]
    return msgspec.structs.replace(cfg, teller=tellers)


def mmc_mean_wait(c: int, per_hour: float, service_minutes: float) -> float:
    """Mean time in queue of M/M/c (Erlang C); inf when the queue is unstable."""
    lam = per_hour / 3600
    mu = 1 / (service_minutes * 60)
    load = lam / mu
    if load >= c:
        return float("inf")
    return stats.erlang_c(c, load) / (c * mu - lam)
