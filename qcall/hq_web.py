"""`qcall hq web`: head office's pages (web.hq) wired to head office's PostgreSQL.

`HqDatabase` is the pages' `HeadOffice` source: every panel is one query of `qhq.report.Reports`
(with `now` passed in), the drill-down's history report is the history's own (`qhistory.report`
over head office's `PgStore`, built with the branch's config as the branch builds it), and the
live board wakes on the ingest's `NOTIFY qcall_hq`. web/ imports none of this (tests/test_layers.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from qhistory import period as pd
from qhistory.store import HistoryError, PgStore
from qhq.config import HqConfig, beside
from qhq.history import BranchConfigs, open_history, report
from qhq.report import Reports, month_of
from web.hq.context import HqContext
from web.hq.source import Board, BranchPage, Row, SourceDown
from web.sessions import LoginLimiter, Sessions, load_secret
from web.users import UserBook

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
APP_NAME = "qcall-hq-web"
CHANNEL = "qcall_hq"


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class HqDatabase:
    """`web.hq.source.HeadOffice` over head office's PostgreSQL: one connection for the panels
    (serialised: the pages' worker threads share it), one that LISTENs, one for the history."""

    def __init__(self, cfg: HqConfig, dsn: str | None = None) -> None:
        self.cfg = cfg
        self.dsn = dsn or cfg.database.dsn
        self.configs = BranchConfigs(cfg)
        self._lock = threading.Lock()
        self._reports: Reports | None = None
        self._history: PgStore | None = None
        self._listen: psycopg.Connection[Any] | None = None
        self._known = {b.id: b for b in cfg.branch}
        self._closed = threading.Event()

    # ------------------------------------------------------------------ connections

    def _call(self, fn: Callable[[Reports], T]) -> T:
        """Run one panel's query; a lost connection is made again once, else SourceDown."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._reports is None:
                        conn = psycopg.connect(self.dsn, autocommit=True, application_name=APP_NAME)
                        self._reports = Reports(self.cfg, conn)
                    return fn(self._reports)
                except psycopg.OperationalError as err:
                    self._drop_reports()
                    if attempt == 2:
                        raise SourceDown(_first_line(err)) from err
                except psycopg.errors.UndefinedTable as err:
                    raise SourceDown(f"no head-office tables in schema {self.cfg.database.schema!r} "
                                     "(run `qcall hq ingest` once)") from err
        raise AssertionError("unreachable")

    def _drop_reports(self) -> None:
        if self._reports is not None:
            try:
                self._reports.conn.close()
            except psycopg.Error:
                pass
        self._reports = None

    def _history_store(self) -> PgStore:
        if self._history is None:
            try:
                self._history = open_history(self.cfg, self.dsn, APP_NAME)
            except HistoryError as err:
                raise SourceDown(_first_line(err)) from err
        return self._history

    # ------------------------------------------------------------------ the panels

    def month(self, now: float, month: str) -> str:
        try:
            return month_of(now, self.cfg.hq.timezone, month)[2]
        except ValueError:
            raise ValueError(f"月份不对 (bad month) {month!r}: use YYYY-MM") from None

    def targets(self) -> dict[str, float]:
        t = self.cfg.targets
        return {"satisfaction": t.satisfaction, "vip_service_level": t.vip_service_level,
                "vip_wait_minutes": t.vip_wait_minutes, "star_teller_share": t.star_teller_share}

    def board(self, now: float) -> Board:
        return self._call(lambda r: Board(over=r.live_over_target(now), links_down=r.links_down()))

    def ranking(self, now: float, month: str) -> list[Row]:
        return self._call(lambda r: r.ranking(now, month))

    def regions(self, now: float, month: str) -> list[Row]:
        return self._call(lambda r: r.vip_by_region(now, month))

    def branches(self) -> list[Row]:
        return [{"id": b.id, "name": b.name, "region": b.region} for b in self.cfg.branch]

    def branch(self, branch: str, now: float, month: str, day: str, tellers: bool) -> BranchPage:
        if branch not in self._known:
            raise KeyError(branch)
        info = self._call(lambda r: r.branch(branch, now, month))
        try:
            p = pd.day(day) if day else pd.month(info["month"])
        except ValueError as err:
            raise ValueError(f"日期不对 (bad day) {day!r}: {err}") from None
        month_p = pd.month(info["month"])
        with self._lock:
            try:
                store = self._history_store()
                archived = [d.day for d in store.days(branch, month_p.first, month_p.last)]
                bcfg = self.configs.get(branch)
                if bcfg is None:
                    return BranchPage(info=info, period=p.label, days=archived,
                                      history_note="总行没有这个网点的配置文件，无法生成历史报表 (head office has no "
                                      "config for this branch: [[branch]] config = …)")
                rep = report(store, bcfg, p, now)
            except HistoryError as err:
                self._close_history()
                raise SourceDown(_first_line(err)) from err
        if not rep.days:
            return BranchPage(info=info, period=p.label, days=archived,
                              history_note="这段时间没有已归档的日子 (no archived day in this period: a day "
                              "arrives when the branch closes it)")
        from qhistory import render

        return BranchPage(info=info, period=p.label, days=archived, history_html=render.body(rep, tellers=tellers))

    def _close_history(self) -> None:
        if self._history is not None:
            try:
                self._history.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                _LOG.debug("history connection closed with an error", exc_info=True)
        self._history = None

    # ------------------------------------------------------------------ live

    def wait_change(self, timeout: float) -> bool:
        """True when the ingest committed something for our schema within `timeout` seconds."""
        try:
            if self._listen is None:
                conn = psycopg.connect(self.dsn, autocommit=True, application_name=APP_NAME + "-listen")
                conn.execute(f"LISTEN {CHANNEL}")
                self._listen = conn
            for note in self._listen.notifies(timeout=timeout, stop_after=1):
                return note.payload == self.cfg.database.schema
            return False
        except psycopg.Error as err:
            self._close_listen()
            if not self._closed.is_set():
                _LOG.warning("live board: no notifications from the database (%s); retrying", _first_line(err))
                self._closed.wait(timeout)  # not a busy loop while the database is away
            return False

    def _close_listen(self) -> None:
        conn, self._listen = self._listen, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._drop_reports()
            self._close_history()
        self._close_listen()


def build_hq_context(cfg: HqConfig, config_path: Path, *, clock: Callable[[], float] = time.time,
                     dsn: str | None = None) -> HqContext:
    """Head office's pages: users file and session secret next to the head-office config (made on
    first start, as the branch web's), the database from `[database]`."""
    w = cfg.web
    users = UserBook(beside(config_path, w.users_file))
    secret = load_secret(beside(config_path, w.session_secret_file))
    return HqContext(title=cfg.hq.name, source=HqDatabase(cfg, dsn), users=users,
                     sessions=Sessions(secret, w.session_minutes, clock),
                     limiter=LoginLimiter(w.login_attempts, w.login_window_s, clock), clock=clock,
                     timezone=cfg.hq.timezone, secure_cookies=w.base_url.startswith("https://"),
                     refresh_s=w.refresh_s)
