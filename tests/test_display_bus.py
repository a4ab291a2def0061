"""The hall display on a real Mosquitto: resync from retained state, a call on the bus reaches
the screen, the offline mark appears when the broker stops and goes when it is back."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pygame
import pytest

from display import theme
from display.app import Frame, run_display
from display.feed import bus_feed
from display.hall import HallState
from display.layout import LAYOUTS
from display.panels import CallingPanel
from display.screen import HallScreen
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig
from qbus.topics import Topics
from tests.display_helpers import branch, colour_area, find_text, reference, shows_offline_badge

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SIZE = LAYOUTS["landscape-720"]
Predicate = Callable[[HallState, float], bool]


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    return branch()


class Watch:
    """Runs on the display thread after each frame: snapshots the frame when a condition holds."""

    def __init__(self, surface: pygame.Surface, state: HallState) -> None:
        self.surface, self.state = surface, state
        self._lock = threading.Lock()
        self._waiters: list[tuple[Predicate, threading.Event, list[pygame.Surface]]] = []

    def on_frame(self, f: Frame) -> None:
        with self._lock:
            for pred, ev, got in list(self._waiters):
                if pred(self.state, f.now):
                    got.append(self.surface.copy())
                    ev.set()
                    self._waiters.remove((pred, ev, got))

    def until(self, pred: Predicate, timeout: float = 15.0) -> pygame.Surface:
        ev = threading.Event()
        got: list[pygame.Surface] = []
        with self._lock:
            self._waiters.append((pred, ev, got))
        assert ev.wait(timeout), "the screen never reached the expected state"
        return got[0]


def calling(state: HallState) -> list[str]:
    return [c.number for c in state.calling]


@pytest.fixture
def hall(cfg: BranchConfig, mosquitto: MosquittoBroker) -> Iterator[tuple[Watch, HallScreen]]:
    """The display connected to the broker, running on its own thread over an off-screen surface."""
    pygame.display.init()
    surface = pygame.Surface(SIZE)
    state = HallState.from_config(cfg)
    watch = Watch(surface, state)
    inbox: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    close = bus_feed(cfg, inbox.put, host=mosquitto.host, port=mosquitto.port)
    runner = threading.Thread(target=run_display, args=(cfg, inbox), daemon=True,
                              kwargs={"screen": surface, "stop": stop, "state": state,
                                      "on_frame": watch.on_frame})
    runner.start()
    try:
        yield watch, HallScreen(cfg, pygame.Surface(SIZE))
    finally:
        stop.set()
        runner.join(5)
        close()


def core_client(cfg: BranchConfig, broker: MosquittoBroker) -> BusClient:
    return BusClient(host=broker.host, port=broker.port, topics=Topics(cfg.bus.prefix, cfg.branch.id),
                     device="core", kind="core").connect(10)


def number_in_band(frame: pygame.Surface, number: str, probe: HallScreen) -> bool:
    band = colour_area(frame, theme.HIGHLIGHT_BG)
    if band is None:
        return False
    panel = probe.panel("calling")
    assert isinstance(panel, CallingPanel)
    size = panel.sizes(0, m.CallView(number=number, counter=3, at=0))[0]
    ref = reference(FONT, 0, number, size, theme.HIGHLIGHT_FG, theme.HIGHLIGHT_BG)
    return find_text(frame, band, ref, theme.HIGHLIGHT_FG) is not None


def saved(frame: pygame.Surface, path: Path) -> pygame.Surface:
    pygame.image.save(frame, str(path))
    return pygame.image.load(str(path))


def test_display_follows_the_bus_and_marks_a_broker_outage(
        cfg: BranchConfig, mosquitto: MosquittoBroker, hall: tuple[Watch, HallScreen],
        tmp_path: Path) -> None:
    watch, probe = hall
    header = probe.layout.status.union(probe.layout.clock).union(probe.layout.name)
    core = core_client(cfg, mosquitto)
    t = core.topics
    try:
        now = time.time()
        core.publish(t.state_hall(), m.HallView(calling=[m.CallView(number="A001", counter=1, at=now)],
                                                 waiting={"cash": 3}), retain=True)
        frame = watch.until(lambda s, _: s.online and calling(s) == ["A001"])
        assert not shows_offline_badge(saved(frame, tmp_path / "resync.png"), header)

        core.publish(t.event("called"), m.TicketCalled(at=time.time(), number="B002", counter=3,
                                                      business="personal", tier="normal", waited_s=5))
        frame = watch.until(lambda s, _: calling(s)[:1] == ["B002"])
        assert number_in_band(saved(frame, tmp_path / "called.png"), "B002", probe)
    finally:
        core.close()

    mosquitto.stop()
    frame = saved(watch.until(lambda s, _: not s.online), tmp_path / "offline.png")
    assert shows_offline_badge(frame, header), "no offline mark while the broker is down"
    assert colour_area(frame, theme.ROW_BG) is not None, "the last calls must stay on screen"

    mosquitto.start()
    core = core_client(cfg, mosquitto)
    try:  # the core republishes its retained picture after the restart
        core.publish(core.topics.state_hall(), m.HallView(
            calling=[m.CallView(number="C003", counter=4, at=time.time())]), retain=True)
        frame = watch.until(lambda s, _: s.online and calling(s) == ["C003"], timeout=20)
    finally:
        core.close()
    assert not shows_offline_badge(saved(frame, tmp_path / "back.png"), header), \
        "offline mark still shown after reconnect"
