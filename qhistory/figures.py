"""The figures of any set of archived days: what banks read in 每日监测, 周报, 月度通报, 季度考评.

Pure functions over facts (no store, no I/O), so the same figures come from SQLite, PostgreSQL or
a day still in memory. Definitions, also in docs/history.md:

* arrivals: tickets issued. served / no_shows / cancelled / abandoned: by outcome (qhistory.collect).
* waits (mean, p50, p90, max; p by nearest rank) over every customer who waited for a call: served,
  no-shows and the **abandoned** (issue to giving up); cancelled tickets are left out (most are a
  kiosk's failed print, withdrawn at once).
* service level: share of those customers whose wait met their target: the tier's wait target
  (`[targets] tier_wait_minutes`, else the tier's `max_wait_minutes`), or the business type's
  (`business_wait_minutes`) when it is stricter. Abandoned customers count as missed.
* service time per business (served tickets, last segment) against `service_minutes`.
* satisfaction: rated services with stars >= rating.satisfied_min over rated services, against
  `[targets] satisfaction` (85 %). unrated rate: finished services without stars over finished.
* star tellers (星级柜员): a teller with >= star_min_rated ratings gets one star per satisfaction
  threshold in `star_grades` met; a star teller has >= star_grade_min stars. Share of star tellers
  over graded tellers against `star_teller_share` (80 %).
* identification rate: tickets issued with a bank card, passbook or ID card over those plus
  button tickets. self-service diversion: offers accepted over offers made (kiosk notes).
* appointments (预约): bookings for the period's days by outcome (kept, late, missed, cancelled;
  `booked` counts them all), the kept rate over the bookings that came due (not cancelled), and the
  wait from the booked time (mean, p90) of the kept ones that were called.
* counters open per hour: mean counters open during each clock hour per day; Erlang C advice: the
  fewest counters so that `service_level` of the hour's mean arrivals wait at most the normal
  tier's wait target (M/M/c, qcore.stats.counters_needed).
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

import msgspec

from qbus.config import BranchConfig
from qcore.stats import counters_needed
from qhistory.facts import BookingFact, CounterSpan, KioskFact, TicketFact

IDENTIFIED = frozenset({"bank_card", "passbook", "id_card"})
WAIT_BINS_MIN = (0, 5, 10, 15, 20, 30, 45, 60)


class Dist(msgspec.Struct, kw_only=True):
    """Seconds: n, mean, p50, p90, max (nearest rank)."""

    n: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    max: float = 0.0


class Share(msgspec.Struct, kw_only=True):
    """`ok` of `n` (rate is None when n == 0), against `target` (None: no target); `breach` when
    the rate misses the target (below it, or above it for a maximum)."""

    n: int = 0
    ok: int = 0
    rate: float | None = None
    target: float | None = None
    breach: bool = False


class ServiceTime(msgspec.Struct, kw_only=True):
    n: int
    mean_s: float
    target_s: float
    breach: bool


class Figures(msgspec.Struct, kw_only=True):
    """The ticket figures of one group (the whole period, a business, a tier, a teller, ...)."""

    arrivals: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    abandoned: int = 0
    transfers: int = 0
    referrals: int = 0
    wait: Dist = msgspec.field(default_factory=Dist)
    service_level: Share = msgspec.field(default_factory=Share)
    abandoned_rate: Share = msgspec.field(default_factory=Share)
    satisfaction: Share = msgspec.field(default_factory=Share)
    unrated: Share = msgspec.field(default_factory=Share)
    identification: Share = msgspec.field(default_factory=Share)
    stars_mean: float | None = None
    service_s_mean: float | None = None


def dist(values: Sequence[float]) -> Dist:
    xs = sorted(values)
    if not xs:
        return Dist()
    n = len(xs)

    def rank(p: float) -> float:
        return round(xs[min(n - 1, max(0, math.ceil(p * n) - 1))], 1)

    return Dist(n=n, mean=round(sum(xs) / n, 1), p50=rank(0.5), p90=rank(0.9), max=round(xs[-1], 1))


def share(ok: int, n: int, target: float | None = None, maximum: bool = False) -> Share:
    rate = round(ok / n, 4) if n else None
    breach = rate is not None and target is not None and (rate > target if maximum else rate < target)
    return Share(n=n, ok=ok, rate=rate, target=target, breach=breach)


class Targets:
    """The period's targets resolved from the config once (seconds and shares)."""

    def __init__(self, cfg: BranchConfig) -> None:
        t = cfg.targets
        self.cfg = cfg
        self.satisfied_min = cfg.rating.satisfied_min
        self.tier_wait_s = {x.code: 60 * t.tier_wait_minutes.get(x.code, x.max_wait_minutes) for x in cfg.tier}
        self.business_wait_s = {b: 60 * v for b, v in t.business_wait_minutes.items()}
        self.service_s = {b.code: 60 * t.service_minutes.get(b.code, b.service_minutes) for b in cfg.business}
        normal = [x for x in sorted(cfg.tier, key=lambda x: x.rank) if not x.priority]
        self.normal_wait_s = self.tier_wait_s[normal[-1].code] if normal else 600.0

        self._target: dict[tuple[str, str], float] = {}

    def wait_target_s(self, t: TicketFact) -> float:
        key = (t.tier, t.first_business)
        got = self._target.get(key)
        if got is None:
            tier = self.tier_wait_s.get(t.tier, self.normal_wait_s)
            b = self.business_wait_s.get(t.first_business)
            got = self._target[key] = min(tier, b) if b is not None else tier
        return got

    def met(self, tickets: Iterable[TicketFact]) -> int:
        """How many of `tickets` were called within their wait target (the abandoned never are)."""
        cache, n = self._target, 0
        for t in tickets:
            if t.outcome == "abandoned":
                continue
            limit = cache.get((t.tier, t.first_business))
            if limit is None:
                limit = self.wait_target_s(t)
            if t.wait_s <= limit:
                n += 1
        return n


def waited(tickets: Iterable[TicketFact]) -> list[TicketFact]:
    """Customers who waited for a call: served, no-shows and the abandoned (not cancelled)."""
    return [t for t in tickets if t.outcome != "cancelled"]


def figures(tickets: Sequence[TicketFact], tg: Targets) -> Figures:
    """Every ticket figure of a group of tickets."""
    f = Figures(arrivals=len(tickets))
    outcomes = Tally(t.outcome for t in tickets)
    f.served, f.no_shows = outcomes["served"], outcomes["no_show"]
    f.cancelled, f.abandoned = outcomes["cancelled"], outcomes["abandoned"]
    f.transfers = sum(t.transfers for t in tickets)
    f.referrals = sum(1 for t in tickets if t.referral)
    w = waited(tickets)
    f.wait = dist([t.wait_s for t in w])
    met = tg.met(w)
    c = tg.cfg.targets
    f.service_level = share(met, len(w), c.service_level)
    f.abandoned_rate = share(f.abandoned, len(w), c.abandoned_max, maximum=True)
    finished = [t for t in tickets if t.outcome == "served"]
    rated = [t.stars for t in finished if t.stars > 0]
    f.satisfaction = share(sum(1 for s in rated if s >= tg.satisfied_min), len(rated), c.satisfaction)
    f.unrated = share(len(finished) - len(rated), len(finished), c.unrated_max, maximum=True)
    ident = sum(1 for t in tickets if t.via in IDENTIFIED)
    f.identification = share(ident, ident + sum(1 for t in tickets if t.via == "button"))
    f.stars_mean = round(sum(rated) / len(rated), 2) if rated else None
    f.service_s_mean = round(sum(t.service_s for t in finished) / len(finished), 1) if finished else None
    return f


def service_times(tickets: Sequence[TicketFact], tg: Targets) -> dict[str, ServiceTime]:
    """Mean service time per business type against its target."""
    groups: dict[str, list[float]] = {}
    for t in tickets:
        if t.outcome == "served":
            groups.setdefault(t.business, []).append(t.service_s)
    out = {}
    for b, xs in sorted(groups.items()):
        mean = round(sum(xs) / len(xs), 1)
        target = tg.service_s.get(b, 0.0)
        out[b] = ServiceTime(n=len(xs), mean_s=mean, target_s=target, breach=bool(target) and mean > target)
    return out


def service_level_by_tier(tickets: Sequence[TicketFact], tg: Targets) -> dict[str, Share]:
    groups: dict[str, list[TicketFact]] = {}
    for t in waited(tickets):
        groups.setdefault(t.tier, []).append(t)
    out = {}
    for tier in [x.code for x in sorted(tg.cfg.tier, key=lambda x: x.rank)]:
        ts = groups.get(tier, [])
        out[tier] = share(tg.met(ts), len(ts), tg.cfg.targets.service_level)
    return out


# ---------------------------------------------------------------------------- tellers


class TellerFigures(msgspec.Struct, kw_only=True):
    teller: str
    name: str = ""
    served: int = 0
    service_s_mean: float | None = None
    rated: int = 0
    satisfaction: float | None = None
    stars_mean: float | None = None
    unrated_rate: float | None = None
    grade: int | None = None
    star: bool = False
    pause_s: dict[str, float] = {}


def tellers(cfg: BranchConfig, tickets: Sequence[TicketFact], spans: Sequence[CounterSpan],
            tg: Targets) -> tuple[list[TellerFigures], Share]:
    """Per teller (served, ratings, grade, pause time by reason) and the star-teller share."""
    t_cfg = cfg.targets
    names = {t.id: t.name for t in cfg.teller}
    groups: dict[str, list[TicketFact]] = {}
    for t in tickets:
        if t.outcome == "served":
            groups.setdefault(t.teller, []).append(t)
    pauses: dict[str, dict[str, float]] = {}
    for s in spans:
        if s.kind == "pause":
            by_reason = pauses.setdefault(s.teller, {})
            reason = s.reason or "unspecified"
            by_reason[reason] = by_reason.get(reason, 0.0) + s.end_at - s.start_at
    out: list[TellerFigures] = []
    graded = stars = 0
    for teller in sorted(set(groups) | set(pauses)):
        ts = groups.get(teller, [])
        rated = [t.stars for t in ts if t.stars > 0]
        sat = round(sum(1 for s in rated if s >= tg.satisfied_min) / len(rated), 4) if rated else None
        f = TellerFigures(
            teller=teller, name=names.get(teller, ""), served=len(ts),
            service_s_mean=round(sum(t.service_s for t in ts) / len(ts), 1) if ts else None,
            rated=len(rated), satisfaction=sat,
            stars_mean=round(sum(rated) / len(rated), 2) if rated else None,
            unrated_rate=round(1 - len(rated) / len(ts), 4) if ts else None,
            pause_s={k: round(v, 1) for k, v in sorted(pauses.get(teller, {}).items())},
        )
        if teller and sat is not None and len(rated) >= t_cfg.star_min_rated:
            f.grade = sum(1 for g in t_cfg.star_grades if sat >= g)
            f.star = f.grade >= t_cfg.star_grade_min
            graded += 1
            stars += f.star
        out.append(f)
    return out, share(stars, graded, t_cfg.star_teller_share)


# ---------------------------------------------------------------------------- time of day


class HourRow(msgspec.Struct, kw_only=True):
    """One clock hour, averaged per day of the period: arrivals, counters open, Erlang C advice."""

    hour: int
    arrivals: float
    counters_open: float
    advised: int
    short: bool


class HourOf:
    """Local hour and weekday of epoch seconds in the branch's time zone (one offset per day)."""

    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self._off: dict[int, int] = {}

    def offset(self, t: float) -> int:
        key = int(t // 86400)
        off = self._off.get(key)
        if off is None:
            u = dt.datetime.fromtimestamp(key * 86400 + 43200, self.tz).utcoffset()
            off = self._off[key] = int(u.total_seconds()) if u else 0
        return off

    def hour(self, t: float) -> int:
        return int(((t + self.offset(t)) % 86400) // 3600)

    def weekday(self, day: str) -> int:
        """0 Monday .. 6 Sunday of a business day."""
        return dt.date.fromisoformat(day).weekday()


def open_seconds_by_hour(spans: Iterable[CounterSpan], hours: HourOf) -> list[float]:
    """Counter-seconds open and not paused in each clock hour (0..23) over the spans."""
    out = [0.0] * 24
    for s in spans:
        if s.end_at <= s.start_at:
            continue
        sign = 1.0 if s.kind == "open" else -1.0
        t = s.start_at
        while t < s.end_at:
            local = t + hours.offset(t)
            nxt = min(s.end_at, t + 3600 - (local % 3600))
            out[int((local % 86400) // 3600)] += sign * (nxt - t)
            t = nxt
    return out


def hourly(tickets: Sequence[TicketFact], spans: Sequence[CounterSpan], days: int, hours: HourOf,
           tg: Targets) -> list[HourRow]:
    """Arrivals and counters open per hour (mean per day) beside the Erlang C advice."""
    n_days = max(1, days)
    arrivals = Tally(hours.hour(t.issued_at) for t in tickets)
    served = [t.service_s for t in tickets if t.outcome == "served" and t.service_s > 0]
    mean_s = sum(served) / len(served) if served else \
        sum(tg.service_s.values()) / max(1, len(tg.service_s))
    open_s = open_seconds_by_hour(spans, hours)
    out = []
    for h in range(24):
        per_day = arrivals[h] / n_days
        opened = open_s[h] / 3600 / n_days
        if not per_day and not opened:
            continue
        advised = counters_needed(per_day, mean_s, tg.normal_wait_s, tg.cfg.targets.service_level)
        out.append(HourRow(hour=h, arrivals=round(per_day, 2), counters_open=round(opened, 2),
                           advised=advised, short=opened + 0.5 < advised))
    return out


def heatmap(tickets: Sequence[TicketFact], day_list: Sequence[str], hours: HourOf) -> list[list[float]]:
    """Mean arrivals per weekday (rows, Monday first) and hour (24 columns) over the days archived."""
    per_weekday = Tally(hours.weekday(d) for d in day_list)
    grid = [[0.0] * 24 for _ in range(7)]
    wd_of = {d: hours.weekday(d) for d in day_list}
    for t in tickets:
        wd = wd_of.get(t.day)
        if wd is not None:
            grid[wd][hours.hour(t.issued_at)] += 1
    return [[round(v / per_weekday[wd], 2) if per_weekday[wd] else 0.0 for v in row]
            for wd, row in enumerate(grid)]


def wait_histogram(tickets: Sequence[TicketFact]) -> dict[str, int]:
    """Customers per wait band (minutes), the abandoned counted."""
    bins = Tally[str]()
    labels = [f"{a}-{b}" for a, b in zip(WAIT_BINS_MIN, WAIT_BINS_MIN[1:], strict=False)] + \
        [f"{WAIT_BINS_MIN[-1]}+"]
    edges = [60.0 * e for e in WAIT_BINS_MIN[1:]]
    for t in waited(tickets):
        bins[labels[bisect_right(edges, t.wait_s)]] += 1
    return {k: bins[k] for k in labels}


def group_by(tickets: Sequence[TicketFact], key: Callable[[TicketFact], str]) -> dict[str, list[TicketFact]]:
    out: dict[str, list[TicketFact]] = {}
    for t in tickets:
        out.setdefault(key(t), []).append(t)
    return dict(sorted(out.items()))


def self_service(notes: Sequence[KioskFact]) -> Share:
    accepted = sum(1 for k in notes if k.kind == "offer_accepted")
    declined = sum(1 for k in notes if k.kind == "offer_declined")
    return share(accepted, accepted + declined)


class Appointments(msgspec.Struct, kw_only=True):
    """预约: bookings of the period by outcome; `kept` of the due ones (all but the cancelled and
    still open); `wait` from the booked time to the call, over the kept bookings called."""

    booked: int = 0
    kept: int = 0
    late: int = 0
    missed: int = 0
    cancelled: int = 0
    kept_rate: Share = msgspec.field(default_factory=Share)
    wait: Dist = msgspec.field(default_factory=Dist)


def appointments(bookings: Sequence[BookingFact]) -> Appointments:
    """The appointment figures of any set of bookings (a day's, a week's, a month's: just more rows)."""
    out = Tally(b.outcome for b in bookings)
    due = out["kept"] + out["late"] + out["missed"]
    return Appointments(booked=len(bookings), kept=out["kept"], late=out["late"], missed=out["missed"],
                        cancelled=out["cancelled"], kept_rate=share(out["kept"], due),
                        wait=dist([b.wait_s for b in bookings if b.outcome == "kept" and b.called_at]))
