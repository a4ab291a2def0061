"""What head office's routes share, and the live board's path from the database to the pages.

The ingest's every commit sends a PostgreSQL notification; one task here waits for it (and
re-reads anyway every `refresh_s`, since a customer passes the target with no new event), runs the
board's one query, renders the board once and sends it only if its HTML changed, as one SSE
message queued to every open board (web.broadcast). A burst of commits is one query per wake-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from web import views
from web.broadcast import Broadcaster, Follower, SessionStreams, sse
from web.hq.source import Board, HeadOffice, SourceDown
from web.sessions import LoginLimiter, Session, Sessions
from web.users import UserBook

_LOG = logging.getLogger(__name__)

BOARD = "hq:board"
WAKE_S = 1.0  # the longest one wait for a notification blocks a worker thread


def environment(tz: str) -> Environment:
    env = Environment(loader=PackageLoader("web", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    env.filters["minutes1"] = lambda s: "–" if s is None else f"{max(0.0, float(s)) / 60:.1f}"
    env.filters["hhmm"] = lambda at: views.clock_text(at, tz)
    return env


@dataclass
class HqContext:
    """Everything head office's routes share; built by `qcall hq web` (or a test)."""

    title: str
    source: HeadOffice
    users: UserBook
    sessions: Sessions
    limiter: LoginLimiter
    clock: Callable[[], float] = time.time
    timezone: str = "Asia/Shanghai"
    secure_cookies: bool = False
    refresh_s: float = 20.0
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    env: Environment = field(init=False)
    streams: SessionStreams = field(init=False)
    _board_html: str = ""

    def __post_init__(self) -> None:
        self.env = environment(self.timezone)
        self.streams = SessionStreams(self.broadcaster)

    def render(self, s: Session | None, template: str, status: int = 200, **extra: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(
            layout="hq/base.html", title=self.title, session=s, manager=bool(s and s.is_manager),
            csrf=s.csrf if s else "", targets=self.source.targets(), **extra)
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def board_html(self, board: Board) -> str:
        return self.env.get_template("hq/_board.html").render(board=board, targets=self.source.targets())

    async def board_now(self) -> str:
        board = await run_in_threadpool(self.source.board, self.clock())
        return self.board_html(board)

    # ------------------------------------------------------------------ database -> open boards

    async def watch(self) -> None:
        """Wait for the ingest's notifications; re-render the board on each (and every refresh_s)."""
        last = time.monotonic()
        while True:
            changed = await run_in_threadpool(self.source.wait_change, WAKE_S)
            if changed or time.monotonic() - last >= self.refresh_s:
                last = time.monotonic()
                await self.push_board()

    async def push_board(self) -> None:
        if not self.broadcaster.has(BOARD):
            self._board_html = ""
            return
        try:
            html = await self.board_now()
        except SourceDown as err:
            _LOG.warning("live board not refreshed: %s", err)
            return
        if html != self._board_html:
            self._board_html = html
            self.broadcaster.publish(BOARD, sse("sections", {"board": html}))

    def follow(self, s: Session) -> Follower:
        return self.streams.follow(s.sid, BOARD)

    def leave(self, s: Session, f: Follower) -> None:
        self.streams.leave(s.sid, f)

    def end_streams(self, sid: str) -> None:
        self.streams.end(sid)
