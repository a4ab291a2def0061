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
from qbus.linebreak import break_lines
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
        self.floor = layout.text_min  # no text smaller (the configured viewing distance)
        self.elements: list[tuple[str, Rect]] = []
        # what each text drawn says, at which size (tests check readability by the pixels)
        self.texts: list[tuple[str, str, Rect, int]] = []
        self._said: dict[int, tuple[str, int]] = {}
        self.base = Surface(self.rect.size)
        self.base.fill(self.bg)
        self._static(self.base)
        self.static_elements, self.elements = self.elements, []
        self.static_texts, self.texts = self.texts, []
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
        self.texts = list(self.static_texts)
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
        said = self._said.get(id(text))
        if said is not None:
            self.texts.append((what, said[0], placed, said[1]))

    def text(self, text: str, px: float, max_w: int, fg: Color, bg: Color) -> Surface:
        """Text whose line is at most `px` tall and `max_w` wide, but never under the readable floor
        (a text that cannot fit at the floor stays at the floor: the layout must make room)."""
        size = max(self.floor, self.fonts.fit(text, max(self.floor, _size(px)), max(1, max_w)))
        return self.sized(text, size, fg, bg)

    def sized(self, text: str, size: int, fg: Color, bg: Color) -> Surface:
        surf = self.fonts.text(text, max(self.floor, size), fg, bg)
        self._said[id(surf)] = (text, max(self.floor, size))
        return surf

    def title(self, base: Surface, caption: tuple[str, str], h: int) -> None:
        """Caption bar: Chinese, then English, both readable from the seats, on the panel's top edge."""
        zh, en = caption
        s_zh = self.text(zh, h * 0.86, base.get_width() // 2, t.TEXT, self.bg)
        self.put(base, s_zh, self.m, (h - s_zh.get_height()) // 2, "title")
        x = self.m * 2 + s_zh.get_width()
        s_en = self.text(en, h * 0.7, base.get_width() - x - self.m, t.TEXT, self.bg)
        self.put(base, s_en, x, (h - s_en.get_height()) // 2, "title")
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

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout) -> None:
        if layout.portrait:  # at the foot of the screen, beside the paused counters
            self.bg = t.PANEL_BG
        super().__init__(rect, fonts, layout)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.online

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        if state.online:
            return
        w, h = sub.get_size()
        label = self.text(t.OFFLINE, h * 0.34, w - 4 * self.m, t.TEXT, t.OFFLINE_BG)
        badge = Rect(0, 0, min(w, label.get_width() + 2 * self.m), min(h, label.get_height() + self.m))
        badge.center = (w // 2, h // 2)
        pygame.draw.rect(sub, t.OFFLINE_BG, badge, border_radius=self.m)
        self.put(sub, label, badge.x + (badge.w - label.get_width()) // 2, badge.y + (badge.h - label.get_height()) // 2,
                 "offline")


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
        # the full date where it fits at a readable size, else without the year
        for date in (f"{d:%Y-%m-%d} {t.WEEKDAYS_ZH[wd]} {t.WEEKDAYS_EN[wd]}",
                     f"{d:%m-%d} {t.WEEKDAYS_ZH[wd]} {t.WEEKDAYS_EN[wd]}"):
            if self.fonts.width(date, max(self.floor, 1)) <= w - 2 * self.m:
                break
        date_s = self.text(date, h * 0.3, w - 2 * self.m, t.MUTED, self.bg)
        top = (h - time_s.get_height() - date_s.get_height()) // 2
        self.put(sub, time_s, w - self.m - time_s.get_width(), top, "clock")
        self.put(sub, date_s, w - self.m - date_s.get_width(), top + time_s.get_height(), "date")


class CallingPanel(Panel):
    """The numbers being called and their counters, large. The newest blinks amber for a while and
    then keeps an amber frame, so it stays the one to look at; with nobody called the panel says
    so and what to do, instead of standing empty."""

    name = "calling"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.rows = layout.calling_rows
        self.names = counter_names(cfg)
        self.floor = layout.text_min
        self.title_h = self.title_h_for(rect.height * (0.12 if not layout.portrait else 0.1), layout)
        super().__init__(rect, fonts, layout)
        gap = self.m
        avail = self.rect.height - self.title_h - gap
        row_h = avail // self.rows - gap
        self.row_rects = [Rect(self.m, self.title_h + gap + i * (row_h + gap),
                               self.rect.width - 2 * self.m, row_h) for i in range(self.rows)]

    @staticmethod
    def title_h_for(fraction_h: float, layout: Layout) -> int:
        return max(int(fraction_h), int(layout.text_min * LINE_H) + layout.margin // 2 + 2)

    def _static(self, base: Surface) -> None:
        self.title(base, t.CALLING, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        h = state.highlighted(now)
        phase = None if h is None else int((now - h.since) / (t.BLINK_PERIOD_S / 2)) % 2 == 0
        return (state.rev["calling"], h, phase, state.rev["waiting"] if not state.calling else 0)

    def partial(self, sub: Surface, state: HallState, now: float, previous: Hashable,
                k: Hashable) -> list[Rect] | None:
        """Only the blink phase moved: redraw just the highlighted row."""
        if not (isinstance(previous, tuple) and isinstance(k, tuple)):
            return None
        if previous[:2] != k[:2] or previous[3:] != k[3:] or k[1] is None:
            return None
        i = self._highlight_row(state, now)
        if i is None:
            return None
        self.elements = [e for e in self.elements if e[0] != f"row{i}"]
        self.texts = [e for e in self.texts if e[0] != f"row{i}"]
        self._row(sub, i, state.calling[i], on=bool(k[2]), newest=i == 0)
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
        if not state.calling:
            self._idle(sub, state)
            return
        lit = self._highlight_row(state, now)
        on = bool(isinstance(self.last, tuple) and self.last[2])
        for i, call in enumerate(state.calling[: self.rows]):
            self._row(sub, i, call, on=(i == lit and on), newest=i == 0)

    def _idle(self, sub: Surface, state: HallState) -> None:
        """Nobody is being called: say so, and how many wait, rather than an empty panel."""
        w = self.rect.width - 4 * self.m
        waiting = sum(state.waiting.values())
        lines = [(t.IDLE[0], t.TEXT, 1.6), (t.IDLE[1], t.TEXT, 1.0)]
        if waiting:
            lines += [(f"{t.IDLE_WAITING[0].format(n=waiting)}", t.NUMBER, 1.2),
                      (t.IDLE_WAITING[1].format(n=waiting), t.NUMBER, 1.0)]
        surfs: list[tuple[str, Surface]] = []
        for text, fg, scale in lines:
            size = max(self.floor, int(self.floor * scale))
            def width(x: str, sz: int = size) -> int:
                return self.fonts.width(x, sz)

            for line in break_lines(text, w, width):
                surfs.append((line, self.sized(line, self.fonts.fit(line, size, w), fg, self.bg)))
        body = self.rect.height - self.title_h
        y = self.title_h + (body - sum(x.get_height() for _, x in surfs)) // 2
        for _line, surf in surfs:
            self.put(sub, surf, (self.rect.width - surf.get_width()) // 2, y, "idle")
            y += surf.get_height()

    def sizes(self, i: int, call: CallView) -> tuple[int, int, int]:
        """Font sizes of the number, the counter's Chinese and English names in row `i`."""
        r = self.row_rects[i]
        split = int(r.width * 0.45)
        right_w = r.width - split - 2 * self.m
        zh, en = counter_name(self.names, call.counter)
        f = self.fonts
        en_size = max(self.floor, f.fit(en, _size(r.height * 0.36), right_w))
        zh_size = max(self.floor, f.fit(zh, _size(min(r.height * 0.55, r.height - en_size * LINE_H)), right_w))
        return (f.fit(call.number, _size(r.height * 0.95), split - 2 * self.m), zh_size, en_size)

    def _row(self, sub: Surface, i: int, call: CallView, *, on: bool, newest: bool = False) -> None:
        r = self.row_rects[i]
        bg = t.HIGHLIGHT_BG if on else t.ROW_BG
        num_fg = t.HIGHLIGHT_FG if on else t.NUMBER
        cnt_fg = t.HIGHLIGHT_FG if on else t.COUNTER
        en_fg = t.HIGHLIGHT_FG if on else t.TEXT
        pygame.draw.rect(sub, bg, r)
        tag = f"row{i}"
        n_size, zh_size, en_size = self.sizes(i, call)
        zh, en = counter_name(self.names, call.counter)
        num = self.sized(call.number, n_size, num_fg, bg)
        self.put(sub, num, r.x + 2 * self.m, r.centery - num.get_height() // 2, tag)
        if call.booked:  # an appointment ticket: a small 预约 mark under the number's right end
            mark = self.sized("预约", en_size, bg, cnt_fg)
            self.put(sub, mark, r.x + int(r.width * 0.45) - mark.get_width() - self.m // 2,
                     r.bottom - mark.get_height() - self.m // 4, tag)
        s_zh = self.sized(zh, zh_size, cnt_fg, bg)
        s_en = self.sized(en, en_size, en_fg, bg)
        top = r.centery - (s_zh.get_height() + s_en.get_height()) // 2
        x = r.x + int(r.width * 0.45)
        self.put(sub, s_zh, x, top, tag)
        self.put(sub, s_en, x, top + s_zh.get_height(), tag)
        if newest and not on:  # the newest call keeps an amber frame after it stops blinking
            pygame.draw.rect(sub, t.HIGHLIGHT_BG, r, max(3, self.m // 2))


class RecentPanel(Panel):
    """Earlier calls (recalls folded), not those on "Now calling": number, then the counter's
    Chinese and English names, so a customer who looked away finds where to go."""

    name = "recent"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.names = counter_names(cfg)
        self.calling_rows = layout.calling_rows  # what "Now calling" shows is not repeated here
        self.cols = layout.recent_cols
        self.floor = layout.text_min
        self.title_h = CallingPanel.title_h_for(rect.height * (0.1 if not layout.portrait else 0.16), layout)
        super().__init__(rect, fonts, layout)
        cell_min = int(2 * self.floor * LINE_H) + self.m  # two readable lines
        rows = max(1, (self.rect.height - self.title_h - self.m) // max(1, cell_min))
        rows = min(rows, max(1, -(-cfg.display.recent_calls // self.cols)))
        self.count = min(cfg.display.recent_calls, rows * self.cols)
        col_w = (self.rect.width - self.m) // self.cols
        row_h = (self.rect.height - self.title_h - self.m) // rows
        self.cells = [Rect(self.m + c * col_w, self.title_h + self.m // 2 + r * row_h,
                           col_w - self.m, row_h)
                      for r in range(rows) for c in range(self.cols)][: self.count]

    def _static(self, base: Surface) -> None:
        self.title(base, t.RECENT, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return (state.rev["recent"], state.rev["calling"])

    def shown(self, state: HallState) -> list[CallView]:
        """The recent calls this panel shows: none that "Now calling" already shows."""
        calling = {(c.number, c.counter) for c in state.calling[: self.calling_rows]}
        return [c for c in state.recent if (c.number, c.counter) not in calling][: len(self.cells)]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        shown = self.shown(state)
        if not shown and self.cells:  # nothing earlier yet: say so rather than an empty panel
            cell = self.cells[0]
            for i, text in enumerate(t.NO_RECENT):
                surf = self.text(text, cell.height * 0.45, cell.width, t.MUTED, self.bg)
                self.put(sub, surf, cell.x, cell.y + i * surf.get_height(), "recent-none")
            return
        for cell, call in zip(self.cells, shown, strict=False):
            split = int(cell.width * 0.36)
            num = self.text(call.number, cell.height * 0.7, split - self.m, t.NUMBER, self.bg)
            self.put(sub, num, cell.x, cell.centery - num.get_height() // 2, "recent")
            zh, en = counter_name(self.names, call.counter)
            w = cell.width - split
            s_zh = self.text(zh, cell.height * 0.5, w, t.COUNTER, self.bg)
            s_en = self.text(en, cell.height * 0.42, w, t.TEXT, self.bg)
            top = cell.centery - (s_zh.get_height() + s_en.get_height()) // 2
            self.put(sub, s_zh, cell.x + split, top, "recent")
            self.put(sub, s_en, cell.x + split, top + s_zh.get_height(), "recent")


class WaitingPanel(Panel):
    """People waiting and the estimated wait per business type, one row each in config order:
    Chinese and English names, the count, the wait in Chinese and English."""

    name = "waiting"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.business = [(b.code, b.name_zh, b.name_en) for b in cfg.business]
        self.floor = layout.text_min
        self.portrait = layout.portrait
        self.title_h = CallingPanel.title_h_for(rect.height * (0.16 if not layout.portrait else 0.1), layout)
        super().__init__(rect, fonts, layout)
        n = max(1, len(self.business))
        top = self.title_h + self.m // 2
        row_h = (self.rect.height - top - self.m // 2) // n
        self.cells = [Rect(self.m, top + i * row_h, self.rect.width - 2 * self.m, row_h - 2)
                      for i in range(n)]

    def _static(self, base: Surface) -> None:
        self.title(base, t.WAITING, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.rev["waiting"]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        for cell, (code, zh, en) in zip(self.cells, self.business, strict=False):
            pygame.draw.rect(sub, t.ROW_BG, cell)
            n = state.waiting.get(code, 0)
            count = f"{n}{t.PEOPLE[0]}"
            wait_zh, wait_en = wait_words(n, state.est_wait_s.get(code, 0.0))
            if self.portrait:
                self._two_lines(sub, cell, (zh, en), count, (wait_zh, wait_en))
            else:
                self._one_line(sub, cell, (zh, en), count, (wait_zh, wait_en))

    def _one_line(self, sub: Surface, cell: Rect, names: tuple[str, str], count: str,
                  wait: tuple[str, str]) -> None:
        """Landscape: name zh | name en | count | wait zh | wait en, in columns."""
        px = cell.height * 0.92
        cols = (0.0, 0.2, 0.56, 0.67, 0.83, 1.0)
        texts = [(names[0], t.TEXT), (names[1], t.TEXT), (count, t.NUMBER), (wait[0], t.TEXT), (wait[1], t.TEXT)]
        for i, (text, fg) in enumerate(texts):
            x0 = cell.x + self.m + int(cols[i] * (cell.width - 2 * self.m))
            x1 = cell.x + self.m + int(cols[i + 1] * (cell.width - 2 * self.m)) - self.m
            surf = self.text(text, px, x1 - x0, fg, t.ROW_BG)
            x = x1 - surf.get_width() if i == 2 else x0
            self.put(sub, surf, x, cell.centery - surf.get_height() // 2, "waiting")

    def _two_lines(self, sub: Surface, cell: Rect, names: tuple[str, str], count: str,
                   wait: tuple[str, str]) -> None:
        """Portrait: Chinese name and count over English name and wait."""
        line = cell.height / 2
        s_n = self.text(count, line * 0.95, cell.width // 4, t.NUMBER, t.ROW_BG)
        s_wz = self.text(wait[0], line * 0.9, cell.width // 4, t.TEXT, t.ROW_BG)
        s_we = self.text(wait[1], line * 0.9, cell.width // 3, t.TEXT, t.ROW_BG)
        right = cell.right - self.m
        name_w = cell.width - 3 * self.m - max(s_n.get_width() + s_wz.get_width() + self.m, s_we.get_width())
        s_zh = self.text(names[0], line * 0.95, name_w, t.TEXT, t.ROW_BG)
        s_en = self.text(names[1], line * 0.9, name_w, t.TEXT, t.ROW_BG)
        y0 = cell.y + max(0, (cell.height - s_zh.get_height() - s_en.get_height()) // 2)
        y1 = y0 + s_zh.get_height()
        self.put(sub, s_zh, cell.x + self.m, y0, "waiting")
        self.put(sub, s_en, cell.x + self.m, y1, "waiting")
        self.put(sub, s_wz, right - s_wz.get_width(), y0, "waiting")
        self.put(sub, s_n, right - s_wz.get_width() - self.m - s_n.get_width(), y0, "waiting")
        self.put(sub, s_we, right - s_we.get_width(), y1, "waiting")


def wait_words(waiting: int, est_wait_s: float) -> tuple[str, str]:
    """The estimated wait for a business, as the hall says it (zh, en)."""
    if waiting <= 0:
        return "无需等候", "no wait"
    minutes = max(1, round(est_wait_s / 60)) if est_wait_s > 0 else 0
    if not minutes:
        return "", ""
    return f"约 {minutes} 分钟", f"~{minutes} min"


class PausedPanel(Panel):
    """Counters paused (暂停服务), by name, one per line; "无 none" when every open counter serves."""

    name = "paused"

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        self.names = counter_names(cfg)
        self.floor = layout.text_min
        self.inline = layout.portrait  # portrait: one line, caption then names
        self.title_h = CallingPanel.title_h_for(rect.height * 0.2, layout) if not self.inline else 0
        super().__init__(rect, fonts, layout)

    def _static(self, base: Surface) -> None:
        if not self.inline:
            self.title(base, t.PAUSED_TITLE, self.title_h)

    def key(self, state: HallState, now: float) -> Hashable:
        return state.rev["paused"]

    def draw(self, sub: Surface, state: HallState, now: float) -> None:
        w, h = sub.get_size()
        names = [counter_name(self.names, c) for c in state.paused]
        if self.inline:
            self._inline(sub, names)
            return
        lines = [(zh, t.PAUSED) for zh, _ in names] or [(t.NONE_PAUSED[0], t.TEXT)]
        en_lines = [(en, t.TEXT) for _, en in names] or [(t.NONE_PAUSED[1], t.TEXT)]
        pairs = list(zip(lines, en_lines, strict=True))
        body = h - self.title_h
        pair_h = int(2 * self.floor * LINE_H)
        fit_n = max(1, body // max(1, pair_h))
        if len(pairs) > fit_n:  # more paused counters than lines: the Chinese names, comma-joined
            pairs = [((" ".join(zh for zh, _ in names), t.PAUSED), (f"{len(names)} counters", t.TEXT))]
        y = self.title_h + (body - pair_h * len(pairs)) // 2
        for (zh, fg), (en, en_fg) in pairs:
            s_zh = self.text(zh, pair_h / 2, w - 2 * self.m, fg, self.bg)
            s_en = self.text(en, pair_h / 2, w - 2 * self.m, en_fg, self.bg)
            self.put(sub, s_zh, self.m, y, "paused")
            self.put(sub, s_en, self.m, y + s_zh.get_height(), "paused")
            y += s_zh.get_height() + s_en.get_height()

    def _inline(self, sub: Surface, names: list[tuple[str, str]]) -> None:
        w, h = sub.get_size()
        zh = " ".join(n for n, _ in names) if names else t.NONE_PAUSED[0]
        en = ", ".join(n for _, n in names) if names else t.NONE_PAUSED[1]
        # the names where they fit on the line, else how many (never text too small to read)
        options = [(zh, en), (zh, f"{len(names)} counters"), (f"{len(names)}个窗口", f"{len(names)} counters")]
        size = max(self.floor, 1)
        for option in options if names else [(zh, en)]:
            zh, en = option
            parts = [t.PAUSED_TITLE[0], t.PAUSED_TITLE[1], zh, en]
            if sum(self.fonts.width(x, size) for x in parts) + 5 * self.m <= w:
                break
        x = self.m
        for text, fg in ((t.PAUSED_TITLE[0], t.TEXT), (t.PAUSED_TITLE[1], t.TEXT), (zh, t.PAUSED if names else t.TEXT),
                         (en, t.TEXT)):
            surf = self.sized(text, size, fg, self.bg)
            self.put(sub, surf, x, (h - surf.get_height()) // 2, "paused")
            x += surf.get_width() + self.m


class TickerPanel(Panel):
    """The notice line, scrolling right to left at a speed relative to the screen width."""

    name = "ticker"
    bg = t.TICKER_BG

    def __init__(self, rect: Rect, fonts: FontBook, layout: Layout, cfg: BranchConfig) -> None:
        b = cfg.branch
        self.fallback = f"{b.bank_zh}{b.name_zh}欢迎您   Welcome to {b.bank_en} {b.name_en}".strip()
        self.speed = t.TICKER_SPEED * layout.size[0]
        self._line: tuple[str, Surface] | None = None
        self._line_size = 0
        super().__init__(rect, fonts, layout)

    def _surface(self, state: HallState) -> Surface:
        zh, en = state.notice
        line = "      ".join(x for x in (zh, en) if x) or self.fallback
        if self._line is None or self._line[0] != line:
            size = max(self.floor, _size(self.rect.height * 0.72))
            self._line = (line, self.sized(line, size, t.TEXT, self.bg))
            self._line_size = size
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
        if self._line is not None:
            self.texts.append(("notice", self._line[0], visible.move(self.rect.topleft), self._line_size))
