"""The forms people send (POST): each becomes one bus command naming the person, or a clear refusal.

The core decides; this module checks the form, sends the command under the person's role's bus
identity, and turns the core's answer into the line the page shows, adding what the service
knows about a ticket another person acted on first.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import get_args

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qbus import messages as m
from qbus.errors import BusError, BusTimeout
from qbus.pii import NO_RAW_NUMBER, has_raw_number, mask_name
from web import bookings as bk
from web.access import render_page
from web.context import WebContext
from web.pages import bookings as bookings_page
from web.pages import today
from web.sessions import Session

PAUSE_REASONS = set(get_args(m.PauseReason)) - {""}
NUMBER = re.compile(r"^[A-Z]\d{2,4}$")


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


async def _booking_change(ctx: WebContext, s: Session, cmd: m.Command) -> tuple[Outcome, int]:
    """Send a booking command and, when it worked, wait (bounded) for the bookings state it
    changes, so the page we answer with already lists it (the state can outrun the reply)."""
    news = ctx.bookings_news()
    out, status = await _send(ctx, s, cmd)
    if out.ok:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), 1.0)
    return out, status


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
    return render_page(ctx, s, template, status, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf), result=result)


def _bad(ctx: WebContext, s: Session, zh: str, en: str, template: str = "lobby.html") -> Response:
    return render_page(ctx, s, template, 400, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                 result=Outcome(False, zh, en))


def _bad_number(ctx: WebContext, s: Session, number: str) -> Response:
    return _bad(ctx, s, f"号码格式不对：{number or '（空）'}，例如 A012", f"not a ticket number: {number!r}")


async def requeue(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number = _number(form)
    if not NUMBER.match(number):
        return _bad_number(ctx, s, number)
    out, status = await _send(ctx, s, m.Requeue(number=number, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已重新排队 (back in the queue)")


async def cancel(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number = _number(form)
    if not NUMBER.match(number):
        return _bad_number(ctx, s, number)
    out, status = await _send(ctx, s, m.Cancel(number=number, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已取消 (cancelled)")


async def move(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    number, to = _number(form), form.get("to_business", "")
    if not NUMBER.match(number):
        return _bad_number(ctx, s, number)
    names = {b.code: b.name_zh for b in ctx.cfg.business}
    if to not in names:
        return _bad(ctx, s, "请选择要转去的业务", "choose the business to move to")
    out, status = await _send(ctx, s, m.Move(number=number, to_business=to, by=s.login))
    return await _lobby_result(ctx, s, out, status, f"{number} 已分流到 {names[to]} (moved)")


async def issue(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
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
    if has_raw_number(reason):
        return _bad(ctx, s, *NO_RAW_NUMBER)
    cmd = m.Issue(business=business, tier=tier, via="staff", granted_by=s.login, reason=reason)
    if ctx.feed is None:
        return _bad(ctx, s, "未连接消息总线", "not connected to the bus")
    try:
        reply = await run_in_threadpool(ctx.feed.send, s.role, cmd)
    except BusError:
        return render_page(ctx, s, "lobby.html", 504, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=Outcome(False, "排队核心无响应，请稍后重试", "the core did not answer"))
    if not reply.ok or reply.ticket is None:
        err = reply.error
        return render_page(ctx, s, "lobby.html", 409, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=Outcome(False, err.zh if err else "被拒绝", err.en if err else "refused"))
    t = reply.ticket
    return render_page(ctx, s, "lobby.html", sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                 result=Outcome(True, f"已取号 {t.number}：前面 {t.ahead} 人，预计 {t.est_wait_s / 60:.0f} 分钟"),
                 issued=t)


async def notice(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    zh, en = form.get("zh", "").strip(), form.get("en", "").strip()
    if form.get("clear"):
        zh = en = ""
    elif not (zh or en):
        return _bad(ctx, s, "请填写公告内容", "write the notice")
    if len(zh) > 300 or len(en) > 300:
        return _bad(ctx, s, "公告最多 300 个字", "notice: at most 300 characters")
    if has_raw_number(zh, en):
        return _bad(ctx, s, *NO_RAW_NUMBER)
    out, status = await _send(ctx, s, m.SetNotice(zh=zh, en=en, by=s.login))
    return await _lobby_result(ctx, s, out, status, "大厅公告已更新 (notice set)" if zh or en else "已恢复默认公告")


COUNTER_OPS: dict[str, type[m.OpenCounter | m.CloseCounter | m.Resume]] = {
    "open": m.OpenCounter, "close": m.CloseCounter, "resume": m.Resume}


async def counter(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    op = form.get("op", "")
    try:
        cid = int(form.get("counter", ""))
    except ValueError:
        cid = 0
    if cid not in {c.id for c in ctx.cfg.counter} or op not in (*COUNTER_OPS, "pause"):
        return _bad(ctx, s, "没有这个窗口或操作", "no such counter or action", "counters.html")
    reason = form.get("reason", "")
    if op == "pause" and reason not in PAUSE_REASONS:
        return _bad(ctx, s, "请选择暂停原因", "choose why the counter pauses", "counters.html")
    cmd: m.Command = (m.Pause(counter=cid, by=s.login, reason=reason) if op == "pause"  # type: ignore[arg-type]
                      else COUNTER_OPS[op](counter=cid, by=s.login))
    out, status = await _send(ctx, s, cmd)
    done = {"open": "已开启", "close": "已关闭", "pause": "已暂停", "resume": "已恢复服务"}[op]
    return await _lobby_result(ctx, s, out, status, f"{cid}号窗口{done}", "counters.html")


async def ack(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    key = form.get("key", "")
    if not key or len(key) > 80:
        return _bad(ctx, s, "没有这条提醒", "no such alert")
    out, status = await _send(ctx, s, m.AckAlert(key=key, by=s.login))
    if not out.ok:
        return render_page(ctx, s, "now.html", status, sections=ctx.renderer.sections(s.is_manager, csrf=s.csrf),
                     result=out)
    return RedirectResponse("/", status_code=303)


async def book(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    """Book a slot for a customer at the desk or on the phone; the page shows the booking code."""
    business, day, slot = form.get("business", ""), form.get("day", ""), form.get("slot", "")
    ident = re.sub(r"[\s-]", "", form.get("ident", ""))
    if business not in {b.code for b in ctx.cfg.business}:
        return await bookings_page(ctx, request, s, Outcome(False, "请选择业务", "choose the business"), 400)
    if day not in bk.days_ahead(today(ctx), 60) or slot not in bk.slots(ctx.cfg):
        return await bookings_page(ctx, request, s, Outcome(False, "请选择日期和时段", "choose the day and the slot"),
                                   400)
    if ident and not bk.ID_OR_PHONE.match(ident):
        return await bookings_page(ctx, request, s, Outcome(
            False, "手机号或证件号格式不对", "not a phone, ID card or bank card number"), 400)
    customer = ctx.hasher(ident) if ident and ctx.hasher else ""
    code = bk.new_code()
    cmd = m.Book(code=code, at=bk.slot_at(ctx.cfg, day, slot), business=business, customer=customer,
                 masked_name=mask_name(form.get("name", ""), m.MAX_MASKED_NAME), source="web", by=s.login)
    out, status = await _booking_change(ctx, s, cmd)
    if not out.ok:
        return await bookings_page(ctx, request, s, out, status)
    return await bookings_page(ctx, request, s, Outcome(True, f"预约成功：{day} {slot}，预约码 {code}",
                                                        f"booked {day} {slot}: booking code {code}"), made=code)


async def cancel_booking(ctx: WebContext, request: Request, s: Session, form: dict[str, str]) -> Response:
    code = form.get("code", "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{4,12}", code):
        return await bookings_page(ctx, request, s, Outcome(False, "没有这个预约", "no such booking"), 400)
    out, status = await _booking_change(ctx, s, m.CancelBooking(code=code, by=s.login))
    return await bookings_page(ctx, request, s, out if not out.ok else Outcome(True, f"预约 {code} 已取消"), status)
