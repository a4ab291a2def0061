"""Head office's ASGI application: the same Starlette stack, security headers, sign-in, sessions
and CSRF checks as the branch's pages (web.app, web.access, web.signin), other routes."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web import signin
from web.access import action, page
from web.app import STATIC, SecurityHeaders
from web.hq import pages
from web.hq.context import HqContext


def create_hq_app(ctx: HqContext) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        import asyncio

        watcher = asyncio.get_running_loop().create_task(ctx.watch())
        try:
            yield
        finally:
            watcher.cancel()
            ctx.source.close()

    routes = [
        Route("/", page(pages.board)),
        Route("/events", pages.events),
        Route("/login", signin.login_page, methods=["GET"]),
        Route("/login", signin.login_post, methods=["POST"]),
        Route("/logout", action(signin.logout), methods=["POST"]),
        Route("/ranking", page(pages.ranking)),
        Route("/ranking.csv", page(pages.ranking_csv)),
        Route("/regions", page(pages.regions)),
        Route("/regions.csv", page(pages.regions_csv)),
        Route("/branch", page(pages.branches)),
        Route("/branch/{branch}", page(pages.branch)),
        Route("/branch/{branch}/days.csv", page(pages.branch_csv)),
        Route("/healthz", pages.healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.ctx = ctx
    return app
