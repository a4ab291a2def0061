"""Who may open a page or send a form: a live session, the session's CSRF token, the role's right.

Every GET page goes through `page()` and every form through `action()`, so no route can forget
a check: a missing or expired session goes to the sign-in page, a forged or stale form changes
nothing (403), and a manager-only page or action refuses the lobby before anything is sent.
The branch's pages and head office's (web.hq) both go through these: each app's context is a
`Site` (its sessions, and how it renders a page).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from web.sessions import COOKIE, Session, Sessions, csrf_ok

_LOG = logging.getLogger(__name__)


class Site(Protocol):
    """What the checks need of an app's context (web.context.WebContext, web.hq.context.HqContext)."""

    @property
    def sessions(self) -> Sessions: ...

    def render(self, s: Session | None, template: str, status: int = 200, **extra: Any) -> HTMLResponse: ...


C = TypeVar("C", bound=Site)


def session_of(ctx: Site, request: Request) -> Session | None:
    return ctx.sessions.load(request.cookies.get(COOKIE))


def login_redirect(request: Request, expired: bool = False) -> Response:
    target = "/login?expired=1" if expired else f"/login?next={request.url.path}"
    resp = RedirectResponse(target, status_code=303)
    if expired:
        resp.delete_cookie(COOKIE)
    return resp


def render_page(ctx: Site, s: Session | None, template: str, status: int = 200, **extra: Any) -> HTMLResponse:
    return ctx.render(s, template, status, **extra)


def page(handler: Callable[[C, Request, Session], Awaitable[Response]], *,
         manager_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: signed-in people only; a manager page refuses the lobby with a 403 page."""

    async def endpoint(request: Request) -> Response:
        ctx: C = request.app.state.ctx
        s = session_of(ctx, request)
        if s is None:
            return login_redirect(request, expired=COOKIE in request.cookies)
        if manager_only and not s.is_manager:
            return render_page(ctx, s, "refused.html", 403, what="此页面仅限行长 (manager only)")
        return await handler(ctx, request, s)

    return endpoint


def action(handler: Callable[[C, Request, Session, dict[str, str]], Awaitable[Response]], *,
           manager_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A form POST: a live session, the session's CSRF token, and the role's right, in that order."""

    async def endpoint(request: Request) -> Response:
        ctx: C = request.app.state.ctx
        s = session_of(ctx, request)
        if s is None:
            return login_redirect(request, expired=True)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not csrf_ok(s, form.get("csrf")):
            _LOG.warning("forged or stale form from %s (%s) to %s", s.login, client_address(request), request.url.path)
            return render_page(ctx, s, "refused.html", 403,
                         what="表单已过期或不是从本系统提交的，请刷新页面后重试 (the form expired or was forged: reload the page)")
        if manager_only and not s.is_manager:
            _LOG.warning("%s (lobby) refused %s", s.login, request.url.path)
            return render_page(ctx, s, "refused.html", 403, what="大堂人员不能开关窗口 (lobby staff cannot run the counters)")
        return await handler(ctx, request, s, form)

    return endpoint


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"
