"""The regions of the hall screen, each drawing itself only when what it shows has changed.

A panel owns one rectangle of the screen. `key()` sums up everything its pixels depend on; the
screen redraws a panel only when its key moves, and a panel may narrow the redraw further (the
blinking row, not the whole list). Static parts (background, captions) are rendered once into a
base surface. Every text drawn is recorded in `elements` (screen coordinates, unclipped) so a
test can check that nothing spills out of its region or overlaps its neighbour.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, tzinfo

import pygame
from pygame import Rect, Surface

from display import theme as t
from display.fonts import Color, FontBook
from display.hall import HallState
from display.layout import Layout
from qbus.config import BranchConfig
from qbus.messages import CallView

LINE_H = 1.19  # rendered line height / font size for the padded CJK face


def _size(px: float) -> int:
    """Font size whose padded line is `px` tall."""
    return max(6, int(px / LINE_H))


class Panel:
    """One region: a base surface drawn once, dynamic content drawn on top when the key moves."""

    name = "panel"
    bg: Color = t.PANEL_BG

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout) -> None:
        self.rect = Rect(rect)
        self.fonts = fonts
        self.m = layout.margin
        self.elements: list[tuple[str, Rect]] = []
        self.base = Surface(self.rect.size)
        self.base.fill(self.bg)
        self._static(self.base)
        self.static_elements, self.elements = self.elements, []
        if pygame.display.get_surface() is not None:
            self.base = self.base.convert()
        self.last: Hashable = object()

    def _static(self, base: Surface) -> None:
        """Draw what never changes (captions) onto the base surface."""

    def key(self, state: HallState, now: float) -> Hashable:
        return None

    def update(self, target: Surface, state: HallState, now: float, full: bool) -> list[Rect]:
        """Redraw if the key moved (or `full`); the screen rects that changed."""
        k = self.key(state, now)
        if not full and k == self.last:
            return []
        previous, self.last = self.last, k
        sub = target.subsurface(self.rect)
        if not full:
            part = self.partial(sub, state, now, previous, k)
            if part is not None:
                return [r.move(self.rect.topleft) for r in part]
        self.elements = list(self.static_elements)
        sub.blit(self.base, (0, 0))
        self.draw(sub, state, now)
        return [Rect(self.rect)]

    def partial(self, sub: Surface, state: HallState, now: float, previous: Hashable,
                k: Hashable) -> list[Rect] | None:
        """Redraw less than the whole panel when possible; None means redraw it all."""
        return None

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        """Draw the dynamic content over the freshly blitted base."""

    def put(self, sub: Surface, text: Surface, x: int, y: int, what: str) -> None:
        """Blit `text` at (x, y) of the panel and record where it went on the screen."""
        sub.blit(text, (x, y))
        placed = Rect(x + self.rect.x, y + self.rect.y, text.get_width(), text.get_height())
        self.elements.append((what, placed))

    def text(self, text: str, px: float, max_w: int, fg: Color, bg: Color) -> Surface:
        """Text whose line is at most `px` tall and `max_w` wide."""
        return self.fonts.fitted(text, _size(px), max(1, max_w), fg, bg)

    def title(self, base: Surface, caption: tuple[str, str], h: int) -> None:
        """Caption bar: Chinese large, English after it smaller, on the panel's top edge."""
        zh, en = caption
        s_zh = self.text(zh, h * 0.78, base.get_width() // 2, t.TEXT, self.bg)
        self.put(base, s_zh, self.m, (h - s_zh.get_height()) // 2, "title")
        x = self.m * 2 + s_zh.get_width()
        s_en = self.text(en, h * 0.5, base.get_width() - x - self.m, t.MUTED, self.bg)
        self.put(base, s_en, x, (h - s_en.get_height()) // 2 + int(h * 0.1), "title")
        pygame.draw.line(base, t.LINE, (self.m, h - 1), (base.get_width() - self.m, h - 1), 2)


def counter_names(cfg: BranchConfig) -> dict[int, tuple[str, str]]:
    return {c.id: (c.name_zh or f"{c.id}号窗口", c.name_en or f"Counter {c.id}") for c in cfg.counter}


def counter_name(names: dict[int, tuple[str, str]], counter: int) -> tuple[str, str]:
    return names.get(counter, (f"{counter}号窗口", f"Counter {counter}"))


class NamePanel(Panel):
    """The bank and branch, Chinese over English. Never changes."""

    name = "name"
    bg = t.HEADER_BG

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        b = cfg.branch
        self.zh = f"{b.bank_zh}{b.name_zh}"
        self.en = " · ".join(x for x in (b.bank_en, b.name_en) if x)
        super().__init__(rect, fonts, layout)

    def _static(self, base: Surface) -> None:
        w, h = base.get_size()
        zh = self.text(self.zh, h * 0.52, w - 2 * self.m, t.TEXT, self.bg)
        en = self.text(self.en, h * 0.3, w - 2 * self.m, t.MUTED, self.bg)
        top = (h - zh.get_height() - en.get_height()) // 2
        self.put(base, zh, self.m, top, "branch")
        self.put(base, en, self.m, top + zh.get_height(), "branch")


class StatusPanel(Panel):
    """Empty while the bus is up; a red "离线 offline" badge while it is away."""

    name = "status"
    bg = t.HEADER_BG

    def key(self, state: HallState, now: float) -> Hashable:
        return state.online

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        if state.online:
            return
        w, h = sub.get_size()
        label = self.text(t.OFFLINE, h * 0.34, w - 4 * self.m, t.TEXT, t.OFFLINE_BG)
        badge = Rect(0, 0, label.get_width() + 2 * self.m, label.get_height() + self.m)
        badge.center = (w // 2, h // 2)
        pygame.draw.rect(sub, t.OFFLINE_BG, badge, border_radius=self.m)
        self.put(sub, label, badge.x + self.m, badge.y + self.m // 2, "offline")


class ClockPanel(Panel):
    """Time (large) and date with the weekday in Chinese and English, in the branch's time zone."""

    name = "clock"
    bg = t.HEADER_BG

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, tz: tzinfo) -> None:
        self.tz = tz
        super().__init__(rect, fonts, layout)

    def key(self, state: HallState, now: float) -> Hashable:
        return int(now)

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        d = datetime.fromtimestamp(now, self.tz)
        wd = d.weekday()
        w, h = sub.get_size()
        time_s = self.text(d.strftime("%H:%M:%S"), h * 0.55, w - 2 * self.m, t.TEXT, self.bg)
        date_s = self.text(f"{d:%Y-%m-%d} {t.WEEKDAYS_ZH[wd]} {t.WEEKDAYS_EN[wd]}", h * 0.3,
                           w - 2 * self.m, t.MUTED, self.bg)
        top = (h - time_s.get_height() - date_s.get_height()) // 2
        self.put(sub, time_s, w - self.m - time_s.get_width(), top, "clock")
        self.put(sub, date_s, w - self.m - date_s.get_width(), top + time_s.get_height(), "date")


class CallingPanel(Panel):
    """The numbers being called and their counters, large; the newest blinks amber for a while."""

    name = "calling"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.rows = layout.calling_rows
        self.names = counter_names(cfg)
        self.title_h = int(rect.height * (0.12 if not layout.portrait else 0.1))
        super().__init__(rect, fonts, layout)
        gap = self.m
        avail = self.rect.height - self.title_h - gap
        row_h = avail // self.rows - gap
        self.row_rects = [Rect(self.m, self.title_h + gap + i * (row_h + gap),
                               self.rect.width - 2 * self.m, row_h) for i in range(self.rows)]

    def _static(self, base: Surface) -> None:
        self.title(base, t.CALLING, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        h = state.highlighted(now)
        phase = None if h is None else int((now - h.since) / (t.BLINK_PERIOD_S / 2)) % 2 == 0
        return (state.rev["calling"], h, phase)

    def partial(self, sub: Surface, state: HallState, now: float, previous: Hashable,
                k: Hashable) -> list[Rect] | None:
        """Only the blink phase moved: redraw just the highlighted row."""
        if not (isinstance(previous, tuple) and isinstance(k, tuple)):
            return None
        if previous[:2] != k[:2] or k[1] is None:
            return None
        i = self._highlight_row(state, now)
        if i is None:
            return None
        self.elements = [e for e in self.elements if e[0] != f"row{i}"]
        self._row(sub, i, state.calling[i], on=bool(k[2]))
        return [Rect(self.row_rects[i])]

    def _highlight_row(self, state: HallState, now: float) -> int | None:
        h = state.highlighted(now)
        if h is None:
            return None
        for i, c in enumerate(state.calling[: self.rows]):
            if c.number == h.number and c.counter == h.counter:
                return i
        return None

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        lit = self._highlight_row(state, now)
        on = bool(isinstance(self.last, tuple) and self.last[2])
        for i, call in enumerate(state.calling[: self.rows]):
            self._row(sub, i, call, on=(i == lit and on))

    def sizes(self, i: int, call: CallView) -> tuple[int, int, int]:
        """Font sizes of the number, the counter's Chinese and English names in row `i`."""
        r = self.row_rects[i]
        split = int(r.width * 0.45)
        right_w = r.width - split - 2 * self.m
        zh, en = counter_name(self.names, call.counter)
        f = self.fonts
        return (f.fit(call.number, _size(r.height * 0.95), split - 2 * self.m),
                f.fit(zh, _size(r.height * 0.5), right_w), f.fit(en, _size(r.height * 0.3), right_w))

    def _row(self, sub: Surface, i: int, call: CallView, *, on: bool) -> None:
        r = self.row_rects[i]
        bg = t.HIGHLIGHT_BG if on else t.ROW_BG
        num_fg = t.HIGHLIGHT_FG if on else t.NUMBER
        cnt_fg = t.HIGHLIGHT_FG if on else t.COUNTER
        en_fg = t.HIGHLIGHT_FG if on else t.MUTED
        pygame.draw.rect(sub, bg, r)
        tag = f"row{i}"
        n_size, zh_size, en_size = self.sizes(i, call)
        zh, en = counter_name(self.names, call.counter)
        num = self.fonts.text(call.number, n_size, num_fg, bg)
        self.put(sub, num, r.x + self.m, r.centery - num.get_height() // 2, tag)
        s_zh = self.fonts.text(zh, zh_size, cnt_fg, bg)
        s_en = self.fonts.text(en, en_size, en_fg, bg)
        top = r.centery - (s_zh.get_height() + s_en.get_height()) // 2
        x = r.x + int(r.width * 0.45)
        self.put(sub, s_zh, x, top, tag)
        self.put(sub, s_en, x, top + s_zh.get_height(), tag)


class RecentPanel(Panel):
    """The last calls (recalls folded), number and counter on one line each."""

    name = "recent"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.names = counter_names(cfg)
        self.cols = layout.recent_cols
        self.count = cfg.display.recent_calls
        self.title_h = int(rect.height * (0.1 if not layout.portrait else 0.18))
        super().__init__(rect, fonts, layout)
        rows = max(1, -(-self.count // self.cols))
        col_w = (self.rect.width - self.m) // self.cols
        row_h = (self.rect.height - self.title_h - self.m) // rows
        self.cells = [Rect(self.m + c * col_w, self.title_h + self.m // 2 + r * row_h,
                           col_w - self.m, row_h)
                      for c in range(self.cols) for r in range(rows)][: self.count]

    def _static(self, base: Surface) -> None:
        self.title(base, t.RECENT, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.rev["recent"]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        for cell, call in zip(self.cells, state.recent, strict=False):
            split = int(cell.width * 0.36)
            num = self.text(call.number, cell.height * 0.8, split - self.m, t.NUMBER, self.bg)
            self.put(sub, num, cell.x, cell.centery - num.get_height() // 2, "recent")
            zh, en = counter_name(self.names, call.counter)
            label = self.text(f"{zh} {en}", cell.height * 0.5, cell.width - split, t.TEXT, self.bg)
            self.put(sub, label, cell.x + split, cell.centery - label.get_height() // 2, "recent")


class WaitingPanel(Panel):
    """People waiting per business type, names in Chinese and English, in config order."""

    name = "waiting"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.business = [(b.code, b.name_zh, b.name_en) for b in cfg.business]
        self.title_h = int(rect.height * (0.2 if not layout.portrait else 0.13))
        self.stacked = not layout.portrait
        super().__init__(rect, fonts, layout)
        n = max(1, len(self.business))
        top = self.title_h + self.m // 2
        if layout.portrait:
            row_h = (self.rect.height - top - self.m // 2) // n
            self.cells = [Rect(self.m, top + i * row_h, self.rect.width - 2 * self.m, row_h)
                          for i in range(n)]
        else:
            col_w = (self.rect.width - self.m) // n
            h = self.rect.height - top - self.m // 2
            self.cells = [Rect(self.m + i * col_w, top, col_w - self.m, h) for i in range(n)]

    def _static(self, base: Surface) -> None:
        self.title(base, t.WAITING, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.rev["waiting"]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        for cell, (code, zh, en) in zip(self.cells, self.business, strict=False):
            pygame.draw.rect(sub, t.ROW_BG, cell)
            count = f"{state.waiting.get(code, 0)}{t.PEOPLE[0]}"
            if self.stacked:
                self._stacked(sub, cell, zh, en, count)
            else:
                self._inline(sub, cell, zh, en, count)

    def _inline(self, sub: Surface, cell: Rect, zh: str, en: str, count: str) -> None:
        """Portrait: one business per row, names left, count right."""
        s_n = self.text(count, cell.height * 0.62, cell.width // 3, t.NUMBER, t.ROW_BG)
        self.put(sub, s_n, cell.right - self.m - s_n.get_width(),
                 cell.centery - s_n.get_height() // 2, "waiting")
        name_w = cell.width - s_n.get_width() - 3 * self.m
        s_zh = self.text(zh, cell.height * 0.46, name_w, t.TEXT, t.ROW_BG)
        s_en = self.text(en, cell.height * 0.3, name_w, t.MUTED, t.ROW_BG)
        top = cell.centery - (s_zh.get_height() + s_en.get_height()) // 2
        self.put(sub, s_zh, cell.x + self.m, top, "waiting")
        self.put(sub, s_en, cell.x + self.m, top + s_zh.get_height(), "waiting")

    def _stacked(self, sub: Surface, cell: Rect, zh: str, en: str, count: str) -> None:
        """Landscape: business types side by side, each a column of name, English, count."""
        w = cell.width - 2 * self.m
        s_zh = self.text(zh, cell.height * 0.3, w, t.TEXT, t.ROW_BG)
        s_en = self.text(en, cell.height * 0.2, w, t.MUTED, t.ROW_BG)
        s_n = self.text(count, cell.height * 0.42, w, t.NUMBER, t.ROW_BG)
        top = cell.y + (cell.height - s_zh.get_height() - s_en.get_height() - s_n.get_height()) // 2
        for s in (s_zh, s_en, s_n):
            self.put(sub, s, cell.centerx - s.get_width() // 2, top, "waiting")
            top += s.get_height()


class PausedPanel(Panel):
    """Counters paused (暂停服务), by name; "无 none" when every open counter is serving."""

    name = "paused"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.names = counter_names(cfg)
        self.title_h = int(rect.height * (0.2 if not layout.portrait else 0.4))
        super().__init__(rect, fonts, layout)

    def _static(self, base: Surface) -> None:
        self.title(base, t.PAUSED_TITLE, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.rev["paused"]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        w, h = sub.get_size()
        body = h - self.title_h
        if state.paused:
            zh = " ".join(counter_name(self.names, c)[0] for c in state.paused)
            en = ", ".join(counter_name(self.names, c)[1] for c in state.paused)
            fg = t.PAUSED
        else:
            zh, en = t.NONE_PAUSED
            fg = t.MUTED
        s_zh = self.text(zh, body * 0.5, w - 2 * self.m, fg, self.bg)
        s_en = self.text(en, body * 0.32, w - 2 * self.m, t.MUTED, self.bg)
        top = self.title_h + (body - s_zh.get_height() - s_en.get_height()) // 2
        self.put(sub, s_zh, self.m, top, "paused")
        self.put(sub, s_en, self.m, top + s_zh.get_height(), "paused")


class TickerPanel(Panel):
    """The notice line, scrolling right to left at a speed relative to the screen width."""

    name = "ticker"
    bg = t.TICKER_BG

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        b = cfg.branch
        self.fallback = f"{b.bank_zh}{b.name_zh}欢迎您   Welcome to {b.bank_en} {b.name_en}".strip()
        self.speed = t.TICKER_SPEED * layout.size[0]
        self._line: tuple[str, Surface] | None = None
        super().__init__(rect, fonts, layout)

    def _surface(self, state: HallState) -> Surface:
        zh, en = state.notice
        line = "      ".join(x for x in (zh, en) if x) or self.fallback
        if self._line is None or self._line[0] != line:
            size = _size(self.rect.height * 0.72)
            self._line = (line, self.fonts.text(line, size, t.TEXT, self.bg))
        return self._line[1]

    def key(self, state: HallState, now: float) -> Hashable:
        surf = self._surface(state)
        span = self.rect.width + surf.get_width()
        return (state.rev["notice"], int(now * self.speed) % span)

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        surf = self._surface(state)
        offset = self.last[1] if isinstance(self.last, tuple) else 0
        x = self.rect.width - int(offset)
        y = (self.rect.height - surf.get_height()) // 2
        sub.blit(surf, (x, y))
        visible = Rect(x, y, surf.get_width(), surf.get_height()).clip(sub.get_rect())
        self.elements.append(("notice", visible.move(self.rect.topleft)))
