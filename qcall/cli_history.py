"""The history's commands: `qcall report` for a period, `qcall day close`, `qcall complaint`.

`qcall report` with no period keeps the live day's figures from the journal (qcall.manager);
with --day / --week / --month / --quarter / --from --to it reads the history store and writes
the report as HTML, CSV and JSON into --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

CFG = "examples/branch.toml"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], report_func: Any) -> None:
    rep = sub.add_parser(
        "report", help="the live day's KPIs, or a period's report (HTML + CSV + JSON) from the history",
        description="Without a period: replays the journal (read-only) and prints the live business "
        "day's KPIs. With --day, --week (2026-W49), --month (2026-12), --quarter (2026-Q4) or --from/--to: "
        "reads the archived days from the history store and writes report-<period>.html (charts inline, "
        "opens offline), .csv (each ticket's life, no personal data) and .json into --out.")
    rep.add_argument("--json", action="store_true", help="the live day's raw figures as JSON (seconds, "
                     "ids), for scripts; without it a table a person reads")
    rep.add_argument("--config", default=CFG, help="branch TOML file")
    rep.add_argument("--journal", default="", help="journal file (default: storage.journal from config)")
    rep.add_argument("--history", default="", help="history store: SQLite file or postgresql:// DSN "
                     "(default: [history] store, else history.db beside the journal)")
    rep.add_argument("--day", default="", help="one business day, YYYY-MM-DD")
    rep.add_argument("--week", default="", help="ISO week, e.g. 2026-W49")
    rep.add_argument("--month", default="", help="month, e.g. 2026-12")
    rep.add_argument("--quarter", default="", help="quarter, e.g. 2026-Q4")
    rep.add_argument("--from", dest="first", default="", help="first day of a range")
    rep.add_argument("--to", dest="last", default="", help="last day of a range")
    rep.add_argument("--by", default="", help="break down by teller, business, tier, counter, hour, "
                     "day, weekday or via")
    rep.add_argument("--out", default="var/reports", help="folder for the report files")
    rep.add_argument("--format", default="html,csv,json", help="which files: html, csv, json")
    rep.set_defaults(func=lambda a: _report(a, report_func))

    day = sub.add_parser("day", help="close the business day into the history",
                         description="close: archive every closed day of the journal that is not in the "
                         "history yet, and the current day as it stands (the daily reset does this by itself). "
                         "Archiving twice changes nothing.")
    day.add_argument("action", choices=["close"])
    day.add_argument("--config", default=CFG)
    day.add_argument("--journal", default="", help="journal file (default: storage.journal)")
    day.add_argument("--history", default="", help="history store (default: [history] store)")
    day.set_defaults(func=_day_close)

    comp = sub.add_parser("complaint", help="the complaints book (意见簿 / 投诉): add, list, progress, close",
                          description="Deadlines from [complaints]: contact within 24 h, reply within 3 days, "
                          "close within 30 days. 1-2 star ratings open complaints by themselves when their day "
                          "is archived.")
    csub = comp.add_subparsers(dest="action", metavar="ACTION")
    csub.required = True
    add = csub.add_parser("add", help="record a complaint", description="Record a complaint with its source, the customer's words and how to reach them; the deadlines (contact, reply, close) start now.")
    add.add_argument("--source", required=True,
                     choices=["comment_book", "phone", "web", "letter", "in_person", "rating"])
    add.add_argument("--text", required=True, help="what the customer said")
    add.add_argument("--contact", default="", help="how to reach the customer (kept in the store, never exported)")
    add.add_argument("--handler", default="", help="staff id of the person handling it")
    add.add_argument("--number", default="", help="ticket number, if known")
    add.add_argument("--counter", type=int, default=0)
    add.add_argument("--teller", default="")
    ls = csub.add_parser("list", help="list complaints (overdue ones marked)", description="Every complaint with its deadlines; the overdue ones marked, so the manager sees what must be done today.")
    ls.add_argument("--open", action="store_true", help="only complaints not closed")
    ls.add_argument("--json", action="store_true")
    pg = csub.add_parser("progress", help="record that the customer was contacted / replied to", description="Record that the customer was contacted or given a reply, which stops that deadline.")
    pg.add_argument("id", type=int)
    pg.add_argument("--contacted", action="store_true")
    pg.add_argument("--replied", action="store_true")
    pg.add_argument("--handler", default="")
    cl = csub.add_parser("close", help="close a complaint with its outcome", description="Close a complaint; its outcome and who closed it are kept for the reports.")
    cl.add_argument("id", type=int)
    cl.add_argument("--outcome", required=True)
    cl.add_argument("--by", required=True, help="staff id of the person closing it")
    for p in (add, ls, pg, cl):
        p.add_argument("--config", default=CFG)
        p.add_argument("--journal", default="")
        p.add_argument("--history", default="")
    comp.set_defaults(func=_complaint)


def _cfg_and_store(args: argparse.Namespace) -> tuple[Any, Any]:
    from qbus.config import load
    from qcall.history import open_history

    cfg = load(args.config)
    return cfg, open_history(cfg, args.journal or cfg.storage.journal, args.history)


def _report(args: argparse.Namespace, live: Any) -> int:
    from qhistory import period as pd

    p = pd.parse(day_=args.day, week_=args.week, month_=args.month, quarter_=args.quarter, first=args.first,
                 last=args.last)
    if p is None:
        return int(live(args))
    from qhistory import render, report

    formats = {f.strip() for f in args.format.split(",") if f.strip()}
    bad = formats - {"html", "csv", "json"}
    if bad or not formats:
        raise pd.BadPeriod(f"--format: {', '.join(sorted(bad)) or 'nothing'}: choose from html, csv, json")
    if args.by and args.by not in report.BY_CHOICES:
        raise pd.BadPeriod(f"--by {args.by!r}: choose one of {', '.join(report.BY_CHOICES)}")
    cfg, store = _cfg_and_store(args)
    try:
        data = report.load(store, cfg.branch.id, p)
    finally:
        store.close()
    rep = report.build_from(cfg, p, data, args.by or None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"report-{cfg.branch.id}-{p.label.replace('..', '_')}"
    written = []
    if "html" in formats:
        stem.with_suffix(".html").write_text(render.html(rep), encoding="utf-8")
        written.append(stem.with_suffix(".html"))
    if "csv" in formats:
        stem.with_suffix(".csv").write_text(render.csv_lives(data.tickets, cfg.branch.timezone), encoding="utf-8")
        written.append(stem.with_suffix(".csv"))
    if "json" in formats:
        stem.with_suffix(".json").write_bytes(render.json(rep))
        written.append(stem.with_suffix(".json"))
    t = rep.totals
    print(f"{p.title_zh} {p.title_en} {p.label}: {len(rep.days)} days, {t.arrivals} arrivals, "
          f"{t.served} served, {t.abandoned} abandoned, satisfaction "
          f"{'—' if t.satisfaction.rate is None else f'{t.satisfaction.rate:.1%}'}, "
          f"{len(rep.breaches)} breaches")
    for path in written:
        print(path)
    return 0


def _day_close(args: argparse.Namespace) -> int:
    from qbus.config import ConfigError, load
    from qcall.history import close_day, store_target

    cfg = load(args.config)
    journal = Path(args.journal or cfg.storage.journal)
    if not journal.is_file():
        raise ConfigError(f"{journal}: no journal here (storage.journal in the config, or --journal)")
    days = close_day(cfg, journal, args.history)
    target = args.history or store_target(cfg, journal)
    print(f"archived into {target}: {', '.join(days)}" if days else f"nothing new to archive into {target}")
    return 0


def _complaint(args: argparse.Namespace) -> int:
    from qhistory import complaints as cm

    cfg, store = _cfg_and_store(args)
    now = time.time()
    tz = cfg.branch.timezone
    try:
        if args.action == "add":
            c = cm.new(cfg, source=args.source, opened_at=now, text=args.text, contact=args.contact,
                       handler=args.handler, number=args.number, counter=args.counter, teller=args.teller,
                       day=_when(now, tz)[:10])
            cid = store.add_complaint(c)
            print(f"complaint #{cid} opened; contact by {_when(c.contact_due, tz)}, reply by "
                  f"{_when(c.reply_due, tz)}, close by {_when(c.close_due, tz)}")
        elif args.action == "list":
            items = store.complaints(cfg.branch.id, open_only=args.open)
            if args.json:
                print(json.dumps([_public(c, now, tz) for c in items], ensure_ascii=False, indent=1))
            else:
                for c in items:
                    print(_line(c, now, tz))
                if not items:
                    print("no complaints")
        elif args.action == "progress":
            c = cm.advance(store, args.id, now, contacted=args.contacted, replied=args.replied,
                           handler=args.handler)
            print(_line(c, now, tz))
        else:
            c = cm.close(store, args.id, now, args.outcome, args.by)
            print(_line(c, now, tz))
    finally:
        store.close()
    return 0


def _when(t: float, tz: str) -> str:
    """A moment in the branch's time zone (the terminal may be set to another)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _public(c: Any, now: float, tz: str) -> dict[str, Any]:
    """A complaint for the terminal: the contact stays in the store."""
    return {"id": c.id, "source": c.source, "opened": _when(c.opened_at, tz), "status": c.status, "text": c.text,
            "number": c.number, "counter": c.counter, "teller": c.teller, "handler": c.handler,
            "overdue": c.overdue(now), "outcome": c.outcome}


def _line(c: Any, now: float, tz: str) -> str:
    late = c.overdue(now)
    flag = f" 逾期 OVERDUE ({', '.join(late)})" if late else ""
    where = " ".join(x for x in (c.number, f"c{c.counter}" if c.counter else "", c.teller and f"t{c.teller}") if x)
    return f"#{c.id} [{c.status}] {_when(c.opened_at, tz)} {c.source} {where} {c.text[:60]}{flag}".replace("  ", " ")


def overdue_lines(cfg: Any, journal: str, now: float | None = None) -> list[str]:
    """For `qcall watch`: one line per overdue complaint in the history store (if there is one)."""
    from qcall.history import store_target
    from qhistory.store import open_store

    target = store_target(cfg, journal)
    if not target.startswith(("postgres", "host=")) and not Path(target).is_file():
        return []
    store = open_store(target)
    try:
        now = time.time() if now is None else now
        return [f"! 投诉逾期 complaint overdue: {_line(c, now, cfg.branch.timezone)}" for c in store.complaints(cfg.branch.id, True)
                if c.overdue(now)]
    finally:
        store.close()
