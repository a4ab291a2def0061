"""`qcall web`, `qcall user` and `qcall doctor`: the branch web service wired to the bus and uvicorn.

`web/` holds the application and never imports another component; this module builds its
context from the branch config (files next to the config, bus identities and credentials from
`[bus]` and `[web]`), runs it under uvicorn (in the foreground for systemd, or in a thread for the
demo and the tests), and runs the opening check from the command line with an exit code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.errors import BusError, ConfigError, QcallError
from qbus.ticket_link import load_link_key
from qbus.topics import Topics
from qcall.web_reports import HistoryReports
from web.app import create_app
from web.checks import Check, opening_checks, yesterday
from web.context import WebContext
from web.feed import BusFeed
from web.live import LiveBranch
from web.phone import PhoneLine
from web.poster import Poster, derive_key
from web.sessions import LoginLimiter, Sessions, load_secret
from web.users import UserBook

_LOG = logging.getLogger(__name__)


def beside(config_path: Path, name: str) -> Path:
    """A file named in [web]: absolute as given, else next to the config file."""
    p = Path(name)
    return p if p.is_absolute() else config_path.resolve().parent / p


def _password(cfg: BranchConfig, device: str) -> str:
    if not cfg.bus.password_file:
        return ""
    path = Path(cfg.bus.password_file.format(device=device))
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"bus.password_file {path}: cannot read: {err.strerror}") from err


def _client(cfg: BranchConfig, device: str, host: str, port: int, *, as_user: str = "") -> BusClient:
    user = as_user or device
    password = _password(cfg, user)
    return BusClient(host=host, port=port, topics=Topics(cfg.bus.prefix, cfg.branch.id), device=device,
                     username=cfg.bus.username or (user if password else ""), password=password,
                     keepalive_s=cfg.bus.keepalive_s, command_timeout_s=cfg.bus.command_timeout_s)


def _broker(cfg: BranchConfig, host: str | None, port: int | None) -> tuple[str, int]:
    host = host or cfg.bus.host
    if not host:
        raise ConfigError("bus.host is empty: give the broker (--host/--port; `qcall demo` prints its own)")
    return host, port or cfg.bus.port


def build_context(cfg: BranchConfig, config_path: Path, *, host: str | None = None, port: int | None = None,
                  clock: Callable[[], float] = time.time, users_file: Path | None = None,
                  secret_file: Path | None = None, ticket_key_file: Path | None = None,
                  history: str = "") -> WebContext:
    """Everything the app needs; fails early (users file, secret, broker address) with the file named.
    `history`: the history store to read (default: found from the config, as `qcall report` does)."""
    w = cfg.web
    users = UserBook(users_file or beside(config_path, w.users_file))
    secret = load_secret(secret_file or beside(config_path, w.session_secret_file))
    link_key = load_link_key(ticket_key_file or beside(config_path, w.ticket_key_file))
    bhost, bport = _broker(cfg, host, port)
    poster = _client(cfg, w.poster_device, bhost, bport) if w.poster else None
    feed = BusFeed(_client(cfg, w.device, bhost, bport), _client(cfg, w.lobby_device, bhost, bport), poster)
    return WebContext(cfg=cfg, live=LiveBranch(cfg, clock), feed=feed, users=users,
                      sessions=Sessions(secret, w.session_minutes, clock),
                      limiter=LoginLimiter(w.login_attempts, w.login_window_s, clock), clock=clock,
                      disk_path=Path(cfg.storage.journal).resolve().parent, history=HistoryReports(cfg, history),
                      phone=PhoneLine(cfg, link_key), hasher=_hasher(cfg),
                      poster=Poster(cfg, derive_key(secret)) if w.poster else None)


def _hasher(cfg: BranchConfig) -> Callable[[str], str] | None:
    """The kiosk's keyed hash for numbers typed into a booking (so the booked card checks in);
    None when this machine has no copy of the privacy key (bookings then check in by code)."""
    from kiosk.recognition import KeyedHasher, load_key

    try:
        return KeyedHasher(load_key(cfg.privacy.hash_key_file, create=False)).hash_number
    except QcallError as err:
        _LOG.info("bookings without card check-in: %s", err)
        return None


def _uvicorn(app: Starlette, bind: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=bind, port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2, proxy_headers=True,
                            forwarded_allow_ips="127.0.0.1")
    return uvicorn.Server(config)


def serve(ctx: WebContext, bind: str, port: int) -> None:
    """Run in the foreground until SIGTERM / Ctrl-C (`qcall web`, under systemd)."""
    _LOG.info("web service on http://%s:%d/ (public address: %s)", bind, port, ctx.cfg.web.base_url or "-")
    _uvicorn(create_app(ctx), bind, port).run()


def serve_app(app: Starlette, bind: str, port: int) -> None:
    """Any of our apps (head office's too) in the foreground until SIGTERM / Ctrl-C."""
    _uvicorn(app, bind, port).run()


class WebServer:
    """The web service in a thread (the demo, the tests, the bench): `start()`, `url`, `stop()`.
    `app`: another of our apps instead of the branch's (head office's, qcall.hq_web)."""

    def __init__(self, ctx: Any, bind: str = "127.0.0.1", port: int = 0, app: Starlette | None = None) -> None:
        from qbus.broker import free_port

        self.ctx = ctx
        self.bind = bind
        self.port = port or free_port(bind)
        self._server = _uvicorn(app or create_app(ctx), bind, self.port)
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self, timeout: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BusError(f"the web service did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def doctor(cfg: BranchConfig, *, host: str | None = None, port: int | None = None,
           wait_s: float = 3.0, clock: Callable[[], float] = time.time) -> list[Check]:
    """The opening check from the command line: what the bus's retained state says right now.

    Connects with the web service's credentials but its own client id (`webdoctor`), so it never
    pushes a running web service off the broker."""
    live = LiveBranch(cfg, clock)
    lock = threading.Lock()
    seen = threading.Event()
    t = Topics(cfg.bus.prefix, cfg.branch.id)

    def on(msg: Received[bytes]) -> None:
        with lock:
            live.apply(msg.topic, msg.value)
            if "core" in live.devices.presence and live.hall.day:
                seen.set()

    bhost, bport = _broker(cfg, host, port)
    bus = _client(cfg, "webdoctor", bhost, bport, as_user=cfg.web.device)
    for topic_filter in (t.all_state(), t.all_presence()):
        bus.subscribe(topic_filter, bytes, on)
    try:
        try:
            bus.connect(wait_s)
            live.set_online(True)
        except BusError as err:
            _LOG.warning("doctor: %s", err)
        if live.bus_online and seen.wait(wait_s):
            time.sleep(0.3)  # the rest of the retained burst (pads, kiosk) follows the core's
        with lock:
            archived = HistoryReports(cfg).archived(yesterday(live, clock()))
            return opening_checks(live, now=clock(), disk_path=Path(cfg.storage.journal).resolve().parent,
                                  archived=archived)
    finally:
        bus.close()
