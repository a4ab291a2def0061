"""`qcall kiosk`: one ticket kiosk wired from the branch config — bus, printer, readers, screen, buttons.

qcall is the only package that wires components: `kiosk/` holds the decisions, `hw/` the devices,
this module puts the configured ones together. With `twin=True` every device is simulated (printer
twin, stripe / ID / passbook reader twins on ptys, gpiozero's mock pins), so the same wiring runs in
tests, the demo and the benchmark; the twins are reachable through `KioskRuntime.twins`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw.identity import IdentityReader
from hw.printer import Printer, PrinterEmulator, TwinDevice, open_printer
from kiosk.app import KioskApp, KioskEvent, open_readers
from kiosk.bus import KioskBus
from kiosk.flow import KioskFlow, View
from kiosk.recognition import KeyedHasher, Recognizer, Roster, load_key
from kiosk.ticket import TicketLayout
from qbus.client import BusClient
from qbus.config import BranchConfig
from qbus.errors import ConfigError
from qbus.ticket_link import load_link_key, ticket_url

_LOG = logging.getLogger(__name__)


@dataclass
class Twins:
    """The simulated readers of a twin kiosk (each on its own pty) and the printer's emulator."""

    mag: Any  # hw.magcard.MagCardTwin
    idcard: Any  # hw.idcard.IdCardTwin
    passbook: Any  # hw.passbook.PassbookTwin
    printer: PrinterEmulator

    def close(self) -> None:
        for twin in (self.mag, self.idcard, self.passbook):
            twin.close()


def _open_twin_readers(paced: bool) -> tuple[list[IdentityReader], Any, Any, Any]:
    from hw.idcard import IdCardReader, IdCardTwin
    from hw.magcard import MagCardTwin, SerialMagReader
    from hw.passbook import PassbookReader, PassbookTwin

    made: list[Any] = []
    try:
        mag = MagCardTwin(paced=paced)
        made.append(mag)
        idc = IdCardTwin(paced=paced)
        made.append(idc)
        pb = PassbookTwin(paced=paced)
        made.append(pb)
        readers: list[IdentityReader] = []
        made_readers: list[Any] = []
        try:
            for make in (lambda: SerialMagReader(mag.port), lambda: IdCardReader(idc.port),
                         lambda: PassbookReader(pb.port)):
                r = make()
                made_readers.append(r)
                readers.append(r)
        except BaseException:
            for r in made_readers:
                r.close()
            raise
        return readers, mag, idc, pb
    except BaseException:
        for t in made:
            t.close()
        raise


def load_roster(cfg: BranchConfig) -> Roster:
    """The tier roster named by `[privacy] roster_file`. A missing file gives an empty roster (everyone
    is served, at the normal tier, and the age lane still works) with an error in the log; a
    malformed one stops the kiosk so staff fix it rather than silently losing VIP recognition."""
    path = cfg.privacy.roster_file
    if not path:
        return Roster()
    if not Path(path).exists():
        _LOG.error("roster file %s does not exist: nobody is recognised as a VIP (build it with "
                   "`qcall roster build`)", path)
        return Roster()
    return Roster.load(path, known_tiers={t.code for t in cfg.tier})


class KioskRuntime:
    """A kiosk on the bus. `start()` connects; `run(stop)` loops (main thread when there is a screen);
    `close()` releases everything (safe twice). Construction rolls back on failure."""

    def __init__(
        self,
        cfg: BranchConfig,
        *,
        host: str | None = None,
        port: int | None = None,
        twin: bool = False,
        screen: bool | None = None,
        key: bytes | None = None,
        roster: Roster | None = None,
        clock: Callable[[], float] = time.time,
        paced: bool = True,
        watch_s: float = 600.0,
        on_view: Callable[[View], None] | None = None,
        link_key: bytes | None = None,
    ) -> None:
        self.cfg = cfg
        self.link_key = link_key  # with web.base_url: the ticket's QR opens the phone page
        self.twins: Twins | None = None
        self.app: KioskApp | None = None
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        try:
            self._build(host, port, twin, screen, key, roster, clock, paced, watch_s, on_view)
        except BaseException:
            self.close()
            raise

    def _build(self, host: str | None, port: int | None, twin: bool, screen: bool | None, key: bytes | None,
               roster: Roster | None, clock: Callable[[], float], paced: bool, watch_s: float,
               on_view: Callable[[View], None] | None) -> None:
        cfg = self.cfg
        if not (host or cfg.bus.host):
            raise ConfigError("bus.host is empty: the kiosk needs the branch broker (or pass --host)")
        self.bus = BusClient.from_config(cfg.bus, cfg.branch.id, cfg.kiosk.id, host=host or None, port=port)
        self._closers.append(self.bus.close)
        self.kbus = KioskBus(self.bus, timeout_s=cfg.kiosk.issue_timeout_s, watch_s=watch_s,
                             on_queues=self._queues)
        self._closers.insert(0, self.kbus.close)
        self.printer = Printer(TwinDevice(), answer_s=0.05) if twin else open_printer(cfg.printer)
        self._closers.insert(0, self.printer.close)
        if twin:
            readers, mag, idc, pb = _open_twin_readers(paced)
            self.twins = Twins(mag, idc, pb, self.printer.device.emulator)
            self._closers.insert(0, self.twins.close)
        else:
            readers = open_readers(cfg.kiosk)
        self.readers = readers
        for r in readers:
            self._closers.insert(0, r.close)
        hasher = KeyedHasher(key if key is not None else load_key(cfg.privacy.hash_key_file))
        roster = roster if roster is not None else load_roster(cfg)
        show = cfg.kiosk.screen if screen is None else screen
        kscreen = None
        if show:
            from kiosk.screen import KioskScreen

            kscreen = KioskScreen(cfg, fullscreen=cfg.kiosk.fullscreen)
        buttons = None
        try:
            if cfg.kiosk.gpio_buttons:
                from hw.buttons import KioskButtons

                factory = None
                if twin:
                    from gpiozero.pins.mock import MockFactory

                    factory = MockFactory()
                buttons = KioskButtons(cfg.kiosk.gpio_buttons, cfg.kiosk.gpio_leds, pin_factory=factory)
            self.flow = KioskFlow(cfg, issue=self.kbus.issuer, printer=self.kbus.watch(self.printer),
                                  recognizer=Recognizer(cfg, hasher, roster), clock=clock, steer=bool(show),
                                  note=self.kbus.note, layout=self._layout())
            kbus = self.kbus
            self.flow.bookings_open = lambda: kbus.open_bookings > 0
            self.app = KioskApp(self.flow, readers=readers, buttons=buttons, screen=kscreen, on_view=on_view)
        except BaseException:
            if buttons is not None:
                buttons.close()
            if kscreen is not None:
                kscreen.close()
            raise
        self._closers.insert(0, self.app.close)

    def _layout(self) -> TicketLayout:
        """The ticket layout; its QR links to the phone page when the branch has a web address."""
        cfg, key = self.cfg, self.link_key
        link = None
        if key is not None and cfg.web.base_url:
            base = cfg.web.base_url

            def link(ticket_id: str) -> str:
                return ticket_url(base, key, ticket_id)

        return TicketLayout(cfg, width_chars=cfg.printer.width_chars, link=link)

    def _queues(self, state: Any) -> None:
        app = self.app
        if app is not None:
            app.events.put(KioskEvent("queues", state))

    def start(self, timeout: float = 10.0) -> KioskRuntime:
        """Connect to the broker (BusError if it refuses or cannot be reached), then report the printer."""
        self.bus.connect(timeout)
        self.flow.printer.status()
        return self

    def run(self, stop: threading.Event) -> None:
        if self.app is not None:
            self.app.run(stop)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for close in self._closers:
            try:
                close()
            except (OSError, RuntimeError) as err:
                _LOG.warning("closing kiosk part: %s", err)
        self._closers.clear()


def run_kiosk(cfg: BranchConfig, *, twin: bool = False, screen: bool | None = None, host: str | None = None,
              port: int | None = None, seconds: float = 0.0,
              read_line: Callable[[str], str | None] | None = None,
              out: Callable[[str], None] | None = None, link_key_file: Path | None = None) -> int:
    """`qcall kiosk`: run until SIGTERM / Ctrl-C (or `seconds`). A twin kiosk with `read_line`
    also runs its console (qcall.kiosk_console) on a thread: `quit` there stops the kiosk."""
    import signal

    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if seconds > 0:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
    rt: KioskRuntime | None = None
    try:
        # The kiosk never makes the phone link key: one it made itself would print QR codes the web
        # service (which makes the key on the branch server) cannot open.
        key = (load_link_key(link_key_file, create=False)
               if link_key_file is not None and cfg.web.base_url else None)
        rt = KioskRuntime(cfg, host=host, port=port, twin=twin, screen=screen, link_key=key)
        rt.start()
        _LOG.info("kiosk %s running (%s)", cfg.kiosk.id, "simulated devices" if twin else "configured devices")
        if rt.twins is not None and rt.app is not None and read_line is not None:
            from qcall.kiosk_console import KioskConsole, run_console

            console = KioskConsole(rt.twins, rt.app, out or (lambda line: None))
            threading.Thread(target=run_console, args=(console, read_line, stop), name="kiosk console",
                             daemon=True).start()
        try:
            rt.run(stop)
        except KeyboardInterrupt:
            pass
    finally:
        if rt is not None:
            rt.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
