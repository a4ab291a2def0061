"""A portrait hall on a TV turned on its side: the screen reports 1920×1080, the hall is drawn
upright and turned; only changed parts are turned each frame, and the result is exact."""

from __future__ import annotations

import queue
import threading

import msgspec
import pygame
import pytest

from display.app import Frame, run_display
from display.rotate import rotation_for
from display.screen import HallScreen
from qbus import messages as m
from tests.display_helpers import T0, branch, screen


def _rgb(s: pygame.Surface) -> bytes:
    return bytes(pygame.image.tobytes(s, "RGB"))


@pytest.mark.parametrize("degrees", [90, 270])
def test_portrait_layout_on_a_landscape_screen_is_turned_exactly(degrees: int) -> None:
    cfg = branch()
    cfg = msgspec.structs.replace(cfg, display=msgspec.structs.replace(
        cfg.display, layout="portrait-1080", rotate=degrees))
    surf = screen((1920, 1080))  # what the TV reports
    rotation = rotation_for(surf, portrait=True, degrees=cfg.display.rotate)
    assert rotation is not None and rotation.canvas.get_size() == (1080, 1920)
    inbox: queue.Queue[object] = queue.Queue()
    for msg in (m.TicketCalled(at=T0, number="A001", counter=1, business="cash", tier="normal",
                               waited_s=1), m.QueueState(waiting={"cash": 9})):
        inbox.put(msg)
    stop = threading.Event()
    frames: list[Frame] = []

    def on_frame(f: Frame) -> None:
        frames.append(f)
        if len(frames) == 40:
            stop.set()

    clock = iter(T0 + k / 20 for k in range(1000))
    state = run_display(cfg, inbox, screen=surf, clock=lambda: next(clock), stop=stop,
                        rotation=rotation, on_frame=on_frame)
    assert HallScreen(cfg, rotation.canvas).layout.portrait
    upright = pygame.Surface((1080, 1920))
    HallScreen(cfg, upright).draw(state, frames[-1].now)
    assert _rgb(surf) == _rgb(pygame.transform.rotate(upright, degrees))
    quiet = [sum(r.width * r.height for r in f.dirty) for f in frames[5:]]
    assert max(quiet) < 0.5 * 1920 * 1080, "quiet frames must not turn the whole picture"


def test_no_rotation_when_the_screen_already_fits() -> None:
    assert rotation_for(pygame.Surface((1080, 1920)), portrait=True, degrees=0) is None
    assert rotation_for(pygame.Surface((1920, 1080)), portrait=False, degrees=0) is None
    turned = rotation_for(pygame.Surface((1920, 1080)), portrait=True, degrees=0)
    assert turned is not None and turned.degrees == 90
