"""The pages people read (GET), the live event stream, the CSV download (sign-in: web.signin)."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from web import bookings as bk
from web import checks
from web.access import render_page, session_of
from web.broadcast import BYE, signed_in_stream, sse
from web.context import WebContext, role_channel
from web.reports import BadAsk, ask_of
from web.sessions import Session

_LOG = logging.getLogger(__name__)

async def now(ctx: WebContext, request: Request, s: Session) -> Response:
    sections = ctx.renderer.sections(s.is_manager, csrf=s.csrf)
    return render_page(ctx, s, "now.html", sections=sections)


async def lobby(ctx: WebContext, request: Request, s: Session) -> Response:
    return render_page(ctx, s, "lobby.html", sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf), result=None)


async def counters(ctx: WebContext, request: Request, s: Session) -> Response:
    return render_page(ctx, s, "counters.html", sections=ctx.renderer.sections(True, csrf=s.csrf), result=None)


async def check(ctx: WebContext, request: Request, s: Session) -> Response:
    found = await run_in_threadpool(checks.opening_checks, ctx.live, now=ctx.clock(), disk_path=ctx.disk_path,
                                    archived=yesterday_archived(ctx))
    return render_page(ctx, s, "check.html", checks=found, failed=checks.failed(found))


def yesterday_archived(ctx: WebContext) -> bool | None:
    """Is the business day before today in the history store? (None: no store to ask.)"""
    if ctx.history is None:
        return None
    return ctx.history.archived(checks.yesterday(ctx.live, ctx.clock()))


def today(ctx: WebContext) -> str:
    """The branch's calendar day now (its time zone), as YYYY-MM-DD."""
    return bk.day_of(ctx.cfg, ctx.clock())


async def bookings(ctx: WebContext, request: Request, s: Session, result: Any = None,
                   status: int = 200, made: str = "") -> Response:
    """预约: the day's bookings from the retained state/bookings, and the form to book a slot."""
    now_day = today(ctx)
    day = request.query_params.get("day", now_day)
    if day not in bk.days_ahead(now_day, 60):
        day = now_day
    rows = bk.day_rows(ctx.cfg, ctx.live.bookings, day, ctx.clock(), ctx.live.tickets)
    return render_page(ctx, s, "bookings.html", status, rows=rows, day=day, today=now_day, days=bk.days_ahead(now_day),
                       slots=bk.slots(ctx.cfg), result=result, made=made, can_hash=ctx.hasher is not None)


async def reports(ctx: WebContext, request: Request, s: Session) -> Response:
    """With a period (?kind=day|week|month|range&date=…&to=…): the history's report with its
    charts; without one: today's live figures from the core's retained stats."""
    params = dict(request.query_params)
    today = str(ctx.live.stats.get("day", "")) or ctx.live.hall.day
    common: dict[str, Any] = {"today": today, "kinds": KIND_NAMES, "kind": params.get("kind", "month"),
              "date": params.get("date", "") or today, "to": params.get("to", ""), "history": ctx.history is not None}
    try:
        ask = ask_of(params)
        if ask is not None and ctx.history is not None:
            rep = await run_in_threadpool(ctx.history.page, ask, s.is_manager)
            return render_page(ctx, s, "reports.html", rep=rep, csv_query=request.url.query, **common)
    except BadAsk as err:
        return render_page(ctx, s, "reports.html", 400, error=str(err), **_live_report(ctx), **common)
    return render_page(ctx, s, "reports.html", **_live_report(ctx), **common)


KIND_NAMES = {"day": "日报 Day", "week": "周报 Week", "month": "月报 Month", "range": "期间 From–to"}


def _live_report(ctx: WebContext) -> dict[str, Any]:
    h = ctx.cfg.hours
    first, last = int(h.open[:2]), int(h.close[:2]) - (h.close[3:] == "00")
    seen = [int(x) for x in ctx.live.stats.get("arrivals_by_hour", {})]
    return {"k": ctx.live.stats, "hours": [f"{x:02d}" for x in range(min([first, *seen]), max([last, *seen]) + 1)]}


async def lives_csv(ctx: WebContext, request: Request, s: Session) -> Response:
    """Each ticket's life over the period as CSV (no personal data; the lobby's has no ratings)."""
    try:
        ask = ask_of(dict(request.query_params))
    except BadAsk as err:
        return PlainTextResponse(str(err) + "\n", status_code=400)
    if ask is None or ctx.history is None:
        return PlainTextResponse("choose a period (kind, date) from the history\n", status_code=400)
    name, text = await run_in_threadpool(ctx.history.lives_csv, ask, s.is_manager)
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def reports_csv(ctx: WebContext, request: Request, s: Session) -> Response:
    """Today's KPIs as CSV rows (section, key, value); the lobby's file has no teller ratings."""
    k = ctx.live.stats
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "key", "value"])
    for key in ("day", "issued", "served", "no_shows", "cancelled", "still_waiting", "satisfaction_rate",
                "unrated_rate"):
        if key in ("satisfaction_rate", "unrated_rate") and not s.is_manager:
            continue
        w.writerow(["day", key, k.get(key, "")])
    for section in ("wait_s_by_tier", "wait_s_by_type"):
        for name, summ in k.get(section, {}).items():
            for stat, value in summ.items():
                w.writerow([section, f"{name}.{stat}", value])
    for hour, n in k.get("arrivals_by_hour", {}).items():
        w.writerow(["arrivals_by_hour", hour, n])
    if s.is_manager:
        for teller, row in k.get("by_teller", {}).items():
            for stat, value in row.items():
                w.writerow(["by_teller", f"{teller}.{stat}", "" if value is None else value])
    name = f"qcall-{ctx.cfg.branch.id}-{k.get('day', 'today')}.csv"
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def events(request: Request) -> Response:
    """The live stream of a signed-in page: the whole picture first, then the sections that change."""
    ctx: WebContext = request.app.state.ctx
    s = session_of(ctx, request)
    if s is None:
        return Response(BYE, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    sid = s.sid
    follower = ctx.streams.follow(sid, role_channel(s.is_manager))
    first = sse("sections", ctx.renderer.sections(s.is_manager))
    stream = signed_in_stream(first, follower, lambda: ctx.sessions.alive(s), lambda: ctx.streams.leave(sid, follower))
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def healthz(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    ok = ctx.live.bus_online
    return PlainTextResponse("ok\n" if ok else "bus offline\n", status_code=200 if ok else 503)
