"""The hall screen: all panels over one target surface, redrawn region by region.

`draw()` returns the rectangles that changed, which is what `pygame.display.update(rects)` needs;
on a quiet frame that is only the ticker line (and the clock once a second), so a frame costs a
fraction of a full 1920×1080 redraw.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pygame import Rect, Surface

from display import panels as p
from display.fonts import FontBook
from display.hall import HallState
from display.layout import Layout, compute, min_text_px
from qbus.config import BranchConfig

_LOG = logging.getLogger(__name__)


def branch_tz(name: str) -> tzinfo:
    """The branch's time zone; UTC with a warning if the system has no tz database entry."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _LOG.warning("time zone %r not found (install tzdata); the clock shows UTC", name)
        return UTC


class HallScreen:
    """Draws a HallState onto `target` (the display surface, or any surface in tests)."""

    def __init__(self, cfg: BranchConfig, target: Surface, fonts: FontBook | None = None) -> None:
        self.target = target
        size = target.get_size()
        d = cfg.display
        self.layout: Layout = replace(compute(*size),
                                      text_min=min_text_px(size, d.viewing_distance_m, d.diagonal_in))
        self.fonts = fonts or FontBook(cfg.display.font, cfg.display.font_index)
        lay, f = self.layout, self.fonts
        self.panels: list[p.Panel] = [
            p.NamePanel(lay.name, f, lay, cfg),
            p.StatusPanel(lay.status, f, lay),
            p.ClockPanel(lay.clock, f, lay, branch_tz(cfg.branch.timezone)),
            p.CallingPanel(lay.calling, f, lay, cfg),
            p.RecentPanel(lay.recent, f, lay, cfg),
            p.WaitingPanel(lay.waiting, f, lay, cfg),
            p.PausedPanel(lay.paused, f, lay, cfg),
            p.TickerPanel(lay.ticker, f, lay, cfg),
        ]
        self._drawn = False

    def draw(self, state: HallState, now: float, *, full: bool = False) -> list[Rect]:
        """Bring the target up to date; the changed rects (the whole screen on the first frame)."""
        full = full or not self._drawn
        dirty: list[Rect] = []
        for panel in self.panels:
            dirty += panel.update(self.target, state, now, full)
        self._drawn = True
        return [self.target.get_rect()] if full else dirty

    @property
    def elements(self) -> list[tuple[str, Rect]]:
        """Every text on screen now, as (what, screen rect), for layout checks."""
        return [(f"{panel.name}:{what}", r) for panel in self.panels for what, r in panel.elements]

    def panel(self, name: str) -> p.Panel:
        return next(x for x in self.panels if x.name == name)
