"""Helpers for the display tests: a real SDL surface, frames saved as PNG, and text found in a
frame by its pixels (compared with a reference rendering made straight with pygame.freetype)."""

from __future__ import annotations

import array
import os
import wave
from pathlib import Path

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame opens anything: frames go to memory
os.environ["SDL_AUDIODRIVER"] = "dummy"  # the mixer plays in real time to nowhere
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import pygame.freetype
import pytest

from qbus.config import BranchConfig, load

T0 = 1_800_000_000.0  # a fixed instant for the injected clock (2027-01-15 16:00 in Shanghai)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"


def branch() -> BranchConfig:
    return load(EXAMPLE)


def _example_words() -> list[str]:
    from display import phrase

    return sorted({w for c in branch().counter for w in phrase.name_words(c.name_en)})


EXAMPLE_WORDS = _example_words()  # "room", "vip", "wealth": said in "VIP Counter 5", "Wealth Room 6"


def screen(size: tuple[int, int]) -> pygame.Surface:
    """A real SDL window surface on the dummy driver."""
    pygame.display.init()
    return pygame.display.set_mode(size)


def saved_frame(surface: pygame.Surface, path: Path) -> pygame.Surface:
    """Write the frame as PNG and read it back: assertions look at the file, not the surface."""
    pygame.image.save(surface, str(path))
    return pygame.image.load(str(path))


def ink(surface: pygame.Surface, color: tuple[int, int, int], tol: int = 24) -> pygame.mask.Mask:
    return pygame.mask.from_threshold(surface, (*color, 255), (tol, tol, tol, 255))


def bounding_rects(mask: pygame.mask.Mask) -> list[pygame.Rect]:
    """The mask's blobs' bounding boxes (a list, one per blob)."""
    rects: list[pygame.Rect] = mask.get_bounding_rects()  # type: ignore[assignment]  # pygame 2.6's stub says Rect; it returns list[Rect]
    return rects


def reference(font: str, index: int, text: str, size: int, fg: tuple[int, int, int],
              bg: tuple[int, int, int]) -> pygame.Surface:
    """The text rendered straight with pygame.freetype, independent of the display's font code."""
    if not pygame.freetype.get_init():
        pygame.freetype.init()
    face = pygame.freetype.Font(font, size=size, font_index=index)
    surf, _ = face.render(text, fg, bg, size=size)
    return surf


def find_text(frame: pygame.Surface, area: pygame.Rect, ref: pygame.Surface,
              fg: tuple[int, int, int], max_mismatch: float = 0.03) -> pygame.Rect | None:
    """Where `ref`'s glyph pixels appear inside `area` of `frame` (None if nowhere).

    Candidate places line the reference's leftmost glyph up with each glyph-like blob in the
    area; a place matches when the frame's text-coloured pixels in that window equal the
    reference's, to within `max_mismatch` of the reference's ink.
    """
    region = frame.subsurface(area.clip(frame.get_rect()))
    fmask = ink(region, fg)
    rmask = ink(ref, fg)
    n = rmask.count()
    if n == 0:
        raise ValueError("reference has no ink")
    window = pygame.mask.Mask(ref.get_size(), fill=True)
    first = min(bounding_rects(rmask), key=lambda r: (r.x, r.y))
    for blob in bounding_rects(fmask):
        off = (blob.x - first.x, blob.y - first.y)
        both = fmask.overlap_area(rmask, off)
        extra = fmask.overlap_area(window, off) - both
        if (n - both) + extra <= max_mismatch * n:
            return pygame.Rect(area.x + off[0], area.y + off[1], *ref.get_size())
    return None


def colour_area(frame: pygame.Surface, color: tuple[int, int, int]) -> pygame.Rect | None:
    """Bounding box of the largest patch of exactly this colour (e.g. the highlight band)."""
    mask = pygame.mask.from_threshold(frame, (*color, 255), (2, 2, 2, 255))
    if mask.count() == 0:
        return None
    rects = bounding_rects(mask.connected_component())
    return rects[0] if rects else None


def shows_offline_badge(frame: pygame.Surface, header: pygame.Rect) -> bool:
    """The red badge's caption, at whatever size it was drawn, anywhere in the header."""
    from display import theme

    font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    for size in range(12, 60):
        ref = reference(font, 0, theme.OFFLINE, size, theme.TEXT, theme.OFFLINE_BG)
        if find_text(frame, header, ref, theme.TEXT) is not None:
            return True
    return False


_BUILT: list[Path] = []


def built_clips(factory: pytest.TempPathFactory) -> Path:
    """The default clips made once per test session with espeak-ng (about 2 s), shared by the
    voice and CLI tests. Tests copy the folder before changing anything in it."""
    if not _BUILT:
        from display import clips

        d = factory.mktemp("clips")
        clips.build(d, words=EXAMPLE_WORDS)  # with the words of the example counters' names
        _BUILT.append(d)
    return _BUILT[0]


def wav_samples(path: Path) -> tuple[array.array[int], int]:
    """Samples straight from the file with the stdlib, not through display.clips."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return array.array("h", w.readframes(w.getnframes())), w.getframerate()


def find_any_size(frame: pygame.Surface, area: pygame.Rect, text: str, fg: tuple[int, int, int],
                  bg: tuple[int, int, int], sizes: range | None = None) -> pygame.Rect | None:
    """Where `text` is drawn in `area` at whatever size (tried largest first, up to the area's
    height), compared glyph by glyph with a reference rendering; None if at no size."""
    font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    for size in sizes or range(min(area.height, 160), 7, -1):
        ref = reference(font, 0, text, size, fg, bg)
        if ref.get_width() > area.width or ref.get_height() > area.height + 4 or not ink(ref, fg).count():
            continue
        where = find_text(frame, area, ref, fg)
        if where is not None:
            return where
    return None
