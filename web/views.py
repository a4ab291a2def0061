"""What each page section shows, as plain rows computed from the LiveBranch (templates stay dumb).

Lobby staff never see teller ratings: every function that could show one takes `manager` and
leaves the ratings out for the lobby, so neither the pages nor the lobby's event stream carry them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from qbus import messages as m
from web.live import LiveBranch

# The history's pause reasons (qbus.messages.PauseReason) as the dashboard says them.
PAUSE_ZH = {"lunch": "午餐", "break": "休息", "meeting": "开会", "cash_count": "清点现金", "training": "培训",
            "system": "系统故障", "other": "其他"}
STATUS_ZH = {"closed": "关闭", "idle": "空闲", "called": "呼叫中", "serving": "办理中", "rating": "评价中",
             "paused": "暂停"}


def clock_text(at: float, tz: str) -> str:
    """HH:MM of a branch time in the branch's own time zone ("" for no time)."""
    if not at:
        return ""
    return dt.datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%H:%M")


def minutes(seconds: float) -> str:
    return f"{max(0.0, seconds) / 60:.0f}"


@dataclass(slots=True)
class TierCell:
    code: str
    waiting: int
    oldest: float  # since when its longest-waiting ticket waits (0: nobody)


@dataclass(slots=True)
class QueueRow:
    code: str
    name: str
    waiting: int
    est_s: float
    oldest: float
    cells: list[TierCell]
    over: bool  # longest wait past the branch's alert limit


def queue_rows(v: LiveBranch) -> list[QueueRow]:
    q = v.queues
    rows = []
    for b in v.cfg.business:
        tiers = q.by_tier.get(b.code, {})
        oldest = q.oldest.get(b.code, {})
        cells = [TierCell(t.code, tiers.get(t.code, 0), oldest.get(t.code, 0.0))
                 for t in sorted(v.cfg.tier, key=lambda t: t.rank)]
        first = min((x for x in oldest.values() if x), default=0.0)
        over = bool(first) and v.clock() - first > v.cfg.rules.wait_alert_minutes * 60
        rows.append(QueueRow(b.code, b.name_zh, q.waiting.get(b.code, 0), q.est_wait_s.get(b.code, 0.0), first,
                             cells, over))
    return rows


@dataclass(slots=True)
class CounterCard:
    id: int
    name: str
    status: str
    status_zh: str
    teller: str
    number: str
    since: float
    reason: str
    by: str
    served: int
    satisfaction: str  # "" for the lobby (never shown to them) or when nobody rated yet


def counter_cards(v: LiveBranch, manager: bool) -> list[CounterCard]:
    by_counter: dict[str, Any] = v.stats.get("by_counter", {}) if isinstance(v.stats, dict) else {}
    cards = []
    for c in v.cfg.counter:
        s = v.counters.get(c.id) or m.CounterState(counter=c.id, status=m.CounterStatus.CLOSED)
        k = by_counter.get(str(c.id), {})
        sat = ""
        if manager and k.get("satisfaction_rate") is not None:
            sat = f"{100 * float(k['satisfaction_rate']):.0f}%"
        cards.append(CounterCard(c.id, c.name_zh or f"{c.id}号窗口", s.status, STATUS_ZH.get(s.status, s.status),
                                 s.teller_name or s.teller, s.number, s.since, PAUSE_ZH.get(s.reason, s.reason), s.by,
                                 int(k.get("served", 0)), sat))
    return cards


@dataclass(slots=True)
class DeviceRow:
    device: str
    label: str
    state: str  # online | offline | unknown
    detail: str


PAPER_ZH = {"paper_ok": "纸张正常", "near_end": "纸将用完", "paper_out": "缺纸"}


def device_rows(v: LiveBranch) -> list[DeviceRow]:
    rows = []
    for device, kind, label in v.expected_devices():
        detail = ""
        if kind == "kiosk":
            paper = v.paper(device)
            detail = PAPER_ZH.get(paper, paper)
        rows.append(DeviceRow(device, label, v.device_state(device), detail))
    return rows


@dataclass(slots=True)
class Kpi:
    label: str
    value: str
    target: str
    ok: bool | None  # None: no target


def kpi_rows(v: LiveBranch, manager: bool) -> list[Kpi]:
    k = v.stats
    if not k:
        return []
    t = v.cfg.targets  # the branch's one set of targets (the history's reports use them too)
    limit = v.cfg.rules.wait_alert_minutes
    wait = k.get("wait_s", {})
    out = [Kpi("取号 Issued", str(k.get("issued", 0)), "", None),
           Kpi("已办结 Served", str(k.get("served", 0)), "", None),
           Kpi("等候中 Waiting", str(k.get("still_waiting", 0)), "", None),
           Kpi("过号 No-shows", str(k.get("no_shows", 0)), "", None),
           Kpi("放弃/取消 Cancelled", str(k.get("cancelled", 0)), "", None),
           Kpi("平均等候 Mean wait", f"{wait.get('mean', 0) / 60:.1f} 分", f"≤ {limit:g} 分",
               wait.get("mean", 0) <= limit * 60),
           Kpi("90% 等候 Wait p90", f"{wait.get('p90', 0) / 60:.1f} 分", f"≤ {limit:g} 分",
               wait.get("p90", 0) <= limit * 60)]
    for tier in sorted(v.cfg.tier, key=lambda t: t.rank):
        share = k.get("tier_target_met", {}).get(tier.code)
        if share is not None:
            out.append(Kpi(f"{tier.name_zh} {tier.max_wait_minutes:g} 分内叫号", f"{100 * share:.0f}%",
                           f"≥ {100 * t.service_level:.0f}%", share >= t.service_level))
    if manager:
        sat = k.get("satisfaction_rate")
        if sat is not None:
            out.append(Kpi("满意率 Satisfaction", f"{100 * sat:.0f}%", f"≥ {100 * t.satisfaction:.0f}%",
                           sat >= t.satisfaction))
        unr = k.get("unrated_rate")
        if unr is not None:
            out.append(Kpi("未评价 Unrated", f"{100 * unr:.0f}%", "", None))
    return out


@dataclass(slots=True)
class AlertRow:
    key: str
    kind: str
    zh: str
    en: str
    at: float
    acked_by: str
    acked_at: float


def alert_rows(v: LiveBranch, manager: bool, name_of: Any) -> list[AlertRow]:
    rows = []
    for a in v.alerts(manager):
        ack = v.acks.get(a.key)
        rows.append(AlertRow(a.key, a.kind, a.zh, a.en, a.at, name_of(ack.by) if ack else "", ack.at if ack else 0.0))
    rows.sort(key=lambda r: (bool(r.acked_by), -r.at))
    return rows
