"""`qcall hq report`: what head office reads across branches, straight from PostgreSQL.

- live: the branches with customers waiting past their tier's target *now* (hq_ticket's waiting
  rows, a partial index), with each branch's link state (a branch whose link is down is shown as
  such: its "now" is as old as its last message);
- this month's satisfaction ranking (satisfied / rated, against the 85 % target) from the day
  roll-up `hq_day`, with arrivals, served and the mean wait beside it;
- VIP service level by region: VIP customers called within the VIP target, per region;
- one branch drilled down: its days this month, who waits now, its link.

Every query takes `now` from the caller (tests and the bench run in virtual time).
"""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from qhq.config import HqConfig

STALE_S = 16 * 3600  # a ticket "waiting" for longer than a business day was left at a close

LIVE = """
SELECT t.branch, coalesce(b.name, '') AS name, coalesce(b.region, '') AS region,
       count(*) AS over_target,
       round(max(%(now)s - extract(epoch FROM t.since))::numeric, 0)::float AS oldest_wait_s,
       round(max(%(now)s - extract(epoch FROM t.since) - coalesce(lim.limit_s, %(default)s))::numeric, 0)::float
           AS over_by_s,
       coalesce(l.up, true) AS link_up, extract(epoch FROM l.since)::float AS link_since
FROM hq_ticket t
LEFT JOIN hq_branch b USING (branch)
LEFT JOIN hq_link l USING (branch)
LEFT JOIN (SELECT unnest(%(tiers)s::text[]) AS tier, unnest(%(limits)s::float8[]) AS limit_s) lim
       ON lim.tier = t.tier
WHERE t.waiting
  AND t.since < to_timestamp(%(now)s - %(min_limit)s)
  AND t.since > to_timestamp(%(now)s - %(stale)s)
  AND extract(epoch FROM t.since) < %(now)s - coalesce(lim.limit_s, %(default)s)
GROUP BY t.branch, b.name, b.region, l.up, l.since
ORDER BY over_by_s DESC, t.branch
"""

LINKS_DOWN = """
SELECT l.branch, coalesce(b.name, '') AS name, coalesce(b.region, '') AS region,
       round(extract(epoch FROM l.since)::numeric, 0)::float AS since
FROM hq_link l LEFT JOIN hq_branch b USING (branch)
WHERE NOT l.up ORDER BY l.since, l.branch
"""

RANKING = """
WITH d AS (
    SELECT branch, sum(rated)::int AS rated, sum(satisfied)::int AS satisfied, sum(arrivals)::int AS arrivals,
           sum(served)::int AS served, sum(wait_sum_s) AS wait_sum_s, sum(called) AS called,
           sum(vip_called)::int AS vip_called, sum(vip_in_target)::int AS vip_in_target
    FROM hq_day WHERE day >= %(start)s AND day < %(end)s GROUP BY branch
), tel AS (  -- each teller's ratings over the month's archived days (qhistory.figures.tellers)
    SELECT branch, teller, sum(rated) AS rated, sum(satisfied) AS ok
    FROM hq_teller_day WHERE day >= %(start)s AND day < %(end)s
    GROUP BY branch, teller
), st AS (
    SELECT branch, count(*)::int AS graded,
           count(*) FILTER (WHERE (SELECT count(*) FROM unnest(%(grades)s::numeric[]) g
                                   WHERE round(ok::numeric / rated, 4) >= g) >= %(grade_min)s)::int AS stars
    FROM tel WHERE rated > 0 AND rated >= %(min_rated)s GROUP BY branch
)
SELECT branch, coalesce(b.name, '') AS name, coalesce(b.region, '') AS region,
       coalesce(x.rated, 0) AS rated, coalesce(x.satisfied, 0) AS satisfied,
       round((x.satisfied::numeric / nullif(x.rated, 0)), 4)::float AS satisfaction,
       coalesce(x.arrivals, 0) AS arrivals, coalesce(x.served, 0) AS served,
       round((x.wait_sum_s / nullif(x.called, 0))::numeric, 1)::float AS wait_mean_s,
       coalesce(x.graded, 0) AS graded, coalesce(x.stars, 0) AS star_tellers,
       round((x.stars::numeric / nullif(x.graded, 0)), 4)::float AS star_share,
       coalesce(x.vip_called, 0) AS vip_called, coalesce(x.vip_in_target, 0) AS vip_in_target,
       round((x.vip_in_target::numeric / nullif(x.vip_called, 0)), 4)::float AS vip_service_level
FROM hq_branch b FULL JOIN (SELECT * FROM d FULL JOIN st USING (branch)) x USING (branch)
ORDER BY satisfaction DESC NULLS LAST, rated DESC, branch
"""

VIP = """
SELECT coalesce(b.region, '') AS region, count(DISTINCT d.branch)::int AS branches,
       sum(d.arrivals)::int AS arrivals, sum(d.served)::int AS served,
       sum(d.rated)::int AS rated, sum(d.satisfied)::int AS satisfied,
       round((sum(d.satisfied)::numeric / nullif(sum(d.rated), 0)), 4)::float AS satisfaction,
       sum(d.vip_called)::int AS vip_called, sum(d.vip_in_target)::int AS vip_in_target,
       round((sum(d.vip_in_target)::numeric / nullif(sum(d.vip_called), 0)), 4)::float AS service_level
FROM hq_day d LEFT JOIN hq_branch b USING (branch)
WHERE d.day >= %(start)s AND d.day < %(end)s
GROUP BY 1 ORDER BY service_level DESC NULLS LAST, region
"""

DAYS = """
SELECT day::text AS day, arrivals, served, cancelled, rated, satisfied,
       round((satisfied::numeric / nullif(rated, 0)), 4)::float AS satisfaction,
       round((wait_sum_s / nullif(called, 0))::numeric, 1)::float AS wait_mean_s,
       vip_called, vip_in_target, alerts
FROM hq_day WHERE branch = %(branch)s AND day >= %(start)s AND day < %(end)s ORDER BY day
"""

WAITING = """
SELECT number, business, tier, round((%(now)s - extract(epoch FROM since))::numeric, 0)::float AS waited_s
FROM hq_ticket WHERE branch = %(branch)s AND waiting AND since > to_timestamp(%(now)s - %(stale)s)
ORDER BY since
"""


def _below(value: float | None, target: float) -> bool | None:
    """Missed its target (True), met it (False), or nothing to judge yet (None)."""
    return None if value is None else value < target


def month_of(now: float, tz: str, month: str = "") -> tuple[dt.date, dt.date, str]:
    """[first day, first day of next month) of `month` (YYYY-MM) or of the month `now` is in."""
    if month:
        try:
            start = dt.date.fromisoformat(month + "-01")
        except ValueError as err:
            raise ValueError(f"--month {month!r}: use YYYY-MM") from err
    else:
        start = dt.datetime.fromtimestamp(now, ZoneInfo(tz)).date().replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end, f"{start:%Y-%m}"


class Reports:
    """The head-office queries on one connection (search path = the config's schema)."""

    def __init__(self, cfg: HqConfig, conn: psycopg.Connection[Any]) -> None:
        self.cfg = cfg
        self.conn = conn
        conn.execute(f'SET search_path TO "{cfg.database.schema}"')

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def live_over_target(self, now: float) -> list[dict[str, Any]]:
        t = self.cfg.targets
        tiers = sorted(t.wait_minutes)
        limits = [60.0 * t.wait_minutes[k] for k in tiers]
        default = 60.0 * t.default_wait_minutes
        return self._rows(LIVE, {"now": now, "tiers": tiers, "limits": limits, "default": default,
                                 "min_limit": min([default, *limits]), "stale": STALE_S})

    def links_down(self) -> list[dict[str, Any]]:
        """Branches whose bridge is down now (their "now" is as old as their last message)."""
        return self._rows(LINKS_DOWN, {})

    def ranking(self, now: float, month: str = "") -> list[dict[str, Any]]:
        """Every branch (those without figures this month last) by the month's satisfaction, with the star-teller share (星级柜员, from the
        history's archived days) and VIP called within the VIP target, each judged by its target:
        `below_target` (satisfaction), `star_below_target`, `vip_below_target` (None: no data)."""
        start, end, _ = month_of(now, self.cfg.hq.timezone, month)
        t = self.cfg.targets
        rows = self._rows(RANKING, {"start": start, "end": end, "grades": list(t.star_grades),
                                    "grade_min": t.star_grade_min, "min_rated": t.star_min_rated})
        for k, r in enumerate(rows, 1):
            r["rank"] = k
            r["below_target"] = _below(r["satisfaction"], t.satisfaction)
            r["star_below_target"] = _below(r["star_share"], t.star_teller_share)
            r["vip_below_target"] = _below(r["vip_service_level"], t.vip_service_level)
        return rows

    def vip_by_region(self, now: float, month: str = "") -> list[dict[str, Any]]:
        start, end, _ = month_of(now, self.cfg.hq.timezone, month)
        rows = self._rows(VIP, {"start": start, "end": end})
        for r in rows:
            r["below_target"] = bool(_below(r["service_level"], self.cfg.targets.vip_service_level))
            r["satisfaction_below_target"] = _below(r["satisfaction"], self.cfg.targets.satisfaction)
        return rows

    def branch(self, branch: str, now: float, month: str = "") -> dict[str, Any]:
        start, end, label = month_of(now, self.cfg.hq.timezone, month)
        link = self._rows("SELECT up, since::text FROM hq_link WHERE branch = %(b)s", {"b": branch})
        known = self._rows("SELECT name, region FROM hq_branch WHERE branch = %(b)s", {"b": branch})
        return {
            "branch": branch, "month": label,
            "name": known[0]["name"] if known else "", "region": known[0]["region"] if known else "",
            "link": link[0] if link else None,
            "days": self._rows(DAYS, {"branch": branch, "start": start, "end": end}),
            "waiting_now": self._rows(WAITING, {"branch": branch, "now": now, "stale": STALE_S}),
        }

    def targets(self) -> dict[str, float]:
        t = self.cfg.targets
        return {"satisfaction": t.satisfaction, "vip_service_level": t.vip_service_level,
                "vip_wait_minutes": t.vip_wait_minutes, "star_teller_share": t.star_teller_share}

    def all(self, now: float, month: str = "", branch: str = "") -> dict[str, Any]:
        _, _, label = month_of(now, self.cfg.hq.timezone, month)
        out: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(now, ZoneInfo(self.cfg.hq.timezone)).isoformat(timespec="seconds"),
            "month": label,
            "targets": self.targets(),
            "over_target_now": self.live_over_target(now),
            "links_down": self.links_down(),
            "ranking": self.ranking(now, month),
            "vip_by_region": self.vip_by_region(now, month),
        }
        if branch:
            out["branch"] = self.branch(branch, now, month)
        return out


# ---------------------------------------------------------------------------------- rendering


def _pad(text_: str, width: int) -> str:
    """Left-justify for a terminal: a Chinese character takes two columns."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text_)
    return text_ + " " * max(0, width - cols)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def text(report: dict[str, Any]) -> str:
    """The terminal view: three short tables (and the branch when one was asked for)."""
    lines = [f"总行报表 Head-office report  {report['at']}  month {report['month']}", "",
             "现在超时的网点 Branches over target now"]
    live = report["over_target_now"]
    lines += [f"  {r['branch']:<16} {_pad(r['name'], 12)} {_pad(r['region'], 10)} {r['over_target']:>4} over  oldest "
              f"{r['oldest_wait_s'] / 60:5.1f} min{'' if r['link_up'] else '  (link down)'}" for r in live]
    lines += ["  (none)"] if not live else []
    lines += [f"  链路中断 link down: {r['branch']} {r['name']}" for r in report.get("links_down", [])]
    tg = report["targets"]
    lines += ["", f"本月排名 Ranking: satisfaction (target {_pct(tg['satisfaction'])}), star tellers "
              f"(target {_pct(tg['star_teller_share'])}), VIP within {tg['vip_wait_minutes']:g} min "
              f"(target {_pct(tg['vip_service_level'])}); ▼ = below target"]
    lines += [f"  {r['rank']:>4}. {r['branch']:<16} {_pad(r['name'], 12)} {_pct(r['satisfaction']):>7}"
              f"{'▼' if r['below_target'] else ' '} of {r['rated']:>5} rated  stars {_pct(r['star_share']):>7}"
              f"{'▼' if r['star_below_target'] else ' '}  VIP {_pct(r['vip_service_level']):>7}"
              f"{'▼' if r['vip_below_target'] else ' '}" for r in report["ranking"][:50]]
    if len(report["ranking"]) > 50:
        lines.append(f"  ... {len(report['ranking']) - 50} more (--json for all)")
    lines += ["", f"各区域VIP服务达标率 VIP service level by region (within "
              f"{report['targets']['vip_wait_minutes']:g} min, target {_pct(report['targets']['vip_service_level'])})"]
    lines += [f"  {r['region'] or '(none)':<12} {_pct(r['service_level']):>7} of {r['vip_called']:>5} VIP calls, "
              f"{r['branches']} branches{'  ▼ below target' if r['below_target'] else ''}"
              for r in report["vip_by_region"]]
    if "branch" in report:
        b = report["branch"]
        lines += ["", f"网点 Branch {b['branch']} {b['name']} ({b['region']})"]
        lines += [f"  {d['day']}  arrivals {d['arrivals']:>4}  served {d['served']:>4}  "
                  f"satisfaction {_pct(d['satisfaction']):>7}  wait {d['wait_mean_s'] or 0:6.1f} s"
                  for d in b["days"]]
        lines += [f"  waiting now: {len(b['waiting_now'])}"]
        h = b.get("history")
        if h:
            t = h["totals"]
            lines += [f"  history {h['period']['label']}: {len(h['days'])} archived days, arrivals {t['arrivals']}, "
                      f"served {t['served']}, satisfaction {_pct(t['satisfaction']['rate'])}, service level "
                      f"{_pct(t['service_level']['rate'])}, star tellers {_pct(h['star_tellers']['rate'])}"]
        elif "history" in b:
            lines += ["  history: no config for this branch at head office ([[branch]] config = ...)"]
    return "\n".join(lines) + "\n"


def page(report: dict[str, Any], extra: str = "") -> str:
    """A small self-contained HTML page (Chinese with English), no scripts, opens offline.
    `extra`: more HTML at the end (the branch's history report, qhistory.render.body)."""
    def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
        body = ""
        for r in rows:
            cls = ' class="below"' if r.get("below_target") else ""
            cells = "".join(f"<td>{html.escape(_cell(k, r.get(k)))}</td>" for k, _ in cols)
            body += f"<tr{cls}>{cells}</tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>总行报表 Head-office report {html.escape(report['month'])}</title>",
        "<style>body{font-family:'WenQuanYi Micro Hei',sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #999;padding:.3em .6em}tr.below td{background:#fdd}</style>",
        "</head><body>",
        f"<h1>总行报表 Head-office report</h1><p>{html.escape(report['at'])} · {html.escape(report['month'])}</p>",
        "<h2>现在超时的网点 Branches over target now</h2>",
        table(report["over_target_now"], [("branch", "网点 Branch"), ("name", "名称 Name"), ("region", "区域 Region"),
                                          ("over_target", "超时人数 Over target"),
                                          ("oldest_wait_s", "最长等待 Oldest wait (s)"), ("link_up", "链路 Link up")]),
        "<h2>本月满意度排名 Satisfaction ranking</h2>",
        table(report["ranking"], [("rank", "名次 Rank"), ("branch", "网点 Branch"), ("name", "名称 Name"),
                                  ("region", "区域 Region"),
                                  ("satisfaction", "满意度 Satisfaction"), ("rated", "评价数 Rated"),
                                  ("star_share", "星级柜员 Star tellers"), ("vip_service_level", "VIP达标 VIP in target"),
                                  ("served", "办结 Served"), ("wait_mean_s", "平均等待 Mean wait (s)")]),
        "<h2>各区域VIP服务达标率 VIP service level by region</h2>",
        table(report["vip_by_region"], [("region", "区域 Region"), ("service_level", "达标率 Service level"),
                                        ("vip_called", "VIP叫号 VIP calls"), ("branches", "网点数 Branches")]),
    ]
    if "branch" in report:
        b = report["branch"]
        parts += [f"<h2>网点 Branch {html.escape(b['branch'])} {html.escape(b['name'])}</h2>",
                  table(b["days"], [("day", "日期 Day"), ("arrivals", "取号 Arrivals"), ("served", "办结 Served"),
                                    ("satisfaction", "满意度 Satisfaction"), ("wait_mean_s", "平均等待 Mean wait (s)")])]
    parts.append(extra)
    parts.append("</body></html>\n")
    return "".join(parts)


def _cell(key: str, v: Any) -> str:
    if key in ("satisfaction", "service_level", "star_share", "vip_service_level"):
        return _pct(v)
    if key == "link_up":
        return "正常 up" if v else "中断 down"
    return "" if v is None else str(v)
