"""Head office's pages (GET), the live board's event stream and the CSV downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from web.access import session_of
from web.broadcast import BYE, signed_in_stream, sse
from web.hq.context import HqContext
from web.hq.source import Row, SourceDown
from web.sessions import Session

# ?by= of the ranking: (the value sorted on, the count it is out of, its pass/fail key)
SORTS: dict[str, tuple[str, str, str]] = {
    "satisfaction": ("satisfaction", "rated", "below_target"),
    "stars": ("star_share", "graded", "star_below_target"),
    "vip": ("vip_service_level", "vip_called", "vip_below_target"),
}
SORT_NAMES = {"satisfaction": "满意度 Satisfaction", "stars": "星级柜员 Star tellers", "vip": "VIP达标 VIP in target"}


def _down(ctx: HqContext, s: Session, err: Exception) -> Response:
    return ctx.render(s, "refused.html", 503, what=f"总行数据库暂时无法访问 (head office's database is unreachable): {err}")


def _bad(ctx: HqContext, s: Session, err: Exception) -> Response:
    return ctx.render(s, "refused.html", 400, what=str(err))


async def board(ctx: HqContext, request: Request, s: Session) -> Response:
    try:
        html = await ctx.board_now()
    except SourceDown as err:
        return _down(ctx, s, err)
    return ctx.render(s, "hq/board.html", nav="board", board_html=html, now=ctx.clock())


async def events(request: Request) -> Response:
    """The live board: the whole board first, then each changed board."""
    ctx: HqContext = request.app.state.ctx
    s = session_of(ctx, request)
    if s is None:
        return Response(BYE, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    follower = ctx.follow(s)
    try:
        first = sse("sections", {"board": await ctx.board_now()})
    except SourceDown:
        first = b""

    stream = signed_in_stream(first, follower, lambda: ctx.sessions.alive(s), lambda: ctx.leave(s, follower))
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def ranked(rows: list[Row], by: str, region: str = "") -> list[Row]:
    """The ranking sorted on one figure (best first, no data last), ranks renumbered."""
    key, count, _ = SORTS[by]
    got = [dict(r) for r in rows if not region or r["region"] == region]
    got.sort(key=lambda r: (r[key] is None, -(r[key] or 0.0), -r[count], r["branch"]))
    for k, r in enumerate(got, 1):
        r["rank"] = k
    return got


def _month(ctx: HqContext, request: Request) -> str:
    return ctx.source.month(ctx.clock(), request.query_params.get("month", "").strip()[:7])


def _sort_of(request: Request) -> str:
    """The ranking's `?by=`, satisfaction unless it names one of SORTS."""
    by = request.query_params.get("by", "satisfaction")
    return by if by in SORTS else "satisfaction"


async def ranking(ctx: HqContext, request: Request, s: Session) -> Response:
    by = _sort_of(request)
    region = request.query_params.get("region", "")
    try:
        month = _month(ctx, request)
        rows = await run_in_threadpool(ctx.source.ranking, ctx.clock(), month)
    except ValueError as err:
        return _bad(ctx, s, err)
    except SourceDown as err:
        return _down(ctx, s, err)
    regions = sorted({r["region"] for r in rows})
    return ctx.render(s, "hq/ranking.html", nav="ranking", month=month, by=by, sorts=SORT_NAMES, region=region,
                      regions=regions, rows=ranked(rows, by, region), query=request.url.query)


async def regions(ctx: HqContext, request: Request, s: Session) -> Response:
    try:
        month = _month(ctx, request)
        rows = await run_in_threadpool(ctx.source.regions, ctx.clock(), month)
    except ValueError as err:
        return _bad(ctx, s, err)
    except SourceDown as err:
        return _down(ctx, s, err)
    return ctx.render(s, "hq/regions.html", nav="regions", month=month, rows=rows)


async def branches(ctx: HqContext, request: Request, s: Session) -> Response:
    """The branch picker (`?id=` goes straight to the branch)."""
    wanted = request.query_params.get("id", "").strip()
    if wanted:
        return RedirectResponse(f"/branch/{quote(wanted, safe='')}", status_code=303)
    return ctx.render(s, "hq/branches.html", nav="branch", rows=ctx.source.branches())


async def branch(ctx: HqContext, request: Request, s: Session) -> Response:
    bid = request.path_params["branch"]
    day = request.query_params.get("day", "").strip()[:10]
    try:
        month = _month(ctx, request)
        got = await run_in_threadpool(ctx.source.branch, bid, ctx.clock(), month, day, s.is_manager)
    except KeyError:
        return ctx.render(s, "refused.html", 404, what=f"没有这个网点 (no such branch): {bid}")
    except ValueError as err:
        return _bad(ctx, s, err)
    except SourceDown as err:
        return _down(ctx, s, err)
    return ctx.render(s, "hq/branch.html", nav="branch", month=month, day=day, page=got, b=got.info)


# ---------------------------------------------------------------------------------- CSV


def _csv(name: str, header: Sequence[str], rows: list[Row], cell: Callable[[str, Any], Any] | None = None) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r.get(k) is None else (cell(k, r[k]) if cell else r[k]) for k in header])
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _csv_refused(err: ValueError | SourceDown) -> Response:
    """A CSV asked for a bad month (400) or while the database is down (503): one plain line."""
    return PlainTextResponse(f"{err}\n", status_code=400 if isinstance(err, ValueError) else 503)


RANKING_CSV = ("rank", "branch", "name", "region", "satisfaction", "rated", "below_target", "star_share",
               "graded", "star_tellers", "star_below_target", "vip_service_level", "vip_called", "vip_in_target",
               "vip_below_target", "arrivals", "served", "wait_mean_s")
REGIONS_CSV = ("region", "branches", "arrivals", "served", "satisfaction", "rated", "satisfaction_below_target",
               "service_level", "vip_called", "vip_in_target", "below_target")
DAYS_CSV = ("day", "arrivals", "served", "cancelled", "rated", "satisfied", "satisfaction", "wait_mean_s",
            "vip_called", "vip_in_target", "alerts")


async def ranking_csv(ctx: HqContext, request: Request, s: Session) -> Response:
    by = _sort_of(request)
    try:
        month = _month(ctx, request)
        rows = await run_in_threadpool(ctx.source.ranking, ctx.clock(), month)
    except (ValueError, SourceDown) as err:
        return _csv_refused(err)
    got = ranked(rows, by, request.query_params.get("region", ""))
    return _csv(f"qcall-hq-ranking-{month}.csv", RANKING_CSV, got)


async def regions_csv(ctx: HqContext, request: Request, s: Session) -> Response:
    try:
        month = _month(ctx, request)
        rows = await run_in_threadpool(ctx.source.regions, ctx.clock(), month)
    except (ValueError, SourceDown) as err:
        return _csv_refused(err)
    return _csv(f"qcall-hq-regions-{month}.csv", REGIONS_CSV, rows)


async def branch_csv(ctx: HqContext, request: Request, s: Session) -> Response:
    bid = request.path_params["branch"]
    try:
        month = _month(ctx, request)
        got = await run_in_threadpool(ctx.source.branch, bid, ctx.clock(), month, "", False)
    except KeyError:
        return PlainTextResponse(f"no such branch: {bid}\n", status_code=404)
    except (ValueError, SourceDown) as err:
        return _csv_refused(err)
    return _csv(f"qcall-hq-{bid}-{month}.csv", DAYS_CSV, got.info["days"])


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")
