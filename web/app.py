"""The web service's ASGI application (Starlette): routes, sign-in, the live event stream.

Why Starlette on uvicorn: a small ASGI toolkit (routing, forms, static files, streaming
responses) with no ORM and no hidden state; Server-Sent Events are a `StreamingResponse`, and
thousands of idle streams cost one coroutine each on one event loop, which the phone pages of
issue 13 need. Pages are rendered on the server (Jinja); the only script is static/live.js.

Rights are checked three times: the page does not offer what a role may not do (and refuses it
if asked), the service refuses the request before anything is sent, and the command goes out
under the role's own bus identity, which the broker's ACL and the core both hold to its ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import BusError, BusTimeout
from web import checks
from web.broadcast import BYE, PING, Broadcaster, Follower, sse
from web.feed import BusFeed
from web.live import LiveBranch
from web.render import Renderer, touched
from web.sessions import COOKIE, LoginLimiter, Session, Sessions, csrf_ok
from web.users import UserBook

_LOG = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
NUMBER = re.compile(r"^[A-Z]\d{2,4}$")
PING_S = 15.0
REFRESH_S = 20.0  # time-dependent marks (a wait passing its limit) are re-rendered this often


@dataclass
class WebContext:
    """Everything the routes share; built by `qcall web` (or a test) and passed to `create_app`."""

    cfg: BranchConfig
    live: LiveBranch
    feed: BusFeed | None
    users: UserBook
    sessions: Sessions
    limiter: LoginLimiter
    clock: Callable[[], float] = time.time
    disk_path: Path = Path(".")
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    renderer: Renderer = field(init=False)
    _last: dict[bool, dict[str, str]] = field(default_factory=lambda: {True: {}, False: {}})
    _flush_due: bool = False
    _by_sid: dict[str, set[Follower]] = field(default_factory=dict)
    _ticket_news: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.live, self.person_name)

    def person_name(self, login: str) -> str:
        try:
            user = self.users.users().get(login)
        except Exception:  # a broken users file must not break the dashboard's ack lines
            user = None
        return user.name if user else login

    # ------------------------------------------------------------------ bus -> pages

    def on_message(self, topic: str, payload: bytes) -> None:
        self.live.apply(topic, payload)
        for number in self.live.changed_tickets:
            news = self._ticket_news.pop(number, None)
            if news is not None:
                news.set()
        self.live.changed_tickets.clear()
        self._schedule()

    async def ticket_news(self, number: str, timeout: float) -> None:
        """Wait (bounded) for the next event about ticket `number`: a refusal's reply can arrive
        before the event of the action that won, on another connection."""
        news = self._ticket_news.setdefault(number, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), timeout)

    def on_link(self, online: bool) -> None:
        self.live.set_online(online)
        self._schedule()

    def _schedule(self) -> None:
        """Coalesce a burst of messages into one render: flush on the loop's next turn."""
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_due = False
        dirty, self.live.dirty = self.live.dirty, set()
        names = touched(dirty)
        if not names:
            return
        for manager in (True, False):
            channel = role_channel(manager)
            if not self.broadcaster.has(channel):
                self._last[manager].clear()  # nobody follows: the next follower gets everything anyway
                continue
            fresh = self.renderer.sections(manager, names)
            last = self._last[manager]
            changed = {k: html for k, html in fresh.items() if last.get(k) != html}
            if changed:
                last.update(changed)
                self.broadcaster.publish(channel, sse("sections", changed))

    async def refresher(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            self.live.dirty.update(("queues", "alerts"))
            self.flush()

    def end_streams(self, sid: str) -> None:
        for f in self._by_sid.pop(sid, set()):
            try:
                f.queue.put_nowait(BYE)
            except asyncio.QueueFull:
                self.broadcaster.leave(f)


def role_channel(manager: bool) -> str:
    return "now:manager" if manager else "now:lobby"


# ---------------------------------------------------------------------- helpers


def _session(ctx: WebContext, request: Request) -> Session | None:
    return ctx.sessions.load(request.cookies.get(COOKIE))


def _login_redirect(request: Request, expired: bool = False) -> Response:
    target = "/login?expired=1" if expired else f"/login?next={request.url.path}"
    resp = RedirectResponse(target, status_code=303)
    if expired:
        resp.delete_cookie(COOKIE)
    return resp


def _page(ctx: WebContext, s: Session | None, template: str, status: int = 200, **extra: Any) -> HTMLResponse:
    manager = bool(s and s.is_manager)
    body = ctx.renderer.page(template, **ctx.renderer.context(manager, s.csrf if s else ""), session=s,
                             branch=ctx.cfg.branch, **extra)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


Handler = Callable[[WebContext, Request, Session], Awaitable[Response]]


def page(handler: Handler, *, manager_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: signed-in people only; a manager page refuses the lobby with a 403 page."""

    async def endpoint(request: Request) -> Response:
        ctx: WebContext = request.app.state.ctx
        s = _session(ctx, request)
        if s is None:
            return _login_redirect(request, expired=COOKIE in request.cookies)
        if manager_only and not s.is_manager:
            return _page(ctx, s, "refused.html", 403, what="此页面仅限行长 (manager only)")
        return await handler(ctx, request, s)

    return endpoint


def action(handler: Callable[[WebContext, Request, Session, dict[str, str]], Awaitable[Response]], *,
           manager_only: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A form POST: a live session, the session's CSRF token, and the role's right, in that order."""

    async def endpoint(request: Request) -> Response:
        ctx: WebContext = request.app.state.ctx
        s = _session(ctx, request)
        if s is None:
            return _login_redirect(request, expired=True)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not csrf_ok(s, form.get("csrf")):
            _LOG.warning("forged or stale form from %s (%s) to %s", s.login, _client(request), request.url.path)
            return _page(ctx, s, "refused.html", 403,
                         what="表单已过期或不是从本系统提交的，请刷新页面后重试 (the form expired or was forged: reload the page)")
        if manager_only and not s.is_manager:
            _LOG.warning("%s (lobby) refused %s", s.login, request.url.path)
            return _page(ctx, s, "refused.html", 403, what="大堂人员不能开关窗口 (lobby staff cannot run the counters)")
        return await handler(ctx, request, s, form)

    return endpoint


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


# ---------------------------------------------------------------------- sign-in


async def login_page(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    msg = "会话已过期，请重新登录 (session expired: sign in again)" if request.query_params.get("expired") else ""
    return _page(ctx, None, "login.html", message=msg, next=request.query_params.get("next", "/"))


async def login_post(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    form = await request.form()
    login = str(form.get("login", "")).strip().lower()[:32]
    password = str(form.get("password", ""))[:256]
    nxt = str(form.get("next", "/"))
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    keys = (f"login:{login}", f"addr:{_client(request)}")
    wait = ctx.limiter.wait_s(*keys)
    if wait > 0:
        return _page(ctx, None, "login.html", 429, next=nxt,
                     message=f"尝试次数过多，请 {wait / 60:.0f} 分钟后再试 (too many attempts: wait {wait:.0f} s)")
    user = await run_in_threadpool(ctx.users.verify, login, password)
    if user is None:
        ctx.limiter.failed(*keys)
        _LOG.warning("failed sign-in for %r from %s", login, _client(request))
        return _page(ctx, None, "login.html", 401, next=nxt, message="用户名或密码错误 (wrong login or password)")
    ctx.limiter.succeeded(keys[0])
    cookie, s = ctx.sessions.create(user)
    _LOG.info("%s (%s) signed in from %s", s.login, s.role, _client(request))
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(COOKIE, cookie, max_age=int(ctx.sessions.ttl_s), httponly=True, samesite="strict",
                    secure=ctx.cfg.web.base_url.startswith("https://"))
    return resp


async def _logout(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    ctx.sessions.revoke(s.sid)
    ctx.end_streams(s.sid)
    _LOG.info("%s signed out", s.login)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


# ---------------------------------------------------------------------- pages


async def _now(ctx: WebContext, request: Request, s: Session) -> Response:
    sections = ctx.renderer.sections(s.is_manager, csrf=s.csrf)
    return _page(ctx, s, "now.html", sections=sections)


async def _lobby(ctx: WebContext, request: Request, s: Session) -> Response:
    return _page(ctx, s, "lobby.html", sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf), result=None)


async def _counters(ctx: WebContext, request: Request, s: Session) -> Response:
    return _page(ctx, s, "counters.html", sections=ctx.renderer.sections(True, csrf=s.csrf), result=None)


async def _check(ctx: WebContext, request: Request, s: Session) -> Response:
    found = checks.opening_checks(ctx.live, now=ctx.clock(), disk_path=ctx.disk_path)
    return _page(ctx, s, "check.html", checks=found, failed=checks.failed(found))


async def _reports(ctx: WebContext, request: Request, s: Session) -> Response:
    day = request.query_params.get("day", "")
    today = str(ctx.live.stats.get("day", "")) or ctx.live.hall.day
    h = ctx.cfg.hours
    first, last = int(h.open[:2]), int(h.close[:2]) - (h.close[3:] == "00")
    seen = [int(x) for x in ctx.live.stats.get("arrivals_by_hour", {})]
    hours = [f"{x:02d}" for x in range(min([first, *seen]), max([last, *seen]) + 1)]
    return _page(ctx, s, "reports.html", k=ctx.live.stats, day=day or today, today=today,
                 other_day=bool(day) and day != today, hours=hours)


async def _reports_csv(ctx: WebContext, request: Request, s: Session) -> Response:
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
    s = _session(ctx, request)
    if s is None:
        return Response(BYE, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    follower = ctx.broadcaster.follow(role_channel(s.is_manager))
    ctx._by_sid.setdefault(s.sid, set()).add(follower)
    first = sse("sections", ctx.renderer.sections(s.is_manager))

    async def stream() -> Any:
        try:
            yield b"retry: 2000\n" + first
            while True:
                try:
                    data = await asyncio.wait_for(follower.queue.get(), PING_S)
                except TimeoutError:
                    data = PING
                if data is BYE or not ctx.sessions.alive(s):
                    yield BYE
                    return
                yield data
        finally:
            ctx.broadcaster.leave(follower)
            group = ctx._by_sid.get(s.sid)
            if group is not None:
                group.discard(follower)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def healthz(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    ok = ctx.live.bus_online
    return PlainTextResponse("ok\n" if ok else "bus offline\n", status_code=200 if ok else 503)


# ---------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    zh: str
    en: str = ""


async def _send(ctx: WebContext, s: Session, cmd: m.Command) -> tuple[Outcome, int]:
    if ctx.feed is None:
        return Outcome(False, "未连接消息总线", "not connected to the bus"), 503
    try:
        reply = await run_in_threadpool(ctx.feed.send, s.role, cmd)
    except BusTimeout:
        return Outcome(False, "排队核心无响应，请稍后重试", "the queue core did not answer; try again"), 504
    except BusError as lost:
        return Outcome(False, "消息总线故障", str(lost)), 503
    if reply.ok:
        return Outcome(True, ""), 200
    info = reply.error
    zh, en, code = (info.zh, info.en, info.code) if info else ("被拒绝", "refused", "")
    number = getattr(cmd, "number", "")
    why = _who_acted(ctx, number)
    if number and not why[0] and code == "wrong_state":
        await ctx.ticket_news(number, 1.0)
        why = _who_acted(ctx, number)
    status = {"unknown_ticket": 404, "forbidden": 403}.get(code, 409)
    return Outcome(False, f"{zh}{why[0]}", f"{en}{why[1]}"), status


def _who_acted(ctx: WebContext, number: str) -> tuple[str, str]:
    """Why a ticket action lost a race: what happened to the ticket last, and who did it."""
    t = ctx.live.tickets.get(number) if number else None
    if t is None or t.state == "waiting" and not t.by:
        return "", ""
    state_zh = {"cancelled": "已取消", "missed": "已过号", "called": "已被叫号", "serving": "办理中",
                "served": "已办结", "waiting": "已重新排队"}.get(t.state, t.state)
    when = ctx.renderer.env.filters["hhmm"](t.changed_at)
    who = f"，由 {ctx.person_name(t.by)} 操作" if t.by else (f"，{t.counter}号窗口" if t.counter else "")
    return f"（{number} {when} {state_zh}{who}）", f" ({number} was {t.state} at {when}{' by ' + t.by if t.by else ''})"


def _number(form: dict[str, str]) -> str:
    return form.get("number", "").strip().upper()


async def _lobby_result(ctx: WebContext, s: Session, outcome: Outcome, status: int, done_zh: str,
                        template: str = "lobby.html") -> Response:
    result = Outcome(True, done_zh) if outcome.ok else outcome
    return _page(ctx, s, template, status, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf), result=result)


def _bad(ctx: WebContext, s: Session, zh: str, en: str, template: str = "lobby.html") -> Response:
    return _page(ctx, s, template, 400, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                 result=Outcome(False, zh, en))


async def _requeue(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number = _number(form)
    if not NUMBER.match(number):
        return _bad(ctx, s, f"号码格式不对：{number or '（空）'}，例如 A012", f"not a ticket number: {number!r}")
    out, status = await _send(ctx, s, m.Requeue(number=number, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已重新排队 (back in the queue)")


async def _cancel(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number = _number(form)
    if not NUMBER.match(number):
        return _bad(ctx, s, f"号码格式不对：{number or '（空）'}，例如 A012", f"not a ticket number: {number!r}")
    out, status = await _send(ctx, s, m.Cancel(number=number, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已取消 (cancelled)")


async def _move(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number, to = _number(form), form.get("to_business", "")
    if not NUMBER.match(number):
        return _bad(ctx, s, f"号码格式不对：{number or '（空）'}，例如 A012", f"not a ticket number: {number!r}")
    names = {b.code: b.name_zh for b in ctx.cfg.business}
    if to not in names:
        return _bad(ctx, s, "请选择要转去的业务", "choose the business to move to")
    out, status = await _send(ctx, s, m.Move(number=number, to_business=to, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已分流到 {names[to]} (moved)")


async def _issue(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    """A ticket for a customer at the desk. Any tier but the plain one is a staff grant: it needs a
    reason, and the ticket records who granted it (the core counts grants per person)."""
    business, tier, reason = form.get("business", ""), form.get("tier", ""), form.get("reason", "").strip()
    tiers = {t.code: t for t in ctx.cfg.tier}
    if business not in {b.code for b in ctx.cfg.business} or tier not in tiers:
        return _bad(ctx, s, "请选择业务和客户类别", "choose the business and the tier")
    if tiers[tier].priority and not reason:
        return _bad(ctx, s, f"给予“{tiers[tier].name_zh}”需要填写原因", f"a {tier} ticket needs a reason")
    if len(reason) > 80:
        return _bad(ctx, s, "原因最多 80 个字", "reason: at most 80 characters")
    cmd = m.Issue(business=business, tier=tier, via="staff", granted_by=s.login, reason=reason)
    if ctx.feed is None:
        return _bad(ctx, s, "未连接消息总线", "not connected to the bus")
    try:
        reply = await run_in_threadpool(ctx.feed.send, s.role, cmd)
    except BusError:
        return _page(ctx, s, "lobby.html", 504, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=Outcome(False, "排队核心无响应，请稍后重试", "the core did not answer"))
    if not reply.ok or reply.ticket is None:
        err = reply.error
        return _page(ctx, s, "lobby.html", 409, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=Outcome(False, err.zh if err else "被拒绝", err.en if err else "refused"))
    t = reply.ticket
    return _page(ctx, s, "lobby.html", sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                 result=Outcome(True, f"已取号 {t.number}：前面 {t.ahead} 人，预计 {t.est_wait_s / 60:.0f} 分钟"),
                 issued=t)


async def _notice(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    zh, en = form.get("zh", "").strip(), form.get("en", "").strip()
    if form.get("clear"):
        zh = en = ""
    elif not (zh or en):
        return _bad(ctx, s, "请填写公告内容", "write the notice")
    if len(zh) > 300 or len(en) > 300:
        return _bad(ctx, s, "公告最多 300 个字", "notice: at most 300 characters")
    out, status = await _send(ctx, s, m.SetNotice(zh=zh, en=en, by=s.login))
    return await _lobby_result(ctx, s, out, status, "大厅公告已更新 (notice set)" if zh or en else "已恢复默认公告")


COUNTER_OPS: dict[str, type[m.OpenCounter | m.CloseCounter | m.Resume]] = {
    "open": m.OpenCounter, "close": m.CloseCounter, "resume": m.Resume}


async def _counter(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    op = form.get("op", "")
    try:
        cid = int(form.get("counter", ""))
    except ValueError:
        cid = 0
    if cid not in {c.id for c in ctx.cfg.counter} or op not in (*COUNTER_OPS, "pause"):
        return _bad(ctx, s, "没有这个窗口或操作", "no such counter or action", "counters.html")
    reason = form.get("reason", "").strip()[:80]
    cmd: m.Command = (m.Pause(counter=cid, by=s.login, reason=reason) if op == "pause"
                      else COUNTER_OPS[op](counter=cid, by=s.login))
    out, status = await _send(ctx, s, cmd)
    done = {"open": "已开启", "close": "已关闭", "pause": "已暂停", "resume": "已恢复服务"}[op]
    return await _lobby_result(ctx, s, out, status, f"{cid}号窗口{done}", "counters.html")


async def _ack(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    key = form.get("key", "")
    if not key or len(key) > 80:
        return _bad(ctx, s, "没有这条提醒", "no such alert")
    out, status = await _send(ctx, s, m.AckAlert(key=key, by=s.login))
    if not out.ok:
        return _page(ctx, s, "now.html", status, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=out)
    return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------------- the app


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
        Route("/", page(_now)),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", action(_logout), methods=["POST"]),
        Route("/events", events),
        Route("/lobby", page(_lobby)),
        Route("/counters", page(_counters, manager_only=True)),
        Route("/check", page(_check)),
        Route("/reports", page(_reports)),
        Route("/reports.csv", page(_reports_csv)),
        Route("/healthz", healthz),
        Route("/act/requeue", action(_requeue), methods=["POST"]),
        Route("/act/cancel", action(_cancel), methods=["POST"]),
        Route("/act/move", action(_move), methods=["POST"]),
        Route("/act/issue", action(_issue), methods=["POST"]),
        Route("/act/notice", action(_notice), methods=["POST"]),
        Route("/act/counter", action(_counter, manager_only=True), methods=["POST"]),
        Route("/alerts/ack", action(_ack), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.ctx = ctx
    return app
