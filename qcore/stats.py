"""The day's figures: waits per tier and type, service, satisfaction, arrival peaks, staffing advice.

Computed on demand from the day's tickets (a busy day is ~5,000), never on the hot path. The hour
of a timestamp is passed in as a function so the core stays free of time zones and clocks.
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from qbus import messages as m
from qcore.core import BranchCore
from qcore.ticket import State, Ticket


def summary(values: Iterable[float]) -> dict[str, float]:
    """mean / p90 / max of a list of seconds (p90 by nearest rank)."""
    xs = sorted(values)
    if not xs:
        return {"n": 0, "mean": 0.0, "p90": 0.0, "max": 0.0}
    p90 = xs[min(len(xs) - 1, math.ceil(0.9 * len(xs)) - 1)]
    return {"n": len(xs), "mean": round(sum(xs) / len(xs), 1), "p90": round(p90, 1), "max": round(xs[-1], 1)}


def _called(tickets: Iterable[Ticket]) -> list[Ticket]:
    return [t for t in tickets if t.first_wait_s >= 0]


def kpis(core: BranchCore, now: float, hour_of: Callable[[float], int] | None = None) -> dict[str, Any]:
    """Everything a branch manager reads at the end of the day (or live)."""
    tickets = list(core.tickets.values())
    called = _called(tickets)
    by_tier: dict[str, list[float]] = {}
    by_type: dict[str, list[float]] = {}
    for t in called:
        by_tier.setdefault(t.tier, []).append(t.first_wait_s)
        by_type.setdefault(t.business, []).append(t.first_wait_s)
    served = [t for t in tickets if t.state == State.SERVED]
    finished = [t for t in served if t.rating >= 0]
    rated = [t for t in finished if t.rating > 0]
    satisfied = [t for t in rated if t.rating >= core.cfg.rating.satisfied_min]
    out: dict[str, Any] = {
        "day": core.day,
        "issued": len(tickets),
        "served": len(served),
        "no_shows": sum(1 for t in tickets if t.state == State.MISSED),
        "cancelled": sum(1 for t in tickets if t.state == State.CANCELLED),
        "still_waiting": sum(1 for t in tickets if t.state == State.WAITING),
        "wait_s": summary(t.first_wait_s for t in called),
        "wait_s_by_tier": {k: summary(v) for k, v in sorted(by_tier.items())},
        "wait_s_by_type": {k: summary(v) for k, v in sorted(by_type.items())},
        "service_s_by_type": {
            b: summary(t.finished_at - t.started_at for t in served if t.business == b)
            for b in sorted({t.business for t in served})
        },
        "satisfaction_rate": round(len(satisfied) / len(rated), 4) if rated else None,
        "unrated_rate": round(1 - len(rated) / len(finished), 4) if finished else None,
        "tier_target_met": _targets(core, called),
        "counter_busy_share": _busy(core, now),
        "by_teller": by_teller(served, core.cfg.rating.satisfied_min),
        "by_counter": by_counter(served, core.cfg.rating.satisfied_min),
        # (the most frequent m.MAX_STAFF grantors: the core admits only the config's staff and the
        # web's signed-in people, but the retained message must stay bounded whatever the day was)
        "priority_grants_by_staff": dict(sorted(
            Tally(t.granted_by for t in tickets if t.granted_by).most_common(m.MAX_STAFF))),
    }
    if hour_of is not None:
        arrivals = Tally(hour_of(t.issued_at) for t in tickets)
        out["arrivals_by_hour"] = {f"{h:02d}": arrivals[h] for h in sorted(arrivals)}
        out["staffing_advice"] = staffing(core, tickets, hour_of)
    return out


def by_teller(served: list[Ticket], satisfied_min: int) -> dict[str, dict[str, Any]]:
    """Per teller: served, mean service time, stars and rates (星级柜员: ratings belong to a teller).

    A service is attributed to the teller logged in when it was called; a ticket served while
    nobody was logged in counts under "" so no rating silently disappears from the totals."""
    groups: dict[str, list[Ticket]] = {}
    for t in served:
        groups.setdefault(t.teller, []).append(t)
    out: dict[str, dict[str, Any]] = {}
    for teller, ts in sorted(groups.items()):
        finished = [t for t in ts if t.rating >= 0]
        rated = [t.rating for t in finished if t.rating > 0]
        out[teller] = {
            "served": len(ts),
            "service_s_mean": round(sum(t.finished_at - t.started_at for t in ts) / len(ts), 1),
            "rated": len(rated),
            "stars_mean": round(sum(rated) / len(rated), 2) if rated else None,
            "satisfaction_rate": round(sum(1 for r in rated if r >= satisfied_min) / len(rated), 4)
            if rated else None,
            "unrated_rate": round(1 - len(rated) / len(finished), 4) if finished else None,
        }
    return out


def by_counter(served: list[Ticket], satisfied_min: int) -> dict[str, dict[str, Any]]:
    """Per counter: served today and its satisfaction (the dashboard's counter cards)."""
    groups: dict[int, list[Ticket]] = {}
    for t in served:
        groups.setdefault(t.counter, []).append(t)
    out: dict[str, dict[str, Any]] = {}
    for cid, ts in sorted(groups.items()):
        rated = [t.rating for t in ts if t.rating > 0]
        out[str(cid)] = {
            "served": len(ts),
            "satisfaction_rate": round(sum(1 for r in rated if r >= satisfied_min) / len(rated), 4)
            if rated else None,
        }
    return out


def _targets(core: BranchCore, called: list[Ticket]) -> dict[str, float]:
    """Share of each tier's called tickets that were called within the tier's target wait."""
    out: dict[str, float] = {}
    for code, tier in core.plan.tier_cfg.items():
        xs = [t for t in called if t.tier == code]
        if xs:
            ok = sum(1 for t in xs if t.first_wait_s <= tier.max_wait_minutes * 60)
            out[code] = round(ok / len(xs), 4)
    return out


def _busy(core: BranchCore, now: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in core.counters.values():
        open_s, busy_s = c.open_busy_s(now)
        if open_s > 0:
            out[str(c.id)] = round(busy_s / open_s, 4)
    return out


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arriving customer waits (M/M/c), for offered load in Erlangs."""
    if servers <= load:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= load / k
        total += term
    term *= load / servers
    top = term * servers / (servers - load)
    return top / (total + top)


def counters_needed(per_hour: float, service_s: float, target_s: float, share: float = 0.8) -> int:
    """Fewest counters so that `share` of customers wait at most `target_s` (Erlang C)."""
    if per_hour <= 0:
        return 0
    lam = per_hour / 3600.0
    mu = 1.0 / service_s
    load = lam / mu
    c = max(1, math.ceil(load))
    while c < 200:
        if c > load and 1 - erlang_c(c, load) * math.exp(-(c * mu - lam) * target_s) >= share:
            return c
        c += 1
    return c


def staffing(core: BranchCore, tickets: list[Ticket], hour_of: Callable[[float], int]) -> dict[str, int]:
    """Counters to open per hour so 80% wait under the branch's alert limit, from today's arrivals."""
    served = [t for t in tickets if t.finished_at > t.started_at > 0]
    mean_s = (sum(t.finished_at - t.started_at for t in served) / len(served)) if served else \
        sum(core.svc_s.values()) / max(1, len(core.svc_s))
    arrivals = Tally(hour_of(t.issued_at) for t in tickets)
    return {f"{h:02d}": counters_needed(n, mean_s, core.plan.alert_s) for h, n in sorted(arrivals.items())}
