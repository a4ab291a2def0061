"""The branch manager's tools: the day's report, the hall notice, and a live watch.

`qcall report` rebuilds the day from the journal (read-only replay, nothing published) and prints
the KPIs a manager reads: waits per tier and business, satisfaction and unrated rates, stars per
teller, priority tickets granted per staff member, arrivals per hour and staffing advice.
`qcall notice` sets (or clears) the hall display's scrolling notice through the bus, as device
`manager1`, the only role the ACL lets publish it. `qcall watch` prints wait alerts, devices going
offline or coming back, and the live KPIs as they change, so a manager without a dashboard still
sees a pad that died or a VIP waiting too long.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.errors import BusError, ConfigError, PayloadError, QcallError
from qserver.service import branch_kpis
from qserver.store import DurableCore

Out = Callable[[str], None]


def report(cfg: BranchConfig, journal: str | Path, now: float | None = None) -> dict[str, Any]:
    """KPIs of the journal's current business day. Opens the journal read-only in spirit: replays,
    writes nothing, publishes nothing. `now` defaults to the journal's last time (a closed day)."""
    path = Path(journal)
    if not path.is_file():
        raise ConfigError(f"{path}: no journal here (storage.journal in the config, or --journal)")
    store = DurableCore(cfg, path, snapshot_every=10**12)
    try:
        return branch_kpis(cfg, store.core, store.core.clock if now is None else now)
    finally:
        store.close()


def set_notice(bus: BusClient, zh: str, en: str, timeout: float = 5.0) -> None:
    """Publish the retained notice (empty texts clear it: the display falls back to its config).
    A line over the schema's bound is refused here: the display would refuse the whole notice."""
    for lang, text in (("zh", zh), ("en", en)):
        if len(text) > m.MAX_NOTICE:
            raise PayloadError(f"notice --{lang}: {len(text)} characters; at most {m.MAX_NOTICE}",
                               zh=f"公告过长（最多 {m.MAX_NOTICE} 字）")
    sent = threading.Event()
    bus.publish(bus.topics.notice(), m.Notice(zh=zh, en=en), retain=True, on_sent=sent.set)
    if not sent.wait(timeout):
        raise BusError(f"notice not acknowledged by the broker within {timeout:.0f} s")


class TicketRefused(QcallError, ValueError):
    """The core refused a manager's ticket operation; the message is the core's, in both languages."""

    code = "refused"


def ticket_op(bus: BusClient, cmd: m.Requeue | m.Cancel | m.AckAlert) -> m.Reply:
    """Re-queue, cancel or acknowledge one ticket as the manager; a refusal becomes TicketRefused."""
    reply = bus.request(cmd)
    if not reply.ok:
        err = reply.error
        text = f"{err.zh} / {err.en} ({err.code})" if err else "refused"
        raise TicketRefused(f"{cmd.number}: {text}")
    return reply


STALE_S = 60.0  # retained KPIs older than this are shown as "as of", not as the current figures


class Watch:
    """Lines for a person: alerts, presence changes, KPI changes, the broker going and coming
    back (said once each). Times are the branch's (`tz`), whatever the machine's zone."""

    def __init__(self, bus: BusClient, out: Out, clock: Callable[[], float] = time.time,
                 tz: tzinfo | None = None) -> None:
        self.bus = bus
        self.out = out
        self.clock = clock
        self.tz = tz
        self._link_lost = False
        self._presence: dict[str, bool] = {}
        self._via: dict[str, str] = {}  # pad<N> -> the bridge that reports it
        self._lock = threading.Lock()
        self._kpis: tuple[Any, ...] = ()
        t = bus.topics
        bus.subscribe(t.all_alerts(), m.decode_event, self._on_alert)
        bus.subscribe(t.all_presence(), m.Presence, self._on_presence)
        bus.subscribe(t.state_stats(), m.StatsState, self._on_stats)
        bus.on_offline = self._offline
        bus.on_online = self._online

    def _hhmm(self, t: float, fmt: str = "%H:%M:%S") -> str:
        return datetime.fromtimestamp(t, self.tz).strftime(fmt)

    def _line(self, text: str) -> None:
        self.out(f"{self._hhmm(self.clock())}  {text}")

    def _offline(self) -> None:
        with self._lock:
            if self._link_lost:
                return
            self._link_lost = True
        self._line(f"! 消息服务器断开 broker away: {self.bus.host}:{self.bus.port} — reconnecting; "
                   "nothing is shown until it is back")

    def _online(self) -> None:
        with self._lock:
            if not self._link_lost:
                return
            self._link_lost = False
        self._line(f"+ 消息服务器已恢复 broker back: {self.bus.host}:{self.bus.port}")

    def _on_alert(self, msg: Received[Any]) -> None:
        a = msg.value
        if isinstance(a, m.Advice):
            self._line(f"> 建议 advice: {a.zh} / {a.en}")
            return
        if isinstance(a, m.PinLockout):
            who = f"teller {a.teller}" if a.kind == "teller" else f"device {a.device} (ids tried: {a.teller or 'unknown'})"
            self._line(f"! 密码锁定 PIN lockout: {who} at {a.device}, counter {a.counter}, after {a.failures} "
                       f"wrong PINs; until {self._hhmm(a.until, '%H:%M')} "
                       "(`qcall pin unlock ID` lifts it)")
            return
        if not isinstance(a, m.WaitAlert):
            return
        what = "贵宾超时 VIP over target" if a.kind == "tier" else "等待超时 waiting too long"
        self._line(f"! {what}: {a.number} ({a.business}, {a.tier}) waited {a.waited_s / 60:.1f} min, "
                   f"limit {a.limit_s / 60:.0f} min")

    def _on_presence(self, msg: Received[m.Presence]) -> None:
        p = msg.value
        with self._lock:
            before = self._presence.get(p.device)
            self._presence[p.device] = p.online
            if p.via:
                self._via[p.device] = p.via
            reported = sorted(d for d, via in self._via.items() if via == p.device and self._presence.get(d))
        if before == p.online:
            return
        if p.online:
            self._line(f"+ 在线 online: {p.device} {p.detail}".rstrip())
        elif before is not None or msg.retained:
            self._line(f"- 离线 offline: {p.device} ({p.detail or 'lost'})")
            if reported:  # their presence came from this device: it is no longer current
                self._line(f"? 状态未知 unknown: {', '.join(reported)} (reported by {p.device}, now offline)")

    def _on_stats(self, msg: Received[m.StatsState]) -> None:
        k = msg.value
        stale = ""
        if not k.at:
            stale = "(上次的数据 last figures, time unknown) " if msg.retained else ""
        elif self.clock() - k.at > STALE_S:
            stale = f"(截至 as of {self._hhmm(k.at, '%m-%d %H:%M')}) "
        # a change of figures is news; so is the first fresh copy after an old one
        key = (k.issued, k.served, k.still_waiting, k.satisfaction_rate, k.unrated_rate, bool(stale))
        with self._lock:
            if key == self._kpis or (stale and key[:-1] == self._kpis[:-1]):
                return
            self._kpis = key
        self._line(
            f"= {stale}已取号 issued {k.issued}  已办结 served {k.served}  "
            f"等候 waiting {k.still_waiting}  满意 satisfaction {_pct(k.satisfaction_rate)}  "
            f"未评价 unrated {_pct(k.unrated_rate)}  等候p90 wait p90 {k.wait_s.p90 / 60:.1f} min")

    def offline(self) -> list[str]:
        with self._lock:
            return sorted(d for d, up in self._presence.items() if not up)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}%"


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)


# -- the report as a person reads it --------------------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Columns aligned by display width (Chinese counts two); numbers right-aligned."""
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = []
    for r in [head, *rows]:
        out.append("  ".join(_pad(cell, widths[i], right=i > 0) for i, cell in enumerate(r)).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def _minutes(s: Any) -> str:
    return "-" if s is None else f"{float(s) / 60:.1f}"


def report_text(cfg: BranchConfig, k: dict[str, Any]) -> str:
    """`qcall report` for people: names instead of codes, minutes instead of seconds, and the
    staffing advice labelled. Staff see the tiers' internal names (老弱病残孕 and all)."""
    b = cfg.branch
    business = {x.code: f"{x.name_zh} {x.name_en}" for x in cfg.business}
    tiers = {x.code: f"{x.name_zh} {x.name_en}" for x in cfg.tier}
    tellers = {t.id: t.name for t in cfg.teller}
    lines = [f"{b.bank_zh}{b.name_zh} 日报 daily report {k.get('day') or ''}".rstrip(), ""]
    lines.append(f"取号 issued {k.get('issued', 0)}  ·  办结 served {k.get('served', 0)}  ·  "
                 f"过号 no-shows {k.get('no_shows', 0)}  ·  取消 cancelled {k.get('cancelled', 0)}  ·  "
                 f"仍在等候 still waiting {k.get('still_waiting', 0)}")
    lines.append(f"满意率 satisfied {_pct(k.get('satisfaction_rate'))}  ·  "
                 f"未评价 unrated {_pct(k.get('unrated_rate'))}")
    stats = ["人数 n", "平均 mean", "90%", "最长 max"]

    def wait_row(name: str, w: dict[str, Any]) -> list[str]:
        return [name, str(w.get("n", 0)), _minutes(w.get("mean")), _minutes(w.get("p90")), _minutes(w.get("max"))]

    rows = [wait_row("全部 all", k.get("wait_s", {}))]
    rows += [wait_row(business.get(c, c), w) for c, w in k.get("wait_s_by_type", {}).items()]
    lines += ["", *_table(["按业务等候（分钟） wait by business (min)", *stats], rows)]
    rows = [wait_row(tiers.get(c, c), w) for c, w in k.get("wait_s_by_tier", {}).items()]
    if rows:
        lines += ["", *_table(["按客户等级等候（分钟） wait by tier (min)", *stats], rows)]
    svc = k.get("service_s_by_type", {})
    if svc:
        lines += ["", *_table(["办理（分钟） service (min)", "人数 n", "平均 mean", "90%", "最长 max"],
                              [wait_row(business.get(c, c), w) for c, w in svc.items()])]
    by_teller = k.get("by_teller", {})
    if by_teller:
        rows = [[f"{tid} {tellers.get(tid, '?')}" if tid else "(未登录 nobody logged in)", str(t.get("served", 0)),
                 _minutes(t.get("service_s_mean")), str(t.get("rated", 0)),
                 "-" if t.get("stars_mean") is None else f"{t['stars_mean']:.1f}", _pct(t.get("satisfaction_rate"))]
                for tid, t in by_teller.items()]
        lines += ["", *_table(["柜员 teller", "办结 served", "平均办理 service min", "评价 rated", "平均星级 stars",
                               "满意 satisfied"], rows)]
    grants = k.get("priority_grants_by_staff", {})
    if grants:
        lines += ["", *_table(["优先号授权 priority granted by", "张数 tickets"],
                              [[f"{tid} {tellers.get(tid, '?')}", str(n)] for tid, n in grants.items()])]
    arrivals, advice = k.get("arrivals_by_hour", {}), k.get("staffing_advice", {})
    if arrivals:
        rows = [[f"{h}:00–{int(h) + 1:02d}:00", str(arrivals.get(h, 0)), str(advice.get(h, "-"))]
                for h in sorted(set(arrivals) | set(advice))]
        lines += ["", *_table(["时段 hour", "到达 arrivals", "建议开窗数 counters to open"], rows),
                  "建议开窗数：按今天的到达和办理时间，使八成客户等候不超过提醒时限所需的窗口数。",
                  f"Counters to open: enough for 80% of customers to wait under "
                  f"{cfg.rules.wait_alert_minutes:g} min, from today's arrivals and service times."]
    return "\n".join(lines)
