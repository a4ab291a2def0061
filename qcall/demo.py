"""The one-command demo branch: a broker, the core service, and simulated devices, all on MQTT.

Started by `./run.sh demo` (`qcall demo`). With no broker configured (bus.host empty) it starts
the embedded broker. The simulated devices use the same bus client and schema as real ones:
a kiosk issuing tickets at a realistic rate (qcall/demo_kiosk.py: the real kiosk flow with
card, ID and passbook reader twins and a printer twin), tellers calling, serving and asking for
ratings on keypad twins and customers rating (or not) on rating-pad twins, through the real serial
bridge (qcall/demo_counters.py), a terminal "hall display" that prints each call, the real
hall display (qcall/demo_display.py: a window, or PNG snapshots with no screen), and the branch
web service (the manager's and the lobby's pages, with demo logins made for the run). Time runs
`speed` times faster for service and walking times; waits are real.
"""

from __future__ import annotations

import logging
import random
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from qbus import messages as m
from qbus.broker import EmbeddedBroker
from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.errors import BrokerError
from qbus.topics import Topics
from qcall.demo_counters import DemoCounters
from qcall.demo_display import DemoDisplay
from qcall.demo_kiosk import DemoKiosk
from qcall.history import DayCloser, close_day, qos1
from qcall.web import WebServer, build_context
from qserver.pins import PinBook
from qserver.runner import CoreRunner
from qserver.service import CoreService, branch_kpis
from web.users import add_user

_LOG = logging.getLogger(__name__)


class Demo:
    """Everything the demo runs; `start()`, then `stop()` (safe twice)."""

    def __init__(self, cfg: BranchConfig, *, speed: float = 30.0, seed: int = 7,
                 journal: Path | None = None, out: Callable[[str], None] = print,
                 arrivals_per_hour: float = 40.0, out_dir: Path | None = None,
                 port: int | None = None, history: str = "", web: bool = False) -> None:
        # Time runs `speed` times faster: so do the devices, and their rate limits with them.
        limits = cfg.limits
        self.cfg = msgspec.structs.replace(cfg, limits=msgspec.structs.replace(
            limits, device_rate_per_s=limits.device_rate_per_s * max(1.0, speed),
            device_burst=int(limits.device_burst * max(1.0, speed))))
        cfg = self.cfg
        self.speed = speed
        self.rng = random.Random(seed)
        self.out = out
        self.arrivals_per_hour = arrivals_per_hour
        self.with_web = web
        self.stop_event = threading.Event()
        self.clients: list[BusClient] = []
        self.broker: EmbeddedBroker | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if journal is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qcall-demo-")
            journal = Path(self._tmp.name) / "journal.db"
        self.journal = journal
        # What a person looks at afterwards (the hall screen's PNG, the last ticket): kept after stop.
        self.out_dir = out_dir or journal.parent
        # The demo's day goes into this history store when it stops ("" = none).
        self.history = history
        self.archived: list[str] = []
        self.topics = Topics(cfg.bus.prefix, cfg.branch.id)
        self.host, self.port = cfg.bus.host, cfg.bus.port if port is None else port
        self._exact_port = port is not None
        self.runner: CoreRunner | None = None
        self.service: CoreService | None = None
        self.display: DemoDisplay | None = None
        self.kiosk: DemoKiosk | None = None
        self.counters: DemoCounters | None = None
        self.web: WebServer | None = None
        self.web_logins: dict[str, str] = {}  # demo login -> its password (made for this run)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Demo:
        try:
            if not self.host:
                self.broker = _embedded(self.port, exact=self._exact_port)
                self.host, self.port = self.broker.host, self.broker.port
            self._start_core()
            self._start_hall_printer()
            self.display = DemoDisplay(self.cfg, self.host, self.port, self.out_dir,
                                       out=self.out).start()
            self.counters = DemoCounters(self.cfg, self.host, self.port, speed=self.speed,
                                         stop=self.stop_event).start()  # pads -> serial bridge -> bus
            self.kiosk = DemoKiosk(self.cfg, self.host, self.port, seed=self.rng.randrange(1 << 30),
                                   arrivals_per_hour=self.arrivals_per_hour, speed=self.speed,
                                   out=self.out, workdir=self.out_dir).start()
            if self.with_web:
                self._start_web()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.web is not None:
            self.web.stop()
            self.web = None
        if self.display is not None:
            self.display.stop()
            self.display = None
        if self.kiosk is not None:
            self.kiosk.stop()
            self.kiosk = None
        if self.counters is not None:
            self.counters.stop()
            self.counters = None
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
            self.service = None
            if self.history:
                self.archived = close_day(self.cfg, self.journal, self.history)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def client(self, device: str, **kw: Any) -> BusClient:
        c = BusClient(host=self.host, port=self.port, topics=self.topics, device=device,
                      command_timeout_s=self.cfg.bus.command_timeout_s, **kw)
        self.clients.append(c)
        return c

    # ------------------------------------------------------------------ the core

    def _start_core(self) -> None:
        # A demo runs on whatever laptop is at hand: trust its clock (a branch Pi waits for NTP).
        cfg = msgspec.structs.replace(self.cfg, clock=msgspec.structs.replace(self.cfg.clock, confirm="rtc"))
        # The demo's example PINs (each teller's id), explicitly: `qcall serve` refuses them.
        runner = CoreRunner(cfg, self.journal, self.host, self.port, pins=PinBook.example_for(cfg))
        if self.history:
            runner.service.on_day_closed = DayCloser(cfg, runner.store, self.history, publish=qos1(runner.bus))
        self.runner = runner.start()
        self.service = self.runner.service

    def kpis(self) -> dict[str, Any]:
        if self.service is None:
            return {}
        return branch_kpis(self.cfg, self.service.store.core, self.service.clock.now())

    # ------------------------------------------------------------------ the web pages

    def _start_web(self) -> None:
        """The web service on [web] port (a free one if taken), with a manager and a lobby login
        made for this run (their passwords are printed; the users file stays in out_dir)."""
        users = self.out_dir / "users.toml"
        users.unlink(missing_ok=True)
        for login, name, role in (("manager", "周行长 (demo)", "manager"), ("lobby", "赵敏 (demo)", "lobby")):
            password = secrets.token_urlsafe(9)
            add_user(users, login, name, role, password)
            self.web_logins[login] = password
        ctx = build_context(self.cfg, self.out_dir / "branch.toml", host=self.host, port=self.port,
                            users_file=users, secret_file=self.out_dir / "web-secret.key",
                            history=self.history or str(self.journal.with_name("history.db")))
        port = self.cfg.web.port if _port_free(self.cfg.web.port, self.cfg.web.bind) else 0
        self.web = WebServer(ctx, self.cfg.web.bind, port).start()

    # ------------------------------------------------------------------ devices

    def _start_hall_printer(self) -> None:
        bus = self.client("display-term")
        names = {c.id: (c.name_zh or f"{c.id}号窗口", c.name_en or f"Counter {c.id}") for c in self.cfg.counter}
        tellers = {t.id: t.name for t in self.cfg.teller}
        scale = self.cfg.rating.scale

        def zh(counter: int) -> str:
            return names.get(counter, (f"{counter}号窗口", ""))[0]

        def en(counter: int) -> str:
            return names.get(counter, ("", f"Counter {counter}"))[1]

        def called(msg: Received[Any]) -> None:
            line = hall_line(msg.value, zh, en, self.minutes, tellers, scale)
            if line:
                self.out(line)

        bus.subscribe(self.topics.all_events(), m.decode_event, called)
        bus.connect()

    def minutes(self, real_s: float) -> float:
        """A wait in the demo's own clock: service times run `speed` times faster, so do waits."""
        return real_s * self.speed / 60.0


def hall_line(ev: Any, zh: Callable[[int], str], en: Callable[[int], str], minutes: Callable[[float], float],
              tellers: dict[str, str], scale: int) -> str:
    """What the demo's terminal says for an event, in Chinese and English ("" for the others)."""
    if isinstance(ev, m.TicketCalled):
        return (f"请 {ev.number} 号到 {zh(ev.counter)}  Number {ev.number}, please go to {en(ev.counter)}  "
                f"(等了 waited {minutes(ev.waited_s):.0f} min)")
    if isinstance(ev, m.TicketRecalled):
        return (f"再次呼叫 {ev.number} 号到 {zh(ev.counter)}（第 {ev.recalls} 次）  "
                f"Recall {ev.recalls}: number {ev.number}, please go to {en(ev.counter)}")
    if isinstance(ev, m.TicketSkipped):
        return (f"过号 {ev.number}（{zh(ev.counter)} 无人应答）  Skipped {ev.number}: nobody came to "
                f"{en(ev.counter)}; the customer may re-queue at the desk")
    if isinstance(ev, m.TicketRequeued):
        return f"重新排队 {ev.number}  {ev.number} is back in the queue"
    if isinstance(ev, m.WaitAlert):
        what = "贵宾超时 VIP over target" if ev.kind == "tier" else "等待超时 waiting too long"
        return f"! {what}: {ev.number} ({ev.tier}) 已等 waited {minutes(ev.waited_s):.0f} min"
    if isinstance(ev, m.ServiceRated):
        who = f"{tellers.get(ev.teller, '')} {ev.teller}".strip()
        stars = "★" * ev.stars + "☆" * (scale - ev.stars) if ev.stars else f"未评价 unrated ({ev.reason})"
        return f"    评价 rating {ev.number} @ {zh(ev.counter)} {en(ev.counter)} (柜员 teller {who}): {stars}"
    return ""



def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind `port` now (asked before amqtt tries, which would print a
    traceback for a taken port)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _embedded(port: int, *, exact: bool = False) -> EmbeddedBroker:
    """The embedded broker on the config's port (1883) so `qcall watch` and other tools find it
    by default; on a free port when that one is taken (a Mosquitto already running), said once.
    `exact` (a port the user asked for): a taken port is an error, not silently another."""
    if port and not _port_free(port):
        if exact:
            raise BrokerError(f"port {port} is already in use; pick another with --port")
        _LOG.warning("port %d is taken (another broker?); the demo broker takes a free port", port)
        port = 0
    try:
        return EmbeddedBroker(port=port).start()
    except BrokerError as err:
        if exact or not port:
            raise
        _LOG.warning("port %d could not be used (%s); the demo broker takes a free port", port, err)
        return EmbeddedBroker().start()


def _one_line_at_a_time(out: Callable[[str], None]) -> Callable[[str], None]:
    """Devices print from their own threads; print() writes text and newline apart, so lines
    would interleave mid-line without a lock."""
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out(line)
    return say


def run_demo(cfg: BranchConfig, seconds: float, speed: float, seed: int,
             out: Callable[[str], None] = print, out_dir: Path = Path("var/demo"),
             arrivals_per_hour: float = 60.0, port: int | None = None) -> dict[str, Any]:
    """Run the demo for `seconds` (0: until Ctrl-C) and return the KPIs at the end. The hall
    screen's snapshots and the printed tickets stay in `out_dir` afterwards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = _one_line_at_a_time(out)
    history = str(out_dir / "history.db")
    demo = Demo(cfg, speed=speed, seed=seed, out=out, out_dir=out_dir,
                arrivals_per_hour=arrivals_per_hour, port=port, history=history, web=True).start()
    out(f"{cfg.branch.bank_zh}{cfg.branch.name_zh} demo branch on mqtt://{demo.host}:{demo.port} "
        f"(service times ×1/{speed:g}); Ctrl-C to stop")
    if demo.web is not None:
        logins = demo.web_logins
        out(f"  the manager's page: {demo.web.url}/  (sign in as manager / {logins['manager']}; "
            f"lobby staff: lobby / {logins['lobby']})")
    out(f"  watch it as the manager: .venv/bin/qcall watch --host {demo.host} --port {demo.port}")
    try:
        demo.stop_event.wait(seconds if seconds > 0 else None)
    except KeyboardInterrupt:
        pass
    kpis = demo.kpis()
    demo.stop()
    from qcall.manager import report_text

    out(report_text(cfg, kpis))  # the day as `qcall report` shows it (`qcall report --json` for the figures)
    if demo.archived:
        out(f"  the day is in the history: .venv/bin/qcall report --day {demo.archived[-1]} --history {history}")
    return kpis
