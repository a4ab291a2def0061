"""`qcall display` and `qcall voice`: the hall display and its voice, from the command line.

The display itself lives in `display/` (which never imports qcall); this module only wires it to
arguments: headless rendering with PNG snapshots for a box with no monitor (or a check over SSH),
building the voice clips at set-up, and a speaker check that says one call without the bus.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qbus.config import BranchConfig

if TYPE_CHECKING:  # pygame is imported through display/, which hides its start-up banner
    import pygame

    from display.app import Frame

_LOG = logging.getLogger(__name__)

SNAPSHOT_NAME = "hall.png"


class Snapshots:
    """Writes the screen to `<dir>/hall.png` every `every_s` seconds (an `on_frame` hook).

    The frame is copied on the display thread (a few ms) and encoded on a helper thread, so a
    snapshot never holds up the next call on screen. The file is replaced atomically: a viewer
    polling it never sees half a PNG. At most one snapshot is in flight; a slow disk skips some.
    """

    def __init__(self, out_dir: str | Path, every_s: float = 2.0) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / SNAPSHOT_NAME
        self.every_s = every_s
        self.surface: pygame.Surface | None = None
        self.written = 0
        self.saved = threading.Event()  # set after each write (tests, the demo's first message)
        self._next = 0.0
        self._busy = threading.Lock()
        self._closed = False

    def attach(self, surface: pygame.Surface) -> None:
        """`on_screen` hook: the surface to copy from."""
        self.surface = surface

    def on_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        if self._closed or self.surface is None or now < self._next or not self._busy.acquire(blocking=False):
            return
        self._next = now + self.every_s
        copy = self.surface.copy()
        threading.Thread(target=self._write, args=(copy,), name="snapshot", daemon=True).start()

    def _write(self, copy: pygame.Surface) -> None:
        import pygame

        tmp = self.path.with_suffix(".tmp.png")
        try:
            pygame.image.save(copy, str(tmp))
            os.replace(tmp, self.path)
            self.written += 1
            self.saved.set()
        except (pygame.error, OSError) as err:
            _LOG.error("hall snapshot %s not written: %s", self.path, err)
            tmp.unlink(missing_ok=True)
        finally:
            self._busy.release()

    def close(self, timeout: float = 5.0) -> None:
        """No more snapshots; let the one being written finish (its thread is a daemon: at exit it
        would be cut off mid-file and leave a half-written `hall.tmp.png`)."""
        self._closed = True
        if self._busy.acquire(timeout=timeout):
            self._busy.release()


def run(cfg: BranchConfig, *, headless: bool = False, png_dir: str = "", png_every_s: float = 2.0,
        host: str | None = None, port: int | None = None, device: str = "display1",
        silent: bool = False, stop: threading.Event | None = None) -> None:
    """Run the hall display until its window is closed, Escape, Ctrl-C or `stop`."""
    from display.app import main

    snaps = Snapshots(png_dir, png_every_s) if png_dir else None
    try:
        main(cfg, headless=headless, host=host, port=port, device=device, voice=not silent, stop=stop,
             on_frame=snaps.on_frame if snaps else None, on_screen=snaps.attach if snaps else None)
    finally:
        if snaps is not None:
            snaps.close()


def voice_build(cfg: BranchConfig, *, force: bool = False) -> list[Path]:
    """Make the default clips into `[voice] clips_dir` (existing ones kept unless `force`)."""
    from display.app import counter_names_en
    from display.voice import build_clips

    return build_clips(cfg.voice, force=force, names_en=counter_names_en(cfg))


def voice_say(cfg: BranchConfig, number: str, counter: int, *, recall: int = 0,
              timeout_s: float = 60.0) -> bool:
    """Say one call through the speakers, as the display would (a speaker check, no bus).

    Returns False in silent mode. Missing clips are made first, like a display start.
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from display.announce import Announcement
    from display.app import counter_names_en
    from display.voice import open_announcer

    ann = open_announcer(cfg.voice, names_en=counter_names_en(cfg))
    if ann is None:
        return False
    try:
        ann.say(Announcement(number, counter, recall))
        ann.wait_idle(timeout_s)
    finally:
        ann.close()
    return True
