"""Sign-in and sign-out, shared by the branch's pages and head office's (web.hq): personal logins
checked against the users file's argon2id hashes (in a worker thread: a hash takes ~50 ms), the
per-login and per-address limit, a new session cookie (HttpOnly, SameSite=Strict, Secure behind
HTTPS), and sign-out revoking the session and ending its open event streams at once."""

from __future__ import annotations

import logging
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.access import Site, client_address, render_page
from web.sessions import COOKIE, LoginLimiter, Session
from web.users import UserBook

_LOG = logging.getLogger(__name__)


class SignInSite(Site, Protocol):
    @property
    def users(self) -> UserBook: ...

    @property
    def limiter(self) -> LoginLimiter: ...

    @property
    def secure_cookies(self) -> bool: ...

    def end_streams(self, sid: str) -> None: ...


async def login_page(request: Request) -> Response:
    ctx: SignInSite = request.app.state.ctx
    msg = "会话已过期，请重新登录 (session expired: sign in again)" if request.query_params.get("expired") else ""
    return render_page(ctx, None, "login.html", message=msg, next=request.query_params.get("next", "/"))


async def login_post(request: Request) -> Response:
    ctx: SignInSite = request.app.state.ctx
    form = await request.form()
    login = str(form.get("login", "")).strip().lower()[:32]
    password = str(form.get("password", ""))[:256]
    nxt = str(form.get("next", "/"))
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    keys = (f"login:{login}", f"addr:{client_address(request)}")
    wait = ctx.limiter.wait_s(*keys)
    if wait > 0:
        return render_page(ctx, None, "login.html", 429, next=nxt,
                           message=f"尝试次数过多，请 {wait / 60:.0f} 分钟后再试 (too many attempts: wait {wait:.0f} s)")
    user = await run_in_threadpool(ctx.users.verify, login, password)
    if user is None:
        ctx.limiter.failed(*keys)
        _LOG.warning("failed sign-in for %r from %s", login, client_address(request))
        return render_page(ctx, None, "login.html", 401, next=nxt, message="用户名或密码错误 (wrong login or password)")
    ctx.limiter.succeeded(keys[0])
    cookie, s = ctx.sessions.create(user)
    _LOG.info("%s (%s) signed in from %s", s.login, s.role, client_address(request))
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(COOKIE, cookie, max_age=int(ctx.sessions.ttl_s), httponly=True, samesite="strict",
                    secure=ctx.secure_cookies)
    return resp


async def logout(ctx: SignInSite, request: Request, s: Session, form: dict[str, str]) -> Response:
    ctx.sessions.revoke(s.sid)
    ctx.end_streams(s.sid)
    _LOG.info("%s signed out", s.login)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp
