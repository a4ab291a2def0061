"""The door poster's pages: `/poster` (the screen by the door, signed in) and `/p/<code>` (the
customer's phone after scanning it: choose a business, get a walk-in number, land on its
`/t/<token>` follow page). Rules and limits: web.poster. With `[web] poster` off every one of
these answers a plain 404.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import qrcode
import qrcode.image.svg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from qbus import messages as m
from qbus.errors import BusError
from qbus.hours import issuing_at
from qbus.ticket_link import ticket_token
from web import bookings as bk
from web.access import render_page
from web.phone_pages import NO_STORE
from web.poster import COOKIE, Phone, Poster, walk_in_tier
from web.sessions import Session

if TYPE_CHECKING:
    from web.context import WebContext

_LOG = logging.getLogger(__name__)


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def _off(ctx: WebContext) -> Response:
    return HTMLResponse(ctx.renderer.page("phone_missing.html", branch=ctx.cfg.branch), 404, headers=NO_STORE)


def _page(ctx: WebContext, template: str, status: int = 200, phone: Phone | None = None, **extra: Any) -> Response:
    body = ctx.renderer.page(template, branch=ctx.cfg.branch, **extra)
    resp = HTMLResponse(body, status_code=status, headers=NO_STORE)
    if phone is not None and ctx.poster is not None:
        resp.set_cookie(COOKIE, ctx.poster.cookie(phone), max_age=36 * 3600, httponly=True, samesite="lax",
                        secure=ctx.cfg.web.base_url.startswith("https://"), path="/p")
    return resp


def _say(ctx: WebContext, status: int, zh: str, en: str, **extra: Any) -> Response:
    return _page(ctx, "poster_said.html", status, zh=zh, en=en, **extra)


def _scan_again(ctx: WebContext) -> Response:
    return _say(ctx, 403, "二维码已过期，请在网点门口重新扫码", "This code has expired: scan the poster at the branch door again",
                kind="expired")


def _today(ctx: WebContext) -> str:
    return ctx.live.hall.day or bk.day_of(ctx.cfg, ctx.clock())


def _already(ctx: WebContext, number: str, token: str, status: int = 200) -> Response:
    return _say(ctx, status, f"您今天已取号 {number}，每部手机每天限取一个号",
                f"You already have number {number} today (one per phone per day)", kind="already",
                link=f"/t/{token}", number=number)


async def door_screen(ctx: WebContext, request: Request, s: Session) -> Response:
    """The screen by the door: the current code's QR, redrawn when the code changes."""
    poster = ctx.poster
    if poster is None:
        return _off(ctx)
    now = ctx.clock()
    url = poster.url(now)
    _code, left = poster.current(now)
    svg = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=20, border=2).to_string()
    return render_page(ctx, s, "poster.html", qr=svg.decode("utf-8"), url=url, refresh_s=int(left) + 1,
                       minutes=ctx.cfg.web.poster_minutes)


async def scanned(request: Request) -> Response:
    """The phone after scanning: the businesses to choose from, or why not."""
    ctx = _ctx(request)
    poster = ctx.poster
    if poster is None:
        return _off(ctx)
    code = request.path_params["code"]
    if poster.window_of(code, ctx.clock()) is None:
        return _scan_again(ctx)
    phone = poster.phone(request.cookies.get(COOKIE)) or poster.new_phone()
    taken = poster.taken_today(phone, _today(ctx))
    if taken is not None:
        return _already(ctx, *taken)
    if not issuing_at(ctx.cfg, ctx.clock()):
        return _closed(ctx)
    return _page(ctx, "poster_phone.html", phone=phone, code=code, form=poster.form_token(phone, code),
                 businesses=ctx.cfg.business, tier=walk_in_tier(ctx.cfg))


def _closed(ctx: WebContext) -> Response:
    h = ctx.cfg.hours
    return _say(ctx, 409, f"现在不是取号时间（营业时间 {h.open}–{h.close}）",
                f"Numbers are not being given out now (open {h.open}–{h.close})", kind="closed")


async def take(request: Request) -> Response:
    """Take the number: checks in order (code, phone and form, one per day, hours, the caps),
    then one `issue` to the core under the poster's own identity, then the follow page."""
    ctx = _ctx(request)
    poster = ctx.poster
    if poster is None:
        return _off(ctx)
    code = request.path_params["code"]
    now = ctx.clock()
    window = poster.window_of(code, now)
    if window is None:
        return _scan_again(ctx)
    form = await request.form()
    phone = poster.phone(request.cookies.get(COOKIE))
    if phone is None or not poster.form_ok(phone, code, str(form.get("form", ""))):
        _LOG.warning("refused a remote-ticket form without this phone's token (forged, or from another site)")
        return _say(ctx, 403, "请求无效，请重新扫描门口的二维码", "This form was not sent from this page: scan the poster again",
                    kind="forged")
    day = _today(ctx)
    taken = poster.taken_today(phone, day)
    if taken is not None:
        return _already(ctx, *taken, status=409)
    business = str(form.get("business", ""))
    if business not in {b.code for b in ctx.cfg.business}:
        return _say(ctx, 400, "请选择业务", "Choose a service", kind="bad")
    if not issuing_at(ctx.cfg, now):
        return _closed(ctx)
    return await _issue(ctx, poster, phone, window, day, business)


async def _issue(ctx: WebContext, poster: Poster, phone: Phone, window: int, day: str, business: str) -> Response:
    why = poster.reserve(phone, window, day)
    if why:
        _LOG.info("remote ticket refused: %s cap", why)
        return _say(ctx, 429, "远程取号名额已满，请到网点取号机取号", "No more remote numbers just now: please use the kiosk inside",
                    kind=why)
    if ctx.feed is None or ctx.phone is None:
        poster.release(phone, window)
        return _say(ctx, 503, "系统暂时无法取号，请到取号机取号", "The queue system cannot be reached: please use the kiosk", kind="offline")
    try:
        reply = await run_in_threadpool(ctx.feed.send, "poster", m.Issue(business=business,
                                                                         tier=walk_in_tier(ctx.cfg).code))
    except BusError as err:
        poster.release(phone, window)
        _LOG.warning("remote ticket: %s", err)
        return _say(ctx, 503, "系统暂时无法取号，请到取号机取号", "The queue system cannot be reached: please use the kiosk", kind="offline")
    if not reply.ok or reply.ticket is None:
        poster.release(phone, window)
        err_zh, err_en = (reply.error.zh, reply.error.en) if reply.error else ("未能取号", "no number")
        _LOG.info("remote ticket refused by the core: %s", reply.error.code if reply.error else "?")
        return _say(ctx, 409, f"未能取号：{err_zh}", f"No number: {err_en}", kind="refused")
    ticket = reply.ticket
    token = ticket_token(ctx.phone.key, ticket.id)
    phone = poster.took(phone, ticket.number, token)
    _LOG.info("remote ticket %s (%s) from the door's poster", ticket.number, ticket.business)
    if ticket.number not in ctx.phone.places:  # so the page we send them to already knows the ticket
        await ctx.ticket_news(ticket.number, 1.0)
    resp = RedirectResponse(f"/t/{token}", status_code=303)
    resp.set_cookie(COOKIE, poster.cookie(phone), max_age=36 * 3600, httponly=True, samesite="lax",
                    secure=ctx.cfg.web.base_url.startswith("https://"), path="/p")
    return resp
