"""One running kiosk: readers, buttons and the touch screen push events into one queue; one loop
feeds them to the flow (which is not thread-safe) and shows the resulting view.

The bus is not here: the caller passes the flow, whose `issue` callable talks to the core. With no
screen the kiosk still works with GPIO buttons (steer=False flow: the ticket carries the self-service
hint), and LEDs show ready / fault.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hw.buttons import KioskButtons
from hw.identity import IdentityReader, Presented, ReaderError, ReaderThread
from kiosk.flow import KioskFlow, View, ViewKind
from qbus import messages as m
from qbus.config.sections import KioskSection

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class KioskEvent:
    """kind: present | reader_error | button | action | queues | poll | tick. `data` is what goes
    with it (queues: the core's retained QueueState, or people waiting per business code)."""

    kind: str
    data: Any = None


class KioskApp:
    def __init__(
        self,
        flow: KioskFlow,
        *,
        readers: Sequence[IdentityReader] = (),
        buttons: KioskButtons | None = None,
        screen: Any = None,  # kiosk.screen.KioskScreen; typed loosely so pygame is only needed with a screen
        on_view: Callable[[View], None] | None = None,
        status_poll_s: float = 3.0,
    ) -> None:
        self.flow = flow
        self.status_poll_s = status_poll_s
        self._last_poll = time.monotonic()
        self.screen = screen
        self.buttons = buttons
        self.on_view = on_view
        self.events: queue.Queue[KioskEvent] = queue.Queue()
        self.waiting: dict[str, int] = {}
        self.est_wait_s: dict[str, float] = {}
        flow.on_busy = self._show  # "issuing your ticket" on screen while the core answers
        self._threads: list[ReaderThread] = []
        if buttons is not None:
            buttons.when_pressed = lambda name: self.events.put(KioskEvent("button", name))
        for reader in readers:
            self._threads.append(ReaderThread(
                reader,
                lambda p: self.events.put(KioskEvent("present", p)),
                lambda e: self.events.put(KioskEvent("reader_error", e)),
            ))
        self._show(flow.view)

    def step(self, timeout: float = 0.2) -> View | None:
        """Handle one queued event (or a tick if none came within `timeout`); returns the new view."""
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            ev = KioskEvent("tick")
            if time.monotonic() - self._last_poll >= self.status_poll_s:
                # idle: re-read the printer so the home screen, the LEDs (and staff) see a refilled
                # or emptied roll or an open cover before anyone chooses
                self._last_poll = time.monotonic()
                self.flow.printer_changed(self.flow.printer.status())
                self._show(self.flow.view)
        before = self.flow.view
        view = self._dispatch(ev)
        if view is not before:
            self._show(view)
        return view

    def _dispatch(self, ev: KioskEvent) -> View:
        flow = self.flow
        if ev.kind == "present":
            presented: Presented = ev.data
            return flow.present(presented)
        if ev.kind == "reader_error":
            err: ReaderError = ev.data
            return flow.reader_failed(err)
        if ev.kind == "button":
            return self._button(str(ev.data))
        if ev.kind == "action":
            return self._action(ev.data)
        if ev.kind == "queues":
            return self._queues(ev.data)
        if ev.kind == "poll":
            return flow.printer_changed(flow.printer.status())
        return flow.tick()

    def _queues(self, data: m.QueueState | dict[str, int]) -> View:
        """People waiting (and the estimated wait) per business, shown on the home screen's
        buttons (redrawn at once). `data`: the core's QueueState, or just the counts."""
        if isinstance(data, m.QueueState):
            self.waiting, self.est_wait_s = dict(data.waiting), dict(data.est_wait_s)
        else:
            self.waiting = dict(data)
        if self.screen is not None:
            self.screen.waiting = self.waiting
            self.screen.est_wait_s = self.est_wait_s
            if self.flow.view.kind in (ViewKind.HOME, ViewKind.IDENTIFIED, ViewKind.STAFF_OK):
                self.screen.draw(self.flow.view)
        return self.flow.view

    def _button(self, name: str) -> View:
        if name == "priority":
            return self.flow.request_priority()
        if name == "reprint":
            return self.flow.reprint()
        return self.flow.choose(name)

    def _action(self, action: Any) -> View:
        kind, value = action.kind, action.value
        if kind == "business":
            return self.flow.choose(value)
        if kind == "anyway":
            return self.flow.choose(value, anyway=True)
        if kind == "priority":
            return self.flow.request_priority()
        if kind == "reprint":
            return self.flow.reprint()
        if kind == "booking":  # 预约取号: the code pad
            return self.flow.booking_pad()
        if kind == "check_in":  # 预约签到: the booking code typed on the screen
            return self.flow.check_in_code(str(value))
        if kind == "staff_pin":
            teller, _, pin = str(value).partition(":")
            return self.flow.staff_pin(teller, pin)
        return self.flow.reset()

    def _show(self, view: View) -> None:
        if self.screen is not None:
            self.screen.draw(view)
        if self.buttons is not None:
            st = getattr(self.flow.printer, "last_status", None)
            fault = ((st is not None and not st.can_print) or bool(self.flow.printer_fault[0])
                     or view.kind is ViewKind.PRINT_FAILED)
            self.buttons.led("fault", fault or bool(self.flow.printer_warning))
            # "ready": a ticket can be taken now (no printer fault, within opening hours)
            self.buttons.led("ready", not fault and self.flow.open_at(self.flow.clock()))
        if self.on_view is not None:
            self.on_view(view)

    def run(self, stop: threading.Event) -> None:
        """Main loop until `stop` is set. With a screen, call from the main thread (SDL wants that)."""
        while not stop.is_set():
            if self.screen is not None:
                self._pump_screen()
            self.step(0.05 if self.screen is not None else 0.2)

    def _pump_screen(self) -> None:
        import pygame

        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                continue
            action = self.screen.handle(event)
            if action is not None:
                self.events.put(KioskEvent("action", action))

    def close(self) -> None:
        """Stop reader threads, release buttons and the screen; readers are closed by their owner."""
        for t in self._threads:
            t.close()
        self._threads.clear()
        if self.buttons is not None:
            self.buttons.close()
        if self.screen is not None:
            self.screen.close()


def open_readers(section: KioskSection) -> list[IdentityReader]:
    """The readers the config names; one that fails to open is logged and left out, not fatal."""
    from hw.idcard import IdCardReader
    from hw.magcard import EvdevMagReader, SerialMagReader
    from hw.passbook import PassbookReader

    makers: list[tuple[str, Callable[[], IdentityReader]]] = []
    if section.idcard_port:
        makers.append(("ID card", lambda: IdCardReader(section.idcard_port)))
    if section.magcard_port:
        makers.append(("stripe", lambda: SerialMagReader(section.magcard_port)))
    if section.magcard_evdev:
        makers.append(("USB stripe", lambda: EvdevMagReader(section.magcard_evdev)))
    if section.passbook_port:
        makers.append(("passbook", lambda: PassbookReader(section.passbook_port)))
    readers: list[IdentityReader] = []
    for name, make in makers:
        try:
            readers.append(make())
        except ReaderError as err:
            _LOG.error("%s reader not available: %s", name, err)
    return readers
