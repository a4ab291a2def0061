"""The web service's ASGI application (Starlette): the routes, and the headers every answer carries.

Why Starlette on uvicorn: a small ASGI toolkit (routing, forms, static files, streaming
responses) with no ORM and no hidden state; Server-Sent Events are a `StreamingResponse`, and
thousands of idle streams cost one coroutine each on one event loop, which the phone pages of
issue 13 need. Pages are rendered on the server (Jinja); the only script is static/live.js.

Rights are checked three times: the page does not offer what a role may not do (and refuses it
if asked), the service refuses the request before anything is sent (web.access), and the command
goes out under the role's own bus identity, which the broker's ACL and the core both hold to its
ops (web.feed).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web import actions, pages, phone_pages, poster_pages, signin
from web.access import action, page
from web.context import WebContext

STATIC = Path(__file__).resolve().parent / "static"

__all__ = ["WebContext", "create_app"]


SECURITY_HEADERS = [
    # Only our own files; no framing (click-jacking a "close counter" button); no sniffing.
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response (streams included)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(ctx: WebContext) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        loop = asyncio.get_running_loop()
        if ctx.feed is not None:
            ctx.feed.start(loop, ctx.on_message, ctx.on_link)
        refresher = loop.create_task(ctx.refresher())
        try:
            yield
        finally:
            refresher.cancel()
            if ctx.feed is not None:
                ctx.feed.close()

    routes = [
        Route("/", page(pages.now)),
        Route("/login", signin.login_page, methods=["GET"]),
        Route("/login", signin.login_post, methods=["POST"]),
        Route("/logout", action(signin.logout), methods=["POST"]),
        Route("/events", pages.events),
        Route("/lobby", page(pages.lobby)),
        Route("/counters", page(pages.counters, manager_only=True)),
        Route("/check", page(pages.check)),
        Route("/bookings", page(pages.bookings)),
        Route("/act/book", action(actions.book), methods=["POST"]),
        Route("/act/cancel_booking", action(actions.cancel_booking), methods=["POST"]),
        Route("/reports", page(pages.reports)),
        Route("/reports.csv", page(pages.reports_csv)),
        Route("/reports/lives.csv", page(pages.lives_csv)),
        Route("/healthz", pages.healthz),
        Route("/t/{token}", phone_pages.ticket_page),
        Route("/t/{token}/events", phone_pages.ticket_events),
        Route("/t/{token}/leave", phone_pages.leave_confirm, methods=["GET"]),
        Route("/t/{token}/leave", phone_pages.leave, methods=["POST"]),
        Route("/poster", page(poster_pages.door_screen)),
        Route("/p/{code}", poster_pages.scanned, methods=["GET"]),
        Route("/p/{code}", poster_pages.take, methods=["POST"]),
        Route("/act/requeue", action(actions.requeue), methods=["POST"]),
        Route("/act/cancel", action(actions.cancel), methods=["POST"]),
        Route("/act/move", action(actions.move), methods=["POST"]),
        Route("/act/issue", action(actions.issue), methods=["POST"]),
        Route("/act/notice", action(actions.notice), methods=["POST"]),
        Route("/act/counter", action(actions.counter, manager_only=True), methods=["POST"]),
        Route("/alerts/ack", action(actions.ack), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.ctx = ctx
    return app
