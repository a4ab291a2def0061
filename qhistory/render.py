"""A report as a page people read (HTML), as data (JSON), and the tickets' lives as CSV.

HTML: one self-contained file (inline CSS and SVG charts, no scripts, no network), Chinese with
English, CJK line breaking (`lang="zh-CN"`, `line-break: strict`). CSV: one row per ticket with
its whole life; no personal data (no customer hash, no masked name). JSON: the Report struct.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from html import escape
from zoneinfo import ZoneInfo

import msgspec

from qhistory import charts
from qhistory.facts import TicketFact
from qhistory.figures import Figures, HourOf, Share
from qhistory.report import Report
from qhistory.store import no_gc

CSV_COLUMNS = (
    "day", "number", "first_business", "business", "tier", "via", "kiosk", "granted_by", "issued",
    "first_called", "started", "finished", "outcome", "wait_s", "service_s", "counter", "teller",
    "recalls", "skips", "transfers", "referral", "stars", "rating_reason", "rating_source", "life",
)
"""CSV columns: every ticket field except `customer_hash` (personal) and the raw epoch times
(shown as local HH:MM:SS)."""


def json(report: Report) -> bytes:
    return msgspec.json.encode(report)


_CLOCK = [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in range(86400)]
"""HH:MM:SS of each second of a day: the CSV formats ~500,000 times a month, a lookup is cheapest."""


def csv_lives(tickets: Iterable[TicketFact], timezone: str) -> str:
    """Each ticket's life, one row per ticket; times are local (the branch's time zone)."""
    hours = HourOf(timezone)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    rows: list[tuple[object, ...]] = []
    with no_gc():
        _lives(tickets, hours, rows)
    w.writerows(rows)
    return buf.getvalue()


def _lives(tickets: Iterable[TicketFact], hours: HourOf, rows: list[tuple[object, ...]]) -> None:
    clock = _CLOCK
    for t in tickets:
        off = hours.offset(t.issued_at)  # one business day: one offset
        steps = []
        for s in t.life:
            text = clock[int((s.at + off) % 86400)] + " " + s.kind
            if s.counter:
                text += f" c{s.counter}"
            if s.teller:
                text += " t" + s.teller
            if s.detail:
                text += " " + s.detail
            steps.append(text)
        rows.append((t.day, t.number, t.first_business, t.business, t.tier, t.via, t.kiosk, t.granted_by,
                     clock[int((t.issued_at + off) % 86400)],
                     clock[int((t.first_called_at + off) % 86400)] if t.first_called_at else "",
                     clock[int((t.started_at + off) % 86400)] if t.started_at else "",
                     clock[int((t.finished_at + off) % 86400)] if t.finished_at else "",
                     t.outcome, round(t.wait_s), round(t.service_s),
                     t.counter or "", t.teller, t.recalls, t.skips, t.transfers, int(t.referral),
                     t.stars if t.stars >= 0 else "", t.rating_reason, t.rating_source, " | ".join(steps)))


# ---------------------------------------------------------------------------- HTML

CSS = """
:root { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", sans-serif; color: #1a202c; }
body { margin: 24px auto; max-width: 1180px; padding: 0 16px; line-height: 1.5;
       line-break: strict; word-break: normal; overflow-wrap: anywhere; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 2px solid #2b6cb0; }
.en { color: #4a5568; font-size: 0.85em; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #cbd5e0; border-radius: 6px; padding: 8px 12px; min-width: 130px; }
.card b { display: block; font-size: 22px; } .card.bad { border-color: #c53030; background: #fff5f5; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #e2e8f0; padding: 3px 8px; text-align: right; }
th { background: #edf2f7; } td:first-child, th:first-child { text-align: left; }
td.bad { color: #c53030; font-weight: bold; } .breach { color: #c53030; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; }
svg.chart { width: 100%; height: auto; border: 1px solid #e2e8f0; }
footer { margin-top: 32px; color: #718096; font-size: 12px; }
"""


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _min(s: float | None) -> str:
    return "—" if s is None else f"{s / 60:.1f}"


def _share_td(sh: Share) -> str:
    return f'<td class="{"bad" if sh.breach else ""}">{_pct(sh.rate)}</td>'


def _name(rep: Report, kind: str, code: str) -> str:
    n = rep.names.get(kind, {}).get(code)
    if not n:
        return escape(code)
    return f'{escape(n[0])}<span class="en"> {escape(n[1])}</span>' if n[0] != n[1] else escape(n[0])


def _card(zh: str, en: str, value: str, bad: bool = False) -> str:
    return f'<div class="card{" bad" if bad else ""}">{zh} <span class="en">{en}</span><b>{value}</b></div>'


def _figures_row(label: str, f: Figures) -> str:
    return (f"<tr><td>{label}</td><td>{f.arrivals}</td><td>{f.served}</td><td>{f.no_shows}</td>"
            f"<td>{f.abandoned}</td><td>{f.transfers}</td><td>{_min(f.wait.mean)}</td><td>{_min(f.wait.p90)}</td>"
            f"{_share_td(f.service_level)}{_share_td(f.satisfaction)}{_share_td(f.unrated)}</tr>")


FIG_HEAD = ("<tr><th></th><th>到达<br>arrivals</th><th>办结<br>served</th><th>过号<br>no-shows</th>"
            "<th>弃号<br>abandoned</th><th>转移<br>transfers</th><th>平均等候(分)<br>wait mean (min)</th>"
            "<th>P90等候(分)<br>wait p90 (min)</th><th>服务水平<br>service level</th><th>满意率<br>satisfaction</th>"
            "<th>未评价<br>unrated</th></tr>")


BY_ZH = {"teller": "柜员", "business": "业务", "tier": "客户级别", "counter": "窗口", "hour": "时段",
         "day": "日期", "weekday": "星期", "branch": "网点", "via": "取号方式"}


def html(rep: Report) -> str:
    """The whole report page."""
    p = rep.period
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(rep.branch_zh)} '
            f'{p.title_zh} {escape(p.label)}</title><style>{CSS}</style></head><body>\n' + body(rep)
            + "</body></html>")


def body(rep: Report, *, tellers: bool = True) -> str:
    """The report's content, for a page of its own (`html`) or inside the web's Reports page.
    `tellers=False` leaves out each teller's ratings (the lobby's reports)."""
    t = rep.totals
    p = rep.period
    parts = [f'<h1>{escape(rep.branch_zh)} · {p.title_zh} <span class="en">{escape(rep.branch_en)} · '
             f'{p.title_en}</span></h1>',
             f'<p>{escape(p.label)}（{p.first} — {p.last}）· 已归档 {len(rep.days)} 天 <span class="en">'
             f'{len(rep.days)} archived days</span>'
             + (f' · <span class="breach">缺 {len(rep.missing_days)} 天 missing</span>' if rep.missing_days
                and p.kind == "day" else "") + "</p>"]
    if not rep.days:
        parts.append("<p class='breach'>此期间没有已归档的营业日 <span class='en'>no archived business day in this "
                     "period (days are archived at the daily reset, or with `qcall day close`)</span></p>")
    parts.append('<div class="cards">' + "".join([
        _card("到达", "arrivals", str(t.arrivals)), _card("办结", "served", str(t.served)),
        _card("弃号", "abandoned", str(t.abandoned), t.abandoned_rate.breach),
        _card("平均等候", "mean wait", f"{_min(t.wait.mean)} 分"),
        _card("服务水平", "service level", _pct(t.service_level.rate), t.service_level.breach),
        _card("满意率", f"satisfaction (target {_pct(t.satisfaction.target)})", _pct(t.satisfaction.rate),
              t.satisfaction.breach),
        *([_card("星级柜员占比", f"star tellers (target {_pct(rep.star_tellers.target)})",
                 _pct(rep.star_tellers.rate), rep.star_tellers.breach)] if tellers else []),
        _card("识别率", "identified", _pct(t.identification.rate)),
        _card("自助分流", "self-service", _pct(rep.self_service.rate)),
        _card("逾期投诉", "overdue complaints", str(rep.complaints_overdue), rep.complaints_overdue > 0),
    ]) + "</div>")
    parts.append(_breaches(rep, tellers))
    parts.append(_charts(rep, tellers))
    parts.append("<h2>汇总 <span class='en'>Totals</span></h2><table>" + FIG_HEAD
                 + _figures_row("全部 all", t) + "</table>")
    parts.append(f"<p>等候 wait: P50 {_min(t.wait.p50)} 分 · P90 {_min(t.wait.p90)} 分 · 最长 max "
                 f"{_min(t.wait.max)} 分 (min)，含弃号客户 <span class='en'>the abandoned counted</span> · 转介 "
                 f"referrals {t.referrals} · 告警 alerts {rep.alerts}（已确认 acknowledged {rep.alerts_acked}）· 打印机故障 printer faults "
                 f"{rep.printer_faults} · 未知卡 unknown cards {rep.unknown_cards}</p>")
    if rep.groups:
        kind = {"business": "business", "tier": "tier", "teller": "teller", "counter": "counter"}.get(rep.by, "")
        rows = "".join(_figures_row(_name(rep, kind, k) if kind else escape(k), f) for k, f in rep.groups.items())
        parts.append(f"<h2>按{BY_ZH.get(rep.by, escape(rep.by))} <span class='en'>by {escape(rep.by)}</span></h2>"
                     f"<table>{FIG_HEAD}{rows}</table>")
    parts.append(_service(rep))
    parts.append(_appointments(rep))
    if tellers:
        parts.append(_tellers(rep))
    parts.append(_hours(rep))
    parts.append(_complaints(rep))
    parts.append(f"<footer>qcall · 生成于 generated {_when(rep.generated_at, rep.timezone)} · 不含客户个人信息 "
                 "no personal customer data</footer>")
    return "\n".join(parts)


def _when(t: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") + (" UTC" if tz == "UTC" else "")


def _breaches(rep: Report, tellers: bool = True) -> str:
    shown = [b for b in rep.breaches if tellers or b.figure != "star_tellers"]
    if not shown:
        return "<h2>目标 <span class='en'>Targets</span></h2><p>全部达标 <span class='en'>every target met</span></p>"
    items = "".join(f"<li class='breach'>{escape(b.zh)} <span class='en'>{escape(b.en)}</span>: "
                    f"{_fmt(b.figure, b.value)} / {_fmt(b.figure, b.target)}</li>" for b in shown)
    return f"<h2>未达标 <span class='en'>Breaches</span></h2><ul>{items}</ul>"


def _fmt(figure: str, v: float) -> str:
    if figure == "service_time":
        return f"{v / 60:.1f} 分 min"
    if figure in ("counters_open", "complaints_overdue"):
        return f"{v:g}"
    return _pct(v)


def _charts(rep: Report, tellers: bool = True) -> str:
    out = []
    if rep.hours:
        out.append(charts.hourly([h.hour for h in rep.hours], [h.arrivals for h in rep.hours],
                                 [h.counters_open for h in rep.hours], [h.advised for h in rep.hours]))
    if rep.wait_bins:
        out.append(charts.bars(list(rep.wait_bins), list(rep.wait_bins.values()),
                               "等候时长分布（分，含弃号）Wait distribution (min, abandoned counted)",
                               "客户 customers", "waits", colors=[charts.BLUE] * len(rep.wait_bins)))
    tiers = [(k, v) for k, v in rep.service_level_by_tier.items() if v.rate is not None]
    if tiers:
        out.append(charts.bars([rep.names.get("tier", {}).get(k, [k])[0] for k, _ in tiers],
                               [v.rate or 0.0 for _, v in tiers], "各级客户服务水平 Service level per tier",
                               "%", "service_level", target=tiers[0][1].target, percent=True))
    rated = [x for x in rep.tellers if x.satisfaction is not None and x.teller] if tellers else []
    if rated:
        out.append(charts.bars([x.name or x.teller for x in rated], [x.satisfaction or 0.0 for x in rated],
                               "柜员满意率 Satisfaction per teller", "%", "satisfaction",
                               target=rep.totals.satisfaction.target, percent=True))
    if rep.heatmap and any(any(r) for r in rep.heatmap):
        out.append(charts.heatmap(rep.heatmap, "到达热力图（周几×时）Arrivals heatmap (weekday × hour)"))
    if len(rep.daily) > 1:
        out.append(charts.daily([d.day for d in rep.daily], [d.arrivals for d in rep.daily],
                                [d.abandoned for d in rep.daily]))
    if rep.complaints:
        by: dict[str, int] = {}
        for c in rep.complaints:
            key = "逾期 overdue" if c.overdue else {"closed": "已结 closed", "open": "待处理 open"}.get(
                c.status, "处理中 in progress")
            by[key] = by.get(key, 0) + 1
        out.append(charts.bars(list(by), list(by.values()), "投诉 Complaints", "件 count", "complaints",
                               colors=[charts.RED if "overdue" in k else charts.BLUE for k in by]))
    return "<h2>图表 <span class='en'>Charts</span></h2><div class='charts'>" + "".join(
        f"<figure>{svg}</figure>" for svg in out) + "</div>"


def _appointments(rep: Report) -> str:
    a = rep.appointments
    if not a.booked:
        return "<h2>预约 <span class='en'>Appointments</span></h2><p>无 <span class='en'>none</span></p>"
    return ("<h2>预约 <span class='en'>Appointments</span></h2><table class='appointments'><tr>"
            "<th>预约<br>booked</th><th>按时签到<br>kept</th><th>迟到<br>late</th><th>爽约<br>missed</th>"
            "<th>取消<br>cancelled</th><th>守约率<br>kept rate</th>"
            "<th>自预约时间平均等候(分)<br>wait from booked time, mean (min)</th><th>P90(分)<br>p90 (min)</th></tr>"
            f"<tr><td>{a.booked}</td><td>{a.kept}</td><td>{a.late}</td><td>{a.missed}</td><td>{a.cancelled}</td>"
            f"<td>{_pct(a.kept_rate.rate)}</td><td>{_min(a.wait.mean if a.wait.n else None)}</td>"
            f"<td>{_min(a.wait.p90 if a.wait.n else None)}</td></tr></table>")


def _service(rep: Report) -> str:
    rows = "".join(
        f"<tr><td>{_name(rep, 'business', b)}</td><td>{st.n}</td><td class='{'bad' if st.breach else ''}'>"
        f"{_min(st.mean_s)}</td><td>{_min(st.target_s)}</td></tr>" for b, st in rep.service_time.items())
    tiers = "".join(
        f"<tr><td>{_name(rep, 'tier', k)}</td><td>{v.n}</td>{_share_td(v)}<td>{_pct(v.target)}</td></tr>"
        for k, v in rep.service_level_by_tier.items() if v.n)
    return ("<h2>业务办理时长 <span class='en'>Service time per business</span></h2><table><tr><th></th><th>笔数 n</th>"
            f"<th>平均(分) mean (min)</th><th>目标(分) target</th></tr>{rows}</table>"
            "<h2>服务水平 <span class='en'>Service level per tier</span></h2><table><tr><th></th><th>客户 n</th>"
            f"<th>达标率 within target</th><th>目标 target</th></tr>{tiers}</table>")


def _tellers(rep: Report) -> str:
    rows = []
    for x in rep.tellers:
        grade = "—" if x.grade is None else "★" * x.grade + "☆" * (5 - x.grade)
        pause = "、".join(f"{k} {v / 60:.0f}分" for k, v in x.pause_s.items()) or "—"
        rows.append(f"<tr><td>{escape(x.name or x.teller or '—')} ({escape(x.teller or '-')})</td><td>{x.served}</td>"
                    f"<td>{_min(x.service_s_mean)}</td><td>{x.rated}</td><td>{_pct(x.satisfaction)}</td>"
                    f"<td>{x.stars_mean if x.stars_mean is not None else '—'}</td><td>{_pct(x.unrated_rate)}</td>"
                    f"<td>{grade}{' 星级柜员 star' if x.star else ''}</td><td>{escape(pause)}</td></tr>")
    return ("<h2>柜员 <span class='en'>Tellers</span></h2><table><tr><th></th><th>办结 served</th>"
            "<th>平均时长(分) service (min)</th><th>评价 rated</th><th>满意率 satisfaction</th><th>平均星 stars</th>"
            "<th>未评价 unrated</th><th>星级 grade</th><th>暂停 pauses</th></tr>" + "".join(rows) + "</table>"
            f"<p>星级柜员 star tellers: {rep.star_tellers.ok}/{rep.star_tellers.n} = {_pct(rep.star_tellers.rate)} "
            f"(目标 target {_pct(rep.star_tellers.target)})</p>")


def _hours(rep: Report) -> str:
    rows = "".join(f"<tr><td>{h.hour:02d}:00</td><td>{h.arrivals:g}</td><td class='{'bad' if h.short else ''}'>"
                   f"{h.counters_open:g}</td><td>{h.advised}</td></tr>" for h in rep.hours)
    return ("<h2>分时 <span class='en'>Per hour (mean per day)</span></h2><table><tr><th>时 hour</th>"
            "<th>到达 arrivals</th><th>开放窗口 counters open</th><th>建议 Erlang C</th></tr>" + rows + "</table>")


def _complaints(rep: Report) -> str:
    if not rep.complaints:
        return "<h2>投诉 <span class='en'>Complaints</span></h2><p>无 <span class='en'>none</span></p>"
    rows = "".join(
        f"<tr><td>#{c.id}</td><td>{escape(c.source)}</td><td>{_when(c.opened_at, rep.timezone)}</td><td>{escape(c.status)}</td>"
        f"<td>{escape(c.number)}</td><td>{c.counter or ''}</td><td>{escape(c.teller)}</td><td>{escape(c.handler)}</td>"
        f"<td class='{'bad' if c.overdue else ''}'>{escape(', '.join(c.overdue)) or '—'}</td>"
        f"<td>{escape(c.outcome)}</td></tr>" for c in rep.complaints)
    return ("<h2>投诉 <span class='en'>Complaints</span></h2><table><tr><th>#</th><th>来源 source</th>"
            "<th>受理 opened</th><th>状态 status</th><th>号码 ticket</th><th>窗口 counter</th><th>柜员 teller</th>"
            "<th>经办 handler</th><th>逾期 overdue</th><th>结果 outcome</th></tr>" + rows + "</table>")
