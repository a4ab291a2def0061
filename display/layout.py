"""Where each region of the hall screen goes, computed from the screen size.

Every rectangle and font size is a fraction of the screen, so one description serves 1920×1080,
1280×720 and any other landscape panel, and one more serves portrait screens. Regions tile the
screen without overlapping; each region's renderer keeps its text inside its own rectangle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pygame import Rect

from display.errors import DisplayError

#: Config names (DisplaySection.layout) and the window size they stand for.
LAYOUTS: dict[str, tuple[int, int]] = {
    "landscape-1080": (1920, 1080),
    "landscape-720": (1280, 720),
    "portrait-1080": (1080, 1920),
}


@dataclass(frozen=True)
class Layout:
    """Rectangles of every region, and how many call rows fit."""

    size: tuple[int, int]
    portrait: bool
    name: Rect
    status: Rect
    clock: Rect
    calling: Rect
    recent: Rect
    waiting: Rect
    paused: Rect
    ticker: Rect
    calling_rows: int
    recent_cols: int
    margin: int
    text_min: int = 0  # the smallest font size allowed (min_text_px for the configured viewing distance)

    @property
    def regions(self) -> dict[str, Rect]:
        return {"name": self.name, "status": self.status, "clock": self.clock,
                "calling": self.calling, "recent": self.recent, "waiting": self.waiting,
                "paused": self.paused, "ticker": self.ticker}


def size_of(layout: str) -> tuple[int, int]:
    """The window size a config layout name stands for."""
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise DisplayError(f"display.layout: unknown layout {layout!r}; use one of "
                           f"{', '.join(LAYOUTS)}", zh="显示布局配置错误") from None


def compute(width: int, height: int) -> Layout:
    """The layout for a screen of this size (portrait when taller than wide)."""
    if min(width, height) < 240:
        raise DisplayError(f"screen {width}x{height} is too small for the hall display")
    return _portrait(width, height) if height > width else _landscape(width, height)


def _cut(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> Rect:
    """A rect from fractions of the screen; neighbours computed from the same fraction touch exactly."""
    left, top = round(x0 * w), round(y0 * h)
    return Rect(left, top, round(x1 * w) - left, round(y1 * h) - top)


def _landscape(w: int, h: int) -> Layout:
    """Calls (3 rows) and recent calls side by side; the waiting table (one line per business,
    Chinese and English names, count and estimated wait) full width below, paused counters beside
    it. Sized so that every text is at least 40 px (1/27 of the height) on 1080 lines: 25 mm on a
    55-inch screen, readable from 5 m."""
    return Layout(
        size=(w, h), portrait=False,
        name=_cut(0, 0, 0.56, 0.12, w, h),
        status=_cut(0.56, 0, 0.70, 0.12, w, h),
        clock=_cut(0.70, 0, 1, 0.12, w, h),
        calling=_cut(0, 0.12, 0.6, 0.615, w, h),
        recent=_cut(0.6, 0.12, 1, 0.615, w, h),
        waiting=_cut(0, 0.615, 0.8, 0.92, w, h),
        paused=_cut(0.8, 0.615, 1, 0.92, w, h),
        ticker=_cut(0, 0.92, 1, 1, w, h),
        calling_rows=3, recent_cols=1, margin=max(4, round(h * 0.012)),
    )


def _portrait(w: int, h: int) -> Layout:
    return Layout(
        size=(w, h), portrait=True,
        name=_cut(0, 0, 0.66, 0.075, w, h),
        clock=_cut(0.66, 0, 1, 0.075, w, h),
        calling=_cut(0, 0.075, 1, 0.42, w, h),
        recent=_cut(0, 0.42, 1, 0.58, w, h),
        waiting=_cut(0, 0.58, 1, 0.885, w, h),
        paused=_cut(0, 0.885, 0.7, 0.945, w, h),
        status=_cut(0.7, 0.885, 1, 0.945, w, h),  # the offline badge, where there is room for it
        ticker=_cut(0, 0.945, 1, 1, w, h),
        calling_rows=4, recent_cols=3, margin=max(4, round(w * 0.012)),
    )


def min_text_px(size: tuple[int, int], viewing_distance_m: float, diagonal_in: float) -> int:
    """The smallest font size (em, px) readable from `viewing_distance_m` on this screen.

    Rule: a Han character at least distance / 200 tall (5 m -> 25 mm), the legibility rule of thumb
    for signs read at a glance (about 17 minutes of arc). Pixels per millimetre come from the
    diagonal: a 55-inch 1920x1080 panel is 685 mm tall, 0.63 mm a pixel, so 25 mm is 40 px."""
    w, h = size
    mm_per_px = diagonal_in * 25.4 / math.hypot(w, h)
    return math.ceil(viewing_distance_m * 1000.0 / 200.0 / mm_per_px)
