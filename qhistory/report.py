"""Build a report of any period from the history store: the API the CLI and the web pages call.

    from qhistory import period, report, render
    from qhistory.store import open_store
    store = open_store("var/history.db")
    rep = report.build(store, cfg, period.month("2026-11"), by="teller")
    html = render.html(rep); data = render.json(rep)
    csv_text = render.csv_lives(report.load(store, cfg.branch.id, rep.period).tickets)

`Report` is a msgspec struct (its JSON is the report's JSON form); it never holds personal data:
no customer hash, no masked name, no complaint contact or text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from qbus.config import BranchConfig
from qhistory import figures as fg
from qhistory.facts import AlertFact, BookingFact, Complaint, CounterSpan, KioskFact, TicketFact
from qhistory.period import Period
from qhistory.store import HistoryStore

By = Literal["teller", "business", "tier", "counter", "hour", "day", "weekday", "branch", "via"]
BY_CHOICES: tuple[str, ...] = By.__args__  # type: ignore[attr-defined]
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class Breach(msgspec.Struct, kw_only=True):
    """A figure that missed its target, for the reports' red list."""

    figure: str
    scope: str
    value: float
    target: float
    zh: str
    en: str


class DayRow(msgspec.Struct, kw_only=True):
    day: str
    weekday: int
    arrivals: int
    served: int
    abandoned: int
    wait_mean_s: float
    service_level: float | None
    satisfaction: float | None


class ComplaintRow(msgspec.Struct, kw_only=True):
    """A complaint as reports show it: no text, no contact (both may hold personal data)."""

    id: int
    source: str
    opened_at: float
    status: str
    number: str
    counter: int
    teller: str
    handler: str
    overdue: list[str]
    outcome: str


class Report(msgspec.Struct, kw_only=True):
    branch: str
    branch_zh: str
    branch_en: str
    period: Period
    generated_at: float
    days: list[str]
    missing_days: list[str]
    totals: fg.Figures
    by: str = ""
    groups: dict[str, fg.Figures] = {}
    service_time: dict[str, fg.ServiceTime] = {}
    service_level_by_tier: dict[str, fg.Share] = {}
    tellers: list[fg.TellerFigures] = []
    star_tellers: fg.Share = msgspec.field(default_factory=fg.Share)
    hours: list[fg.HourRow] = []
    heatmap: list[list[float]] = []
    wait_bins: dict[str, int] = {}
    self_service: fg.Share = msgspec.field(default_factory=fg.Share)
    appointments: fg.Appointments = msgspec.field(default_factory=fg.Appointments)
    grants_by_staff: dict[str, int] = {}
    pause_s_by_reason: dict[str, float] = {}
    alerts: int = 0
    alerts_acked: int = 0
    printer_faults: int = 0
    unknown_cards: int = 0
    daily: list[DayRow] = []
    complaints: list[ComplaintRow] = []
    complaints_overdue: int = 0
    breaches: list[Breach] = []
    names: dict[str, dict[str, list[str]]] = {}
    satisfied_min: int = 4
    timezone: str = "Asia/Shanghai"


def names_of(cfg: BranchConfig) -> dict[str, dict[str, list[str]]]:
    """Chinese and English names the renderers show beside the codes (staff names, no customer)."""
    return {
        "business": {b.code: [b.name_zh, b.name_en] for b in cfg.business},
        "tier": {t.code: [t.name_zh, t.name_en] for t in cfg.tier},
        "teller": {t.id: [t.name, t.name] for t in cfg.teller},
        "counter": {str(c.id): [c.name_zh or f"{c.id}号窗口", c.name_en or f"Counter {c.id}"] for c in cfg.counter},
    }


@dataclass
class Loaded:
    """The facts of one branch over a period, loaded once for the report, the CSV and the web."""

    days: list[str]
    tickets: list[TicketFact] = field(default_factory=list)
    spans: list[CounterSpan] = field(default_factory=list)
    kiosk: list[KioskFact] = field(default_factory=list)
    alerts: list[AlertFact] = field(default_factory=list)
    bookings: list[BookingFact] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)


def load(store: HistoryStore, branch: str, period: Period) -> Loaded:
    days = [d.day for d in store.days(branch, period.first, period.last)]
    return Loaded(
        days=days, tickets=store.tickets(branch, period.first, period.last),
        spans=store.spans(branch, period.first, period.last),
        kiosk=store.kiosk(branch, period.first, period.last),
        alerts=store.alerts(branch, period.first, period.last),
        bookings=store.bookings(branch, period.first, period.last),
        complaints=store.complaints(branch),
    )


def build(store: HistoryStore, cfg: BranchConfig, period: Period, by: str | None = None,
          now: float | None = None) -> Report:
    """The report of `cfg`'s branch over `period`, optionally broken down `by` one dimension."""
    return build_from(cfg, period, load(store, cfg.branch.id, period), by, now)


def _key(by: str, hours: fg.HourOf) -> Callable[[TicketFact], str]:
    if by == "hour":
        return lambda t: f"{hours.hour(t.issued_at):02d}"
    if by == "weekday":
        return lambda t: f"{hours.weekday(t.day) + 1} {WEEKDAYS_ZH[hours.weekday(t.day)]}"
    if by == "counter":
        return lambda t: str(t.counter) if t.counter else "-"
    if by == "business":
        return lambda t: t.first_business
    attr = {"teller": "teller", "tier": "tier", "day": "day", "branch": "branch", "via": "via"}.get(by)
    if attr is None:
        from qhistory.period import BadPeriod

        raise BadPeriod(f"--by {by!r}: choose one of {', '.join(BY_CHOICES)}")
    return lambda t: getattr(t, attr) or "-"


def build_from(cfg: BranchConfig, period: Period, data: Loaded, by: str | None = None,
               now: float | None = None) -> Report:
    now = time.time() if now is None else now
    tg = fg.Targets(cfg)
    hours = fg.HourOf(cfg.branch.timezone)
    tickets = data.tickets
    totals = fg.figures(tickets, tg)
    groups = {k: fg.figures(v, tg) for k, v in fg.group_by(tickets, _key(by, hours)).items()} if by else {}
    tellers, star_share = fg.tellers(cfg, tickets, data.spans, tg)
    pause: dict[str, float] = {}
    for s in data.spans:
        if s.kind == "pause":
            pause[s.reason or "unspecified"] = round(pause.get(s.reason or "unspecified", 0.0) + s.end_at - s.start_at, 1)
    in_period = set(period.days())
    rows = _complaints(data.complaints, in_period, now, cfg.branch.timezone)
    rep = Report(
        branch=cfg.branch.id, branch_zh=cfg.branch.name_zh, branch_en=cfg.branch.name_en, period=period,
        generated_at=now, days=data.days, missing_days=[d for d in period.days() if d not in set(data.days)],
        totals=totals, by=by or "", groups=groups, service_time=fg.service_times(tickets, tg),
        service_level_by_tier=fg.service_level_by_tier(tickets, tg), tellers=tellers, star_tellers=star_share,
        hours=fg.hourly(tickets, data.spans, len(data.days), hours, tg),
        heatmap=fg.heatmap(tickets, data.days, hours), wait_bins=fg.wait_histogram(tickets),
        self_service=fg.self_service(data.kiosk), appointments=fg.appointments(data.bookings),
        grants_by_staff=dict(sorted(_tally(t.granted_by for t in tickets if t.granted_by).items())),
        pause_s_by_reason=dict(sorted(pause.items())), alerts=len(data.alerts),
        alerts_acked=sum(1 for a in data.alerts if a.acked_by),
        printer_faults=sum(1 for k in data.kiosk if k.kind == "printer_fault"),
        unknown_cards=sum(1 for k in data.kiosk if k.kind == "unknown_card"),
        daily=_daily(tickets, data.days, tg, hours), complaints=rows,
        complaints_overdue=sum(1 for r in rows if r.overdue), names=names_of(cfg),
        satisfied_min=cfg.rating.satisfied_min, timezone=cfg.branch.timezone,
    )
    rep.breaches = breaches(cfg, rep)
    return rep


def _tally(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _daily(tickets: Sequence[TicketFact], days: Sequence[str], tg: fg.Targets, hours: fg.HourOf) -> list[DayRow]:
    by_day = fg.group_by(tickets, lambda t: t.day)
    out = []
    for d in days:
        f = fg.figures(by_day.get(d, []), tg)
        out.append(DayRow(day=d, weekday=hours.weekday(d), arrivals=f.arrivals, served=f.served,
                          abandoned=f.abandoned, wait_mean_s=f.wait.mean, service_level=f.service_level.rate,
                          satisfaction=f.satisfaction.rate))
    return out


def _complaints(items: Sequence[Complaint], in_period: set[str], now: float, tz: str) -> list[ComplaintRow]:
    """Complaints opened in the period, and every one still open and overdue (whatever its day).
    A complaint with no business day of its own belongs to the branch-local date it was opened on."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    out = []
    for c in items:
        opened_day = c.day or dt.datetime.fromtimestamp(c.opened_at, zone).date().isoformat()
        overdue = c.overdue(now)
        if opened_day in in_period or overdue:
            out.append(ComplaintRow(id=c.id, source=c.source, opened_at=c.opened_at, status=c.status,
                                    number=c.number, counter=c.counter, teller=c.teller, handler=c.handler,
                                    overdue=overdue, outcome=c.outcome))
    return out


def breaches(cfg: BranchConfig, rep: Report) -> list[Breach]:
    """Every figure of the report that missed its target."""
    out: list[Breach] = []
    names_b = {b.code: (b.name_zh, b.name_en) for b in cfg.business}
    names_t = {t.code: (t.name_zh, t.name_en) for t in cfg.tier}

    def add(figure: str, scope: str, sh: fg.Share, zh: str, en: str) -> None:
        if sh.breach and sh.rate is not None and sh.target is not None:
            out.append(Breach(figure=figure, scope=scope, value=sh.rate, target=sh.target, zh=zh, en=en))

    t = rep.totals
    add("satisfaction", "branch", t.satisfaction, "满意率低于目标", "Satisfaction below target")
    add("unrated", "branch", t.unrated, "未评价率高于上限", "Unrated share above the maximum")
    add("abandoned", "branch", t.abandoned_rate, "弃号率高于上限", "Abandoned share above the maximum")
    add("service_level", "branch", t.service_level, "服务水平低于目标", "Service level below target")
    add("star_tellers", "branch", rep.star_tellers, "星级柜员占比低于目标", "Star-teller share below target")
    for tier, sh in rep.service_level_by_tier.items():
        zh, en = names_t.get(tier, (tier, tier))
        add("service_level", f"tier:{tier}", sh, f"{zh}服务水平低于目标", f"{en}: service level below target")
    for b, st in rep.service_time.items():
        if st.breach:
            zh, en = names_b.get(b, (b, b))
            out.append(Breach(figure="service_time", scope=f"business:{b}", value=st.mean_s, target=st.target_s,
                              zh=f"{zh}平均办理时长超过目标", en=f"{en}: mean service time above target"))
    for h in rep.hours:
        if h.short:
            out.append(Breach(figure="counters_open", scope=f"hour:{h.hour:02d}", value=h.counters_open,
                              target=float(h.advised), zh=f"{h.hour:02d}时开放窗口少于建议",
                              en=f"{h.hour:02d}h: fewer counters open than advised"))
    if rep.complaints_overdue:
        out.append(Breach(figure="complaints_overdue", scope="branch", value=float(rep.complaints_overdue),
                          target=0.0, zh="有投诉逾期未处理", en="Complaints past their deadline"))
    return out
