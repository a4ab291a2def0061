"""What every route of the web service shares, and the path from the bus to the open pages.

`WebContext` holds the branch's picture (LiveBranch), the sign-in machinery, the bus feed and the
broadcaster. Bus messages arrive here on the event loop (web.feed), are applied, and a burst of
them is rendered once per role on the loop's next turn; only sections whose HTML changed go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from starlette.responses import HTMLResponse

from qbus import messages as m
from qbus.config import BranchConfig
from web import phone_pages
from web.broadcast import Broadcaster, SessionStreams, sse
from web.feed import BusFeed
from web.live import LiveBranch
from web.phone import PhoneLine, PhoneView
from web.poster import Poster
from web.render import Renderer, touched
from web.reports import ReportSource
from web.sessions import LoginLimiter, Session, Sessions
from web.users import UserBook

_LOG = logging.getLogger(__name__)

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
    history: ReportSource | None = None  # the history store's reports (None: not wired, live day only)
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    phone: PhoneLine | None = None  # the customers' phone pages (None: no ticket link key)
    poster: Poster | None = None  # the door poster's remote ticket (None: [web] poster is off)
    hasher: Callable[[str], str] | None = None  # phone / ID number -> the kiosk's keyed hash (bookings)
    _bookings_news: list[asyncio.Event] = field(default_factory=list)
    renderer: Renderer = field(init=False)
    streams: SessionStreams = field(init=False)
    _last: dict[bool, dict[str, str]] = field(default_factory=lambda: {True: {}, False: {}})
    _flush_due: bool = False
    _ticket_news: dict[str, asyncio.Event] = field(default_factory=dict)
    _phone_last: dict[str, dict[str, Any]] = field(default_factory=dict)
    _event_dec: Any = field(default_factory=lambda: msgspec.json.Decoder(m.AnyEvent))
    _waiting_dec: Any = field(default_factory=lambda: msgspec.json.Decoder(m.WaitingState))

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.live, self.person_name)
        self.streams = SessionStreams(self.broadcaster)

    def render(self, s: Session | None, template: str, status: int = 200, **extra: Any) -> HTMLResponse:
        """A full page for `s` (None: signed out), as every branch route answers."""
        manager = bool(s and s.is_manager)
        body = self.renderer.page(template, **self.renderer.context(manager, s.csrf if s else ""), session=s,
                                  branch=self.cfg.branch, **extra)
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @property
    def secure_cookies(self) -> bool:
        return self.cfg.web.base_url.startswith("https://")

    def person_name(self, login: str) -> str:
        try:
            user = self.users.users().get(login)
        except Exception:  # a broken users file must not break the dashboard's ack lines
            user = None
        return user.name if user else login

    # ------------------------------------------------------------------ bus -> pages

    def on_message(self, topic: str, payload: bytes) -> None:
        self.live.apply(topic, payload)
        if topic == self.live.topics.state_bookings():
            waiters, self._bookings_news = self._bookings_news, []
            for waiter in waiters:
                waiter.set()
        if self.phone is not None:
            self._phone_message(topic, payload)
        for number in self.live.changed_tickets:
            news = self._ticket_news.pop(number, None)
            if news is not None:
                news.set()
        self.live.changed_tickets.clear()
        self._schedule()

    def bookings_news(self) -> asyncio.Event:
        """An event set when the next bookings state arrives (web.actions waits on it, bounded)."""
        news = asyncio.Event()
        self._bookings_news.append(news)
        return news

    async def ticket_news(self, number: str, timeout: float) -> None:
        """Wait (bounded) for the next event about ticket `number`: a refusal's reply can arrive
        before the event of the action that won, on another connection."""
        news = self._ticket_news.setdefault(number, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), timeout)

    def _phone_message(self, topic: str, payload: bytes) -> None:
        phone = self.phone
        assert phone is not None
        info = self.live.topics.parse(topic)
        if info is None:
            return
        if info.kind == "event":
            try:
                phone.apply(self._event_dec.decode(payload))
            except (msgspec.DecodeError, msgspec.ValidationError):
                return  # LiveBranch has logged it
        elif info.kind == "state" and info.rest == ("queues",):
            phone.dirty.update(self.live.queues.waiting)  # new estimates for everyone
        elif info.kind == "state" and info.rest == ("hall",) and self.live.hall.day:
            phone.set_day(self.live.hall.day)
        elif info.kind == "state" and info.rest == ("waiting",):
            try:
                phone.rebuild(self._waiting_dec.decode(payload))
                for c in self.live.counters.values():  # a ticket it no longer lists may be at a counter
                    phone.seen_counter(c)
            except (msgspec.DecodeError, msgspec.ValidationError) as err:
                _LOG.warning("dropped malformed waiting state: %s", err)
        elif info.kind == "state" and info.rest[0] == "counter":
            seen = self.live.counters.get(int(info.rest[1])) if info.rest[1].isdigit() else None
            if seen is not None:
                phone.seen_counter(seen)

    def phone_view(self, number: str) -> PhoneView:
        assert self.phone is not None
        q = self.live.queues
        return self.phone.view(number, q.est_wait_s, q.waiting)

    def flush_phones(self) -> None:
        """Send each followed ticket whose view changed its new view (one encode per ticket)."""
        phone = self.phone
        if phone is None or not (phone.dirty or phone.touched):
            return
        followed = {ch[2:] for ch in self.broadcaster.channels() if ch.startswith("t:")}
        if not followed:
            phone.dirty.clear()
            phone.touched.clear()
            self._phone_last.clear()
            return
        q = self.live.queues
        last = self._phone_last
        for view in phone.views(followed, q.est_wait_s, q.waiting):
            data = view.as_json()
            if last.get(view.number) != data:
                last[view.number] = data
                self.broadcaster.publish(phone_pages.channel(view.number), sse("ticket", data))

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
        self.flush_phones()
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
            self.live.dirty.update(("queues", "alerts", "bookings"))  # waits grow; a booking turns late
            self.flush()

    def end_streams(self, sid: str) -> None:
        self.streams.end(sid)


def role_channel(manager: bool) -> str:
    return "now:manager" if manager else "now:lobby"

