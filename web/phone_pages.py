"""The customer's phone pages: `/t/<token>` (no login), its live stream, and leaving the line.

The token is the capability: whoever holds the printed ticket may follow it and give it up, nobody
else can (a forged, mistyped or yesterday's token gets the same plain "not found" page, with no
hint of any other ticket). Leaving the line is a POST (after a confirm page) that goes to the core
as `cancel` under the lobby's bus identity with `by = "customer"`, so the journal and the history
tell a customer's own cancel from staff's.

Live updates follow the ticket's channel `t:<number>` of the Broadcaster, fed by `PhoneLine`
through the web's single bus subscription (web.app). Without JavaScript the page refreshes itself
(`<noscript><meta http-equiv=refresh>`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from qbus import messages as m
from qbus.errors import BusError
from qbus.ticket_link import well_formed
from web.broadcast import PING, PING_S, sse

if TYPE_CHECKING:
    from web.context import WebContext

_LOG = logging.getLogger(__name__)

CUSTOMER = "customer"  # the `by` of a cancel the customer made on their phone

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def channel(number: str) -> str:
    return f"t:{number}"


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def _number(ctx: WebContext, token: str) -> str | None:
    phone = ctx.phone
    if phone is None or not well_formed(token):
        return None
    return phone.lookup(token)


def _not_found(ctx: WebContext) -> Response:
    body = ctx.renderer.page("phone_missing.html", branch=ctx.cfg.branch)
    return HTMLResponse(body, status_code=404, headers=NO_STORE)


def _render(ctx: WebContext, template: str, token: str, number: str, status: int = 200, **extra: Any) -> Response:
    view = ctx.phone_view(number)
    body = ctx.renderer.page(template, branch=ctx.cfg.branch, t=view, token=token, **extra)
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


async def ticket_page(request: Request) -> Response:
    ctx = _ctx(request)
    token = request.path_params["token"]
    number = _number(ctx, token)
    if number is None:
        return _not_found(ctx)
    return _render(ctx, "phone.html", token, number, message=request.query_params.get("m", ""))


async def ticket_events(request: Request) -> Response:
    """The page's live stream: its view now, then every change of it (one small JSON message)."""
    ctx = _ctx(request)
    number = _number(ctx, request.path_params["token"])
    if number is None:
        return Response(b"event: gone\ndata: {}\n\n", media_type="text/event-stream", status_code=404,
                        headers=NO_STORE)
    follower = ctx.broadcaster.follow(channel(number))
    first = sse("ticket", ctx.phone_view(number).as_json())

    async def stream() -> Any:
        try:
            yield b"retry: 3000\n" + first
            while True:
                try:
                    data = await asyncio.wait_for(follower.queue.get(), PING_S)
                except TimeoutError:
                    data = PING
                yield data
                if follower.closed and follower.queue.empty():
                    return
        finally:
            ctx.broadcaster.leave(follower)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**NO_STORE, "X-Accel-Buffering": "no"})


async def leave_confirm(request: Request) -> Response:
    ctx = _ctx(request)
    token = request.path_params["token"]
    number = _number(ctx, token)
    if number is None:
        return _not_found(ctx)
    return _render(ctx, "phone_leave.html", token, number)


async def leave(request: Request) -> Response:
    """Give up the ticket: the core cancels it (a waiting or missed one) and everyone behind moves up."""
    ctx = _ctx(request)
    token = request.path_params["token"]
    number = _number(ctx, token)
    if number is None:
        return _not_found(ctx)
    form = await request.form()
    if form.get("confirm") != "yes":
        return RedirectResponse(f"/t/{token}/leave", status_code=303)
    if ctx.feed is None:
        return _render(ctx, "phone.html", token, number, 503, message="offline")
    try:
        reply = await run_in_threadpool(ctx.feed.send, "lobby", m.Cancel(number=number, by=CUSTOMER))
    except BusError as err:
        _LOG.warning("phone cancel of %s: %s", number, err)
        return _render(ctx, "phone.html", token, number, 503, message="offline")
    if not reply.ok:
        _LOG.info("phone cancel of %s refused: %s", number, reply.error.en if reply.error else "?")
        return _render(ctx, "phone.html", token, number, 409, message="refused")
    _LOG.info("%s left the line from the phone page", number)
    await ctx.ticket_news(number, 1.0)  # so the page we send back already says so
    return RedirectResponse(f"/t/{token}?m=left", status_code=303)
