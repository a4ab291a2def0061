"""The CJK font and a cache of rendered text.

pygame's default font has no Chinese glyphs, so the display opens a `.ttc` collection from the
distribution (fonts-wqy-microhei or fonts-noto-cjk) with pygame.freetype and a face index. A
missing font is a clear `FontError` at start-up, never squares on the hall screen.

Rendering CJK text is the expensive part of a frame, so each (text, size, colours) is rendered
once and kept while it is in use. The cache is bounded by bytes, not entries: a called number at
1080p is a ~200 kB surface and a day calls hundreds of them, so a count bound would let memory
grow by tens of MB; least recently used surfaces go first.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict

import pygame
import pygame.freetype

from display.errors import FontError

_LOG = logging.getLogger(__name__)

Color = tuple[int, int, int]
_PROBE = "请号窗口暂停服务"


def resolve(font: str) -> str:
    """A font file path from config: a path as given, or a family name looked up with fontconfig."""
    if os.path.isfile(font):
        return font
    if os.sep not in font and font:
        found = pygame.font.match_font(font)
        if found:
            return str(found)
    raise FontError(f"display.font: no font file {font!r}; install fonts-wqy-microhei or "
                    "fonts-noto-cjk, or name an installed CJK font", zh=f"找不到中文字体 {font}")


def open_font(font: str, index: int = 0) -> pygame.freetype.Font:
    """Open face `index` of the font and check it can draw Chinese."""
    path = resolve(font)
    if not pygame.freetype.get_init():
        pygame.freetype.init()
    try:
        face = pygame.freetype.Font(path, size=32, font_index=index)
    except (OSError, ValueError) as err:
        raise FontError(f"display.font: cannot open {path} face {index}: {err}",
                        zh="字体文件无法打开") from err
    missing = [ch for ch, met in zip(_PROBE, face.get_metrics(_PROBE), strict=True) if met is None]
    if missing:
        raise FontError(f"display.font: {path} face {index} ({face.name}) has no glyphs for "
                        f"{''.join(missing)}; use a CJK font", zh="字体不含中文字形")
    face.pad = True  # every line the same height, so texts of one size share a baseline
    _LOG.info("hall display font %s (%s, face %d)", face.name, path, index)
    return face


class FontBook:
    """One font face and a bounded cache of rendered, opaque text surfaces."""

    def __init__(self, font: str, index: int = 0, cache_bytes: int = 12 << 20) -> None:
        self.face = open_font(font, index)
        self.path = resolve(font)
        self.index = index
        self._cache: OrderedDict[tuple[str, int, Color, Color], pygame.Surface] = OrderedDict()
        self._fit: dict[tuple[str, int, int], int] = {}
        self._limit = cache_bytes
        self.cached_bytes = 0
        self.renders = 0

    def text(self, text: str, size: int, fg: Color, bg: Color) -> pygame.Surface:
        """The text rendered at `size` on an opaque `bg` (cached)."""
        key = (text, size, fg, bg)
        surf = self._cache.get(key)
        if surf is not None:
            self._cache.move_to_end(key)
            return surf
        surf, _ = self.face.render(text, fg, bg, size=size)
        if pygame.display.get_surface() is not None:
            surf = surf.convert()
        self.renders += 1
        self._cache[key] = surf
        self.cached_bytes += _nbytes(surf)
        while self.cached_bytes > self._limit and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self.cached_bytes -= _nbytes(old)
        return surf

    def fit(self, text: str, size: int, max_w: int) -> int:
        """The largest size up to `size` at which `text` is at most `max_w` pixels wide."""
        key = (text, size, max_w)
        got = self._fit.get(key)
        if got is not None:
            return got
        s = max(1, size)
        for _ in range(4):
            w = self.face.get_rect(text, size=s).width
            if w <= max_w or s <= 6:
                break
            s = max(6, min(s - 1, int(s * max_w / w)))
        self._fit[key] = s
        return s

    def fitted(self, text: str, size: int, max_w: int, fg: Color, bg: Color) -> pygame.Surface:
        return self.text(text, self.fit(text, size, max_w), fg, bg)

    def width(self, text: str, size: int) -> int:
        return int(self.face.get_rect(text, size=size).width)


def _nbytes(surf: pygame.Surface) -> int:
    return int(surf.get_pitch() * surf.get_height())
