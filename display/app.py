"""Run the hall display: bus messages in, frames out, announcements on the side.

The display is driven only by what arrives in its inbox, a `queue.Queue` that the bus client fills
from its own thread: qbus.messages structs (retained HallView / CounterState / QueueState /
Notice, and events) and `BusLink(online=...)` when the broker connection drops or returns. The
loop runs in the thread that opened the screen (SDL wants the main thread), wakes as soon as a
message arrives, so a call is on screen within one frame, and otherwise draws at the configured
frame rate so the ticker and clock move.

`main()` is the hook for `qcall display`: it opens the screen and voice and connects to MQTT
through `display.feed.bus_feed` (or any other `subscribe` function it is given).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pygame

from display.announce import Announcement
from display.errors import DisplayError, VoiceError
from display.hall import BusLink, HallState
from display.layout import size_of
from display.rotate import Rotation, rotation_for
from display.screen import HallScreen
from display.voice import Announcer, open_announcer
from qbus import messages as m
from qbus.config import BranchConfig
from qbus.config.sections import DisplaySection

_LOG = logging.getLogger(__name__)

Clock = Callable[[], float]
Deliver = Callable[[object], None]
#: Connects to the bus and calls `deliver` for every message (from any thread); returns a closer.
Subscribe = Callable[[BranchConfig, Deliver], Callable[[], None]]

__all__ = ["BusLink", "Frame", "main", "open_screen", "open_voice", "run_display"]


@dataclass
class Frame:
    """What one loop turn did, for callers that measure (the benchmark) or watch (tests)."""

    index: int
    now: float
    dirty: list[pygame.Rect]
    messages: list[object] = field(default_factory=list)
    shown_at: float = 0.0  # time.perf_counter() after the frame reached the screen


def open_screen(display: DisplaySection, *, headless: bool = False) -> pygame.Surface:
    """Open the pygame window: full screen in production, the layout's size otherwise.

    `headless` selects SDL's dummy video driver (tests, benchmarks, a box with no monitor).
    """
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    w, h = size_of(display.layout)
    size = (h, w) if display.rotate else (w, h)  # a window shows the screen as mounted
    pygame.display.init()
    flags = pygame.FULLSCREEN if display.fullscreen and not headless else 0
    try:
        screen = pygame.display.set_mode((0, 0) if flags else size, flags)
    except pygame.error as err:
        raise DisplayError(f"cannot open the hall screen: {err} (no display here? run with "
                           "--headless, or set SDL_VIDEODRIVER=kmsdrm on a console)",
                           zh="无法打开显示屏") from err
    pygame.display.set_caption("qcall hall display")
    pygame.mouse.set_visible(False)
    return screen


def run_display(cfg: BranchConfig, inbox: queue.Queue[object], *, screen: pygame.Surface | None = None,
                clock: Clock = time.time, voice: Announcer | None = None,
                stop: threading.Event | None = None,
                on_frame: Callable[[Frame], None] | None = None,
                state: HallState | None = None, hall: HallScreen | None = None,
                rotation: Rotation | None = None) -> HallState:
    """Draw the hall from `inbox` until `stop` is set (or the window is closed).

    `clock` is wall time in seconds (the injected clock: blink timing, the clock panel, the
    ticker). Calls and recalls are also handed to `voice`, which queues and plays them on its own
    thread. `hall` is a HallScreen already made over `screen` (main() makes it early so a bad
    font stops start-up before anything connects). With `rotation` the hall is drawn upright on
    its canvas and the changed parts are turned onto `screen`. Returns the final state.
    """
    surface = screen if screen is not None else open_screen(cfg.display)
    stop = stop or threading.Event()
    state = state or HallState.from_config(cfg)
    canvas = rotation.canvas if rotation is not None else surface
    hall = hall if hall is not None else HallScreen(cfg, canvas)
    on_display = pygame.display.get_surface() is surface
    period = 1.0 / max(1, cfg.display.fps)
    index = 0
    next_at = time.perf_counter()
    while not stop.is_set():
        msgs = _wait(inbox, next_at - time.perf_counter())
        now = clock()
        for msg in msgs:
            state.apply(msg, now)
            if voice is not None and isinstance(msg, m.TicketCalled | m.TicketRecalled):
                voice.announce(msg)
            for late in state.take_missed():  # calls a broker restart kept from us: said late
                if voice is not None:
                    voice.say(Announcement(late.number, late.counter, late.recall))
        dirty = hall.draw(state, now)
        if rotation is not None:
            dirty = rotation.present(dirty)
        if on_display:
            if dirty:
                pygame.display.update(dirty)
            if _closed():
                stop.set()
        if on_frame is not None:
            on_frame(Frame(index, now, list(dirty), msgs, time.perf_counter()))
        index += 1
        if time.perf_counter() >= next_at:
            next_at = max(next_at + period, time.perf_counter() - period)
    return state


def _wait(inbox: queue.Queue[object], timeout: float) -> list[object]:
    """Every message waiting, blocking up to `timeout` for the first one."""
    out: list[object] = []
    try:
        out.append(inbox.get(timeout=timeout) if timeout > 0 else inbox.get_nowait())
    except queue.Empty:
        return out
    while True:
        try:
            out.append(inbox.get_nowait())
        except queue.Empty:
            return out


def _closed() -> bool:
    """Window closed or Escape pressed (a keyboard on the display box, or a developer)."""
    for ev in pygame.event.get():
        if ev.type == pygame.QUIT or (ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE):
            return True
    return False


def main(cfg: BranchConfig, *, subscribe: Subscribe | None = None, headless: bool = False,
         device: str = "display1", host: str | None = None, port: int | None = None,
         voice: bool | Announcer = True, stop: threading.Event | None = None,
         on_frame: Callable[[Frame], None] | None = None,
         on_screen: Callable[[pygame.Surface], None] | None = None) -> None:
    """`qcall display`: open screen and voice, connect the bus, run until the window closes.

    By default the bus side is `display.feed.bus_feed` (MQTT per `[bus]`, or `host`/`port`).
    A custom `subscribe(cfg, deliver)` must call `deliver(msg)` for each decoded message and
    `deliver(BusLink(online=...))` when the broker link goes or comes back, and return a function
    that disconnects. The screen starts offline and fills in when the retained state arrives.
    Voice problems (no clips and no espeak-ng, no audio device) are logged and the screen runs
    without voice: the numbers on the wall matter more. `voice=False` forces silence, an
    `Announcer` is used as given (and closed at the end); `stop` ends the loop from another
    thread; `on_screen` is told the surface once it is open.
    """
    if subscribe is None:
        from display.feed import bus_feed

        def subscribe(c: BranchConfig, deliver: Deliver) -> Callable[[], None]:
            return bus_feed(c, deliver, device=device, host=host, port=port)

    inbox: queue.Queue[object] = queue.Queue()
    announcer = voice if isinstance(voice, Announcer) else None
    close = None
    try:
        screen = open_screen(cfg.display, headless=headless)
        rotation = rotation_for(screen, cfg.display.layout.startswith("portrait"), cfg.display.rotate)
        # A missing CJK font stops here, before anything connects.
        hall = HallScreen(cfg, rotation.canvas if rotation is not None else screen)
        state = HallState.from_config(cfg)
        dirty = hall.draw(state, time.time())  # the (offline) picture at once, while clips are made
        if rotation is not None:
            rotation.present(dirty)
        pygame.display.flip()
        if on_screen is not None:
            on_screen(screen)
        if voice is True:
            announcer = open_voice(cfg)
        close = subscribe(cfg, inbox.put)
        run_display(cfg, inbox, screen=screen, voice=announcer, stop=stop, on_frame=on_frame,
                    state=state, hall=hall, rotation=rotation)
    finally:
        if close is not None:
            close()
        if announcer is not None:
            announcer.close()
        pygame.display.quit()


def open_voice(cfg: BranchConfig) -> Announcer | None:
    """The display's announcer per `[voice]`, or None (silent mode, or voice cannot work: logged)."""
    try:
        return open_announcer(cfg.voice, names_en=counter_names_en(cfg))
    except VoiceError as err:  # the screen matters more than the voice: run without it
        _LOG.error("voice calling off: %s", err)
        return None


def counter_names_en(cfg: BranchConfig) -> dict[int, str]:
    """Counter -> its English name as signed ("VIP Counter 5"), for the English announcement."""
    return {c.id: c.name_en for c in cfg.counter if c.name_en}
