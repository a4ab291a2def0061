"""The hall display in the demo: the real display/ code on the demo's bus, window or PNG.

On a desktop (`$DISPLAY` or `$WAYLAND_DISPLAY` set, or an `SDL_VIDEODRIVER` chosen) the hall
screen opens in a window; elsewhere (a server, CI, SSH) it renders off-screen and writes a PNG
of the screen every few seconds into the demo's folder, so the picture can still be looked at.
The voice speaks when an audio device opens, otherwise the demo runs silent and says so once.
It runs on its own thread next to the demo's simulated devices; `stop()` ends it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from qbus.config import BranchConfig
from qbus.errors import QcallError
from qcall.display import Snapshots

if TYPE_CHECKING:
    import pygame

    from display.voice import Announcer

_LOG = logging.getLogger(__name__)


def has_screen(env: Mapping[str, str]) -> bool:
    """A window can open: a desktop session, or an SDL video driver picked by the user."""
    driver = env.get("SDL_VIDEODRIVER", "")
    if driver:
        return driver != "dummy"
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def has_audio(env: Mapping[str, str], dev_snd: Path = Path("/dev/snd")) -> bool:
    """An audio output is likely: an SDL audio driver chosen, a PulseAudio/PipeWire server, or an
    ALSA playback device. Asked first so a box without sound stays quiet instead of ALSA
    printing its failure to open a card."""
    if env.get("SDL_AUDIODRIVER") or env.get("PULSE_SERVER"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and (Path(runtime) / "pulse" / "native").exists():
        return True
    return dev_snd.is_dir() and any(dev_snd.glob("pcmC*D*p"))


class DemoDisplay:
    """The hall display (and voice) of the demo branch; `start()`, then `stop()` (safe twice)."""

    def __init__(self, cfg: BranchConfig, host: str, port: int, out_dir: str | Path, *,
                 out: Callable[[str], None] = print, snapshot_every_s: float = 3.0,
                 env: Mapping[str, str] | None = None, voice: bool = True) -> None:
        self.cfg = cfg
        self.host, self.port = host, port
        self.out = out
        env = os.environ if env is None else env
        self.headless = not has_screen(env)
        self.audio = has_audio(env)
        self.snapshots = Snapshots(out_dir, snapshot_every_s) if self.headless else None
        self.voice = voice
        self.error: QcallError | None = None
        self.ready = threading.Event()  # the screen is open (or opening it failed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DemoDisplay:
        self._thread = threading.Thread(target=self._run, name="hall-display", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        from display.app import main

        snaps = self.snapshots
        if snaps is not None:
            self.out(f"hall display: no screen here, a PNG of it every {snaps.every_s:g} s at {snaps.path}")
        else:
            self.out("hall display: in a window (Escape closes it)")
        try:
            main(self.cfg, host=self.host, port=self.port, headless=self.headless,
                 voice=self._open_voice(), stop=self._stop, on_screen=self._opened,
                 on_frame=snaps.on_frame if snaps else None)
        except QcallError as err:  # the rest of the demo goes on without the hall screen
            self.error = err
            self.out(f"hall display stopped: {err}")
        finally:
            self.ready.set()

    def _opened(self, surface: pygame.Surface) -> None:
        if self.snapshots is not None:
            self.snapshots.attach(surface)
        self.ready.set()

    def _open_voice(self) -> Announcer | bool:
        """The announcer, or False (silent) when voice is off in config or there is no audio."""
        from display.errors import VoiceError
        from display.voice import open_announcer

        if not (self.voice and self.cfg.voice.enabled):
            return False
        if not self.audio:
            self.out("hall display: voice calling off (no audio device)")
            return False
        try:
            ann = open_announcer(self.cfg.voice)
        except VoiceError as err:
            self.out(f"hall display: voice calling off ({err})")
            return False
        self.out("hall display: voice calling on")
        return ann if ann is not None else False
