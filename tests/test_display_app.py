"""The run loop: messages from the inbox reach the screen in the next frame."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pygame
import pytest

from display import theme
from display.app import Frame, run_display
from display.hall import BusLink
from display.layout import LAYOUTS
from display.panels import CallingPanel
from display.screen import HallScreen
from qbus import messages as m
from qbus.config import BranchConfig
from tests.display_helpers import T0, branch, colour_area, find_text, reference, saved_frame, screen

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    return branch()


def called(number: str, counter: int, at: float = T0) -> m.TicketCalled:
    return m.TicketCalled(at=at, number=number, counter=counter, business="cash", tier="normal",
                          waited_s=60.0)


def test_run_display_shows_a_call_from_the_inbox_in_the_next_frame(
        cfg: BranchConfig, tmp_path: Path) -> None:
    surf = screen(LAYOUTS["landscape-720"])
    inbox: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    frames: list[Frame] = []
    clock_now = [T0]

    def on_frame(f: Frame) -> None:
        frames.append(f)
        if len(frames) == 2:
            inbox.put(called("E042", 5))
            inbox.put(BusLink(online=False))
        if any(isinstance(x, m.TicketCalled) for x in f.messages):
            stop.set()
        if len(frames) > 600:
            stop.set()

    state = run_display(cfg, inbox, screen=surf, clock=lambda: clock_now[0], stop=stop,
                        on_frame=on_frame)
    assert len(frames) == 3, "the call must be drawn in the frame right after it arrived"
    assert not state.online
    frame = saved_frame(surf, tmp_path / "loop.png")
    band = colour_area(frame, theme.HIGHLIGHT_BG)
    assert band is not None
    panel = HallScreen(cfg, pygame.Surface(surf.get_size())).panel("calling")
    assert isinstance(panel, CallingPanel)
    size = panel.sizes(0, m.CallView(number="E042", counter=5, at=T0))[0]
    ref = reference(FONT, 0, "E042", size, theme.HIGHLIGHT_FG, theme.HIGHLIGHT_BG)
    assert find_text(frame, band, ref, theme.HIGHLIGHT_FG) is not None


def test_calls_and_recalls_are_announced_but_a_resync_is_not(cfg: BranchConfig, tmp_path: Path) -> None:
    """A restarted display must not shout the numbers already on screen; live calls are said."""
    from test_display_voice import tone_dir

    from display.clips import ClipSet
    from display.voice import Announcer, RecordingPlayer

    surf = screen(LAYOUTS["landscape-720"])
    voice = Announcer(ClipSet(tone_dir(tmp_path, seconds=0.01)), RecordingPlayer(), repeat=1)
    inbox: queue.Queue[object] = queue.Queue()
    inbox.put(m.HallView(calling=[m.CallView(number="A001", counter=1, at=T0)]))
    inbox.put(called("B002", 3))
    inbox.put(m.TicketRecalled(at=T0, number="B002", counter=3, recalls=1))
    stop = threading.Event()

    def on_frame(f: Frame) -> None:
        if any(isinstance(x, m.TicketRecalled) for x in f.messages):
            stop.set()

    try:
        run_display(cfg, inbox, screen=surf, clock=lambda: T0, stop=stop, voice=voice,
                    on_frame=on_frame)
        assert voice.wait_idle(10)
    finally:
        voice.close()
    heard = [(h.number, h.recall) for h in voice.history]
    assert ("A001", 0) not in heard
    assert heard[-1] == ("B002", 1), "the recall is announced again"


def test_silent_mode_opens_no_audio_device(cfg: BranchConfig) -> None:
    import msgspec

    from display.app import open_voice

    quiet = msgspec.structs.replace(cfg, voice=msgspec.structs.replace(cfg.voice, enabled=False))
    pygame.mixer.quit()
    assert open_voice(quiet) is None
    assert pygame.mixer.get_init() is None


def test_a_call_the_screen_missed_is_said_when_the_retained_view_brings_it(cfg: BranchConfig,
                                                                           tmp_path: Path) -> None:
    """After a broker kill the event is gone; the HallView still lists the call: say it, once."""
    from test_display_voice import tone_dir

    from display.clips import ClipSet
    from display.hall import BusLink
    from display.voice import Announcer, RecordingPlayer

    surf = screen(LAYOUTS["landscape-720"])
    voice = Announcer(ClipSet(tone_dir(tmp_path, seconds=0.01)), RecordingPlayer(), repeat=1)
    inbox: queue.Queue[object] = queue.Queue()
    old = m.CallView(number="A001", counter=1, at=T0)
    inbox.put(m.HallView(day="2027-01-15", calling=[old], recent=[old]))
    inbox.put(BusLink(online=False))
    missed = m.CallView(number="C007", counter=4, at=T0 + 60)
    back = m.HallView(day="2027-01-15", calling=[missed, old], recent=[missed, old])
    inbox.put(back)
    inbox.put(back)  # retained, then republished by the core: still once
    stop = threading.Event()
    seen = [0]

    def on_frame(f: Frame) -> None:
        seen[0] += sum(1 for x in f.messages if isinstance(x, m.HallView))
        if seen[0] >= 3:
            stop.set()

    try:
        run_display(cfg, inbox, screen=surf, clock=lambda: T0 + 61, stop=stop, voice=voice,
                    on_frame=on_frame)
        assert voice.wait_idle(10)
    finally:
        voice.close()
    assert [(h.number, h.counter) for h in voice.history] == [("C007", 4)]
