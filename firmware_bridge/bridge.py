"""The bridge for one serial line: pad frames -> counter logic -> bus commands; bus state -> frames.

One process per line (`qcall bridge --line N`). It holds:

* a `HostLink` (the line: acknowledged, de-duplicated, CRC-checked frames; reconnects by itself);
* a `BusClient` acting as `counter<N>` for every counter wired to the line (the broker's ACL
  limits it to those);
* per counter, its logic (`CounterLogic`, built by the factory the wiring passes: in practice
  counter_panel's CounterPanel) and one worker thread that owns it.

Why a worker per counter: the logic is not thread-safe and its inputs come from three threads
(the serial I/O thread, the bus network thread, the presence timer); a queue per counter keeps
them in order without locks, and `BusClient.request()` (which blocks until the core answers)
holds up only that counter, never the line or the other counters.

Only frames that passed every check of the codec reach `_on_frame`; a damaged "call next" has
been dropped and counted by the decoder long before, so no guess ever becomes a command.

Outputs: the keypad shows `keypad_text`, the rating pad `pad_text`; voice prompts go to the
rating pad (its speaker faces the customer; to the keypad if the counter has no rating pad);
beeps go to the keypad. Retained state replayed on (re)connect updates the LEDs but never plays a
prompt or beeps. On start and whenever the port comes back, every pad gets the time (broadcast
SET_TIME) and what it should show; a pad heard again after being silent (a reboot) gets both too.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from firmware_bridge.errors import FrameError
from firmware_bridge.frame import (
    BROADCAST,
    MAX_PAYLOAD,
    Command,
    Frame,
    TextEncoding,
    Voice,
    beep_frame,
    led_frame,
    time_frame,
    voice_frame,
)
from firmware_bridge.link import HostLink, Pending, PortFactory
from firmware_bridge.logic import CounterLogic, LogicFactory, LogicOutput, PadDisplay
from firmware_bridge.presence import PadReport, PadsState, default_report, pad_online
from hw.serial_line import SerialPort
from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config.sections import SerialLine
from qbus.config.validate import line_problems
from qbus.errors import ConfigError
from qbus.topics import counter_device, pad_device

_LOG = logging.getLogger(__name__)

VOICES = {"welcome": Voice.WELCOME, "please_rate": Voice.PLEASE_RATE, "thanks": Voice.THANKS}
BEEP_MS = 100


class _Worker:
    """One thread running one counter's jobs in order."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def put(self, job: Callable[[], None]) -> None:
        self.jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a bug in one job must not stop the counter
                _LOG.exception("%s: job failed", self.thread.name)

    def stop(self) -> None:
        self.jobs.put(None)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)


class Bridge:
    """The bridge of one serial line. `start()`, then `close()` (safe twice).

    line        the [[serial]] entry (port, codec, devices with their address, counter and kind)
    bus         a BusClient not yet started, with act_as covering `counter<N>` for every counter of
                the line and `pad<N>` for every counter with a rating pad (rating_counters); the bridge registers its handlers, starts it and closes it
    make_logic  counter id -> that counter's logic (qcall passes counter_panel's CounterPanel)
    counters    the counters the branch has; a device naming another one is a ConfigError
    report      the pad presence report (qcall passes the pre-opening check); default: plain
    wall_clock  local time for the pads' clocks (the branch's time zone)
    """

    def __init__(
        self,
        line: SerialLine,
        bus: BusClient,
        make_logic: LogicFactory,
        *,
        counters: Collection[int] | None = None,
        report: PadReport = default_report,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = dt.datetime.now,
        check_every_s: float | None = None,
        reconnect_s: float = 1.0,
        port_factory: PortFactory = SerialPort,
        encoding: TextEncoding = TextEncoding.UTF8,
    ) -> None:
        self.line = line
        self.bus = bus
        self.topics = bus.topics
        self._report = report
        self._clock = clock
        self._wall = wall_clock
        self._encoding = encoding
        self._check_s = check_every_s or max(0.05, min(1.0, line.heartbeat_timeout_s / 4))
        self._devices = {d.address: d for d in line.devices}
        self.counters = _counters_of(line, counters)
        wanted = [counter_device(n) for n in self.counters] + [pad_device(n) for n in rating_counters(line)]
        missing = [d for d in wanted if d not in bus.act_as]
        if missing:
            raise ConfigError(f"bridge {bus.device}: the bus client must act as {', '.join(missing)}")
        self._pads = {n: [d for d in line.devices if d.counter == n] for n in self.counters}
        self.logic: dict[int, CounterLogic] = {n: make_logic(n) for n in self.counters}
        self._workers = {n: _Worker(f"{bus.device} counter{n}") for n in self.counters}
        self._want: dict[int, str] = {}  # address -> the LED text it should show
        self._pad_up: dict[int, bool] = {}  # address -> online at the last check
        self._published: dict[int, PadsState] = {}
        self._last_led: dict[int, Pending] = {}  # address -> the last LED frame sent to it
        self._ever_up: set[int] = set()  # addresses that have been online since the start
        self._lock = threading.Lock()  # _pad_up, _published
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._checker = threading.Thread(target=self._check_loop, name=f"{bus.device} presence", daemon=True)
        self._started = False
        self._closed = False
        for n in self.counters:
            bus.subscribe(self.topics.state_counter(n), m.CounterState, self._on_state)
        bus.subscribe(self.topics.event("rated"), m.decode_event, self._on_event)
        bus.on_online = self._on_bus_online
        self.link = HostLink(line, self._on_frame, on_link=self._on_link, clock=clock,
                             reconnect_s=reconnect_s, port_factory=port_factory)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Bridge:
        if self._started:
            return self
        self._started = True
        try:
            for w in self._workers.values():
                w.thread.start()
            self.bus.start()
            self.link.start()
            self._checker.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the line, say the pads are offline (the bridge no longer knows), close the bus."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._checker.is_alive():
            self._checker.join(timeout=5)
        self.link.close()
        for w in self._workers.values():
            w.stop()
        if self.bus.online:
            for n in self.counters:
                self._publish_pads(n, PadsState(False, "bridge stopped"))
        self.bus.close()

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- serial -> logic

    def _on_frame(self, frame: Frame) -> None:
        """On the serial I/O thread: only valid, new device frames arrive here. Hand over, return."""
        dev = self._devices.get(frame.address)
        if dev is None:  # the link drops unconfigured addresses already
            return
        if not self._pad_up.get(dev.address, False):
            self._wake.set()  # a pad heard again: the checker resends its time and text now
        now = self._clock()
        logic, worker = self.logic[dev.counter], self._workers[dev.counter]
        if frame.command is Command.KEY and dev.kind == "keypad":
            press = frame.key_press()
            worker.put(lambda: self._apply(dev.counter, logic.key(press, now)))
        elif frame.command is Command.STARS and dev.kind == "rating":
            stars = frame.stars()
            worker.put(lambda: self._apply(dev.counter, logic.stars(stars, now)))
        elif frame.command in (Command.KEY, Command.STARS):
            _LOG.warning("%s: %s from %s #%d (counter %d) ignored: a %s does not send that",
                         self.line.port, frame.command.name, dev.kind, dev.address, dev.counter, dev.kind)

    # ---------------------------------------------------------------- bus -> logic

    def _on_state(self, msg: Received[m.CounterState]) -> None:
        state = msg.value
        if state.counter not in self.logic:
            return
        logic, quiet = self.logic[state.counter], msg.retained
        self._workers[state.counter].put(lambda: self._apply(state.counter, logic.state_update(state), quiet=quiet))

    def _on_event(self, msg: Received[Any]) -> None:
        ev = msg.value
        counter = getattr(ev, "counter", 0)
        if isinstance(ev, m.ServiceRated) and counter in self.logic and not msg.retained:
            logic = self.logic[counter]
            self._workers[counter].put(lambda: self._apply(counter, logic.event(ev)))

    # ---------------------------------------------------------------- logic -> bus and pads (worker)

    def _apply(self, counter: int, out: LogicOutput, *, quiet: bool = False) -> None:
        if out.display is not None:
            self._show(counter, out.display, quiet=quiet)
        for cmd in out.commands:
            self._show_reply(counter, self._request(counter, cmd))

    def _request(self, counter: int, cmd: m.Command) -> tuple[bool, str]:
        """A rating speaks as the counter's customer pad (`pad<N>`), everything else as the
        counter: the core takes stars only from a pad, never from the teller's keypad."""
        device = pad_device(counter) if isinstance(cmd, m.Rate) else counter_device(counter)
        return self.bus.answer(cmd, device=device)

    def _show_reply(self, counter: int, answer: tuple[bool, str]) -> None:
        out = self.logic[counter].reply(*answer)
        if out.display is not None:
            self._show(counter, out.display)
        for cmd in out.commands:  # a reply never asks for more, but do not lose one if it does
            self._show_reply(counter, self._request(counter, cmd))

    def _show(self, counter: int, d: PadDisplay, *, quiet: bool = False, force: Collection[int] = ()) -> None:
        pads = self._pads[counter]
        for dev in pads:
            text = d.keypad_text if dev.kind == "keypad" else d.pad_text
            if self._want.get(dev.address) != text or dev.address in force:
                self._want[dev.address] = text
                try:
                    frame = led_frame(dev.address, _fit(text, self._encoding), self._encoding)
                except FrameError as err:  # a character the pad's encoding lacks
                    _LOG.warning("%s: LED text for #%d not sent: %s", self.line.port, dev.address, err)
                    continue
                self._last_led[dev.address] = self._send(frame)
        if quiet:
            return
        voice = VOICES.get(d.voice)
        if voice is not None:
            speakers = [p for p in pads if p.kind == "rating"] or pads
            for dev in speakers:
                self._send(voice_frame(dev.address, voice))
        if d.beep:
            for dev in pads:
                if dev.kind == "keypad":
                    self._send(beep_frame(dev.address, BEEP_MS))

    def _send(self, frame: Frame) -> Pending:
        pending = self.link.send(frame)
        if pending.done and not pending.ok:
            _LOG.debug("%s: %s to #%d not sent: %s", self.line.port, frame.command.name, frame.address,
                       pending.reason)
        return pending

    def _needs_resync(self, address: int) -> bool:
        """A pad just counted as online: does it need its time and text again? Yes after it was
        online and went silent (it may have rebooted), or when its last LED frame did not get
        through; not for a pad merely heard for the first time after a start that reached it (32
        pads coming up together would otherwise queue a second of frames ahead of every ACK)."""
        if address in self._ever_up:
            return True
        self._ever_up.add(address)
        last = self._last_led.get(address)
        return last is None or (last.done and not last.ok)

    def _refresh(self, counter: int, addresses: Collection[int]) -> None:
        """Resend what the pads at `addresses` should show (they came back or the port did)."""
        logic = self.logic[counter]
        self._workers[counter].put(lambda: self._show(counter, logic.display, quiet=True, force=addresses))

    def _set_time(self, address: int = BROADCAST) -> None:
        try:
            self._send(time_frame(address, self._wall().replace(microsecond=0)))
        except FrameError as err:
            _LOG.warning("%s: cannot set the pads' time: %s", self.line.port, err)

    # ---------------------------------------------------------------- link and presence

    def _on_link(self, up: bool, detail: str) -> None:
        """Serial I/O thread: the port opened or went away."""
        if up:
            self._set_time()
            for n in self.counters:
                self._refresh(n, [d.address for d in self._pads[n]])
        self._wake.set()
        self._publish_bridge()

    def _on_bus_online(self) -> None:
        """Network thread, after every (re)connect: our retained presence may be stale or gone."""
        with self._lock:
            self._published.clear()
        self._publish_bridge()
        self._wake.set()

    def _check_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._check_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check_pads()
            except Exception:
                _LOG.exception("%s: pad check failed", self.line.port)

    def check_pads(self) -> dict[int, PadsState]:
        """Work out every counter's pad presence now; publish what changed; welcome pads back."""
        now, last_seen, up = self._clock(), self.link.last_seen(), self.link.up
        back: dict[int, list[int]] = {}
        states: dict[int, PadsState] = {}
        with self._lock:
            for dev in self.line.devices:
                online = up and pad_online(self.line, last_seen, dev.address, now)
                if online and not self._pad_up.get(dev.address, False):
                    if self._needs_resync(dev.address):
                        back.setdefault(dev.counter, []).append(dev.address)
                    _LOG.info("%s: %s #%d (counter %d) online", self.line.port, dev.kind, dev.address, dev.counter)
                elif not online and self._pad_up.get(dev.address, False):
                    _LOG.warning("%s: %s #%d (counter %d) offline", self.line.port, dev.kind, dev.address,
                                 dev.counter)
                self._pad_up[dev.address] = online
            for n in self.counters:
                if up:
                    states[n] = PadsState(*self._report(n, self.line, last_seen, now))
                else:
                    states[n] = PadsState(False, f"serial port down: {self.link.detail}")
            changed = {n: s for n, s in states.items() if self._published.get(n) != s}
        for n, addresses in back.items():
            for a in addresses:
                self._set_time(a)
            self._refresh(n, addresses)
        for n, s in changed.items():
            self._publish_pads(n, s)
        return states

    def _publish_pads(self, counter: int, state: PadsState) -> None:
        if not self.bus.online:
            return
        device = pad_device(counter)
        msg = m.Presence(device=device, online=state.online, kind="pads", detail=state.detail,
                         via=self.bus.device)
        if self.bus.publish(self.topics.presence(device), msg, retain=True):
            with self._lock:
                self._published[counter] = state
            _LOG.info("presence %s: %s (%s)", device, "online" if state.online else "offline", state.detail)

    def _publish_bridge(self) -> None:
        """The bridge's own presence says how its line is (the pads have their own)."""
        if not self.bus.online or self._closed:
            return
        detail = f"{self.line.port}: " + (f"open ({self.link.detail})" if self.link.up else f"down: {self.link.detail}")
        self.bus.publish(self.topics.presence(self.bus.device),
                         m.Presence(device=self.bus.device, online=True, kind="bridge", detail=detail), retain=True)


def rating_counters(line: SerialLine) -> list[int]:
    """Counters of `line` with a customer rating pad: the bridge rates for them as `pad<N>`."""
    return sorted({d.counter for d in line.devices if d.kind == "rating"})


def _counters_of(line: SerialLine, known: Collection[int] | None) -> list[int]:
    """The counters wired to the line, the line checked as check-config checks it."""
    wired = sorted({d.counter for d in line.devices})
    problems = line_problems(line, wired if known is None else known)
    if problems:
        raise ConfigError(f"serial line {line.port}" + ";".join(problems))
    return wired


def _fit(text: str, encoding: TextEncoding) -> str:
    """Cut a text that would not fit one LED_TEXT frame (a long refusal message) at a character."""
    while len(text.encode(encoding.codec, "replace")) > MAX_PAYLOAD - 1:
        text = text[:-1]
    return text
