"""The kiosk touch screen (pygame): business buttons in Chinese and English, a large "swipe your card"
prompt, messages, the self-service offer, the staff PIN pad and the on-screen ticket after a print
failure. It draws a `View` from kiosk.flow and turns touches into `Action`s; it decides nothing.

Runs headless with SDL_VIDEODRIVER=dummy (tests render frames to PNG). Touch panels arrive as mouse
button events or FINGERDOWN (normalised coordinates); both are handled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pygame

from kiosk.flow import View, ViewKind
from qbus.config import BranchConfig

_LOG = logging.getLogger(__name__)

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
BG = (245, 247, 250)
BAR = (178, 34, 34)
INK = (30, 30, 30)
MUTED = (95, 99, 104)
BUTTON = (255, 255, 255)
BUTTON_EDGE = (200, 205, 212)
ACCENT = (178, 34, 34)
WARN = (196, 110, 0)
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Action:
    """What a touch means: business (value = code), anyway (value = code), priority, reprint, back,
    staff_pin (value = "id:pin")."""

    kind: str
    value: str = ""


@dataclass(frozen=True)
class _Hit:
    rect: pygame.Rect
    action: Action | None = None
    key: str = ""  # PIN pad key


class KioskScreen:
    """Draws views; `handle(event)` returns the Action for a touch, or None."""

    def __init__(self, cfg: BranchConfig, *, size: tuple[int, int] | None = None, font_path: str = FONT,
                 window: bool = True, fullscreen: bool = False) -> None:
        self.cfg = cfg
        self.size: tuple[int, int] = size or (cfg.kiosk.resolution[0], cfg.kiosk.resolution[1])
        self._font_path = font_path
        self._fonts: dict[int, pygame.font.Font] = {}
        self._hits: list[_Hit] = []
        self._pin_id = ""
        self._pin = ""
        self._pin_stage = "id"
        self._view: View | None = None
        self.waiting: dict[str, int] = {}  # people waiting per business (the core's QueueState)
        pygame.font.init()
        try:
            if window:
                pygame.display.init()
                flags = pygame.FULLSCREEN if fullscreen else 0
                self.surface = pygame.display.set_mode(self.size, flags)
                pygame.display.set_caption("取号机 Ticket kiosk")
            else:
                self.surface = pygame.Surface(self.size)
            self._font(20)
        except (pygame.error, OSError) as err:
            self.close()
            raise RuntimeError(f"kiosk screen could not start: {err}") from err
        self._window = window

    # -- drawing --------------------------------------------------------------------------------
    def draw(self, view: View) -> pygame.Surface:
        if view.kind is not ViewKind.STAFF_NEEDED:
            self._pin_id, self._pin, self._pin_stage = "", "", "id"
        self._view = view
        self._hits = []
        s = self.surface
        s.fill(BG)
        self._header()
        body = pygame.Rect(40, 130, self.size[0] - 80, self.size[1] - 170)
        kind = view.kind
        if kind in (ViewKind.HOME, ViewKind.IDENTIFIED, ViewKind.STAFF_OK):
            self._home(view, body)
        elif kind is ViewKind.SELF_SERVICE:
            self._message(view, body, buttons=[("继续取号", "Take a ticket", Action("anyway", view.business)),
                                                ("返回", "Back", Action("back"))])
        elif kind is ViewKind.STAFF_NEEDED:
            self._pinpad(view, body)
        elif kind is ViewKind.ISSUED:
            self._ticket(view, body, buttons=[])
        elif kind is ViewKind.PRINT_FAILED:
            self._ticket(view, body, buttons=[("补打", "Reprint", Action("reprint")), ("返回", "Back", Action("back"))])
        else:
            self._message(view, body, buttons=[("返回", "Back", Action("back"))])
        if self._window:
            pygame.display.flip()
        return s

    def _header(self) -> None:
        b = self.cfg.branch
        pygame.draw.rect(self.surface, BAR, (0, 0, self.size[0], 100))
        self._text(f"{b.bank_zh} {b.name_zh}", 40, WHITE, (40, 14))
        self._text(f"{b.bank_en} · {b.name_en}", 24, WHITE, (40, 64))

    def _home(self, view: View, body: pygame.Rect) -> None:
        left = pygame.Rect(body.x, body.y, body.w * 2 // 5 - 20, body.h)
        pygame.draw.rect(self.surface, BUTTON, left, border_radius=16)
        pygame.draw.rect(self.surface, BUTTON_EDGE, left, 2, border_radius=16)
        if view.kind is ViewKind.HOME:
            self._text("请刷卡", 72, ACCENT, (left.x + 30, left.y + 40))
            self._text("Swipe your card", 40, INK, (left.x + 30, left.y + 130))
            self._wrapped("也可插入存折或放置身份证；无卡客户请直接选择业务。", 26, MUTED, left.inflate(-60, 0), left.y + 200)
            self._wrapped("Or insert your passbook / place your ID card. No card? Just choose.", 22, MUTED,
                          left.inflate(-60, 0), left.y + 300)
        else:
            y = self._wrapped(view.zh, 36, ACCENT, left.inflate(-60, 0), left.y + 40)
            self._wrapped(view.en, 26, INK, left.inflate(-60, 0), y + 20)
        right = pygame.Rect(left.right + 40, body.y, body.right - left.right - 40, body.h - 110)
        businesses = self.cfg.business
        cols = 2
        rows = (len(businesses) + cols - 1) // cols
        bw, bh = (right.w - 20 * (cols - 1)) // cols, min(130, (right.h - 20 * (rows - 1)) // max(rows, 1))
        for i, b in enumerate(businesses):
            r = pygame.Rect(right.x + (i % cols) * (bw + 20), right.y + (i // cols) * (bh + 20), bw, bh)
            self._button(r, b.name_zh, b.name_en, Action("business", b.code))
            if b.code in self.waiting:
                img = self._font(20).render(f"等候 {self.waiting[b.code]} 人 · {self.waiting[b.code]} waiting",
                                            True, MUTED)
                self.surface.blit(img, img.get_rect(bottomright=(r.right - 12, r.bottom - 6)))
        if view.kind is not ViewKind.STAFF_OK:
            pr = pygame.Rect(right.x, body.bottom - 90, right.w, 90)
            self._button(pr, "优先取号（工作人员授权）", "Priority ticket (staff)", Action("priority"), small=True)

    def _message(self, view: View, body: pygame.Rect, *, buttons: list[tuple[str, str, Action]]) -> None:
        y = self._wrapped(view.zh, 48, INK, body.inflate(-80, 0), body.y + 60)
        self._wrapped(view.en, 32, MUTED, body.inflate(-80, 0), y + 30)
        self._button_row(body, buttons)

    def _ticket(self, view: View, body: pygame.Rect, *, buttons: list[tuple[str, str, Action]]) -> None:
        number = view.ticket.number if view.ticket else ""
        big = self._font(220)
        img = big.render(number, True, ACCENT)
        self.surface.blit(img, img.get_rect(midtop=(body.centerx, body.y)))
        color = WARN if view.kind is ViewKind.PRINT_FAILED else INK
        y = self._wrapped(view.zh, 34, color, body.inflate(-80, 0), body.y + 260)
        self._wrapped(view.en, 26, MUTED, body.inflate(-80, 0), y + 16)
        self._button_row(body, buttons)

    def _pinpad(self, view: View, body: pygame.Rect) -> None:
        left = pygame.Rect(body.x, body.y, body.w // 2 - 20, body.h)
        y = self._wrapped(view.zh, 34, INK, left, left.y + 20)
        y = self._wrapped(view.en, 24, MUTED, left, y + 12)
        self._text(f"工号 ID:  {self._pin_id}", 40, ACCENT if self._pin_stage == "id" else INK, (left.x, y + 40))
        self._text(f"密码 PIN: {'●' * len(self._pin)}", 40, ACCENT if self._pin_stage == "pin" else INK,
                   (left.x, y + 100))
        back = pygame.Rect(left.x, body.bottom - 90, 240, 90)
        self._button(back, "返回", "Back", Action("back"), small=True)
        pad = pygame.Rect(body.centerx + 20, body.y, body.w // 2 - 20, body.h)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "OK"]
        kw, kh = (pad.w - 40) // 3, (pad.h - 60) // 4
        for i, key in enumerate(keys):
            r = pygame.Rect(pad.x + (i % 3) * (kw + 20), pad.y + (i // 3) * (kh + 20), kw, kh)
            pygame.draw.rect(self.surface, BUTTON, r, border_radius=12)
            pygame.draw.rect(self.surface, BUTTON_EDGE, r, 2, border_radius=12)
            img = self._font(48).render({"C": "清除", "OK": "确定"}.get(key, key), True, INK)
            self.surface.blit(img, img.get_rect(center=r.center))
            self._hits.append(_Hit(r, key=key))

    def _button_row(self, body: pygame.Rect, buttons: list[tuple[str, str, Action]]) -> None:
        if not buttons:
            return
        w = min(420, (body.w - 40 * (len(buttons) - 1)) // len(buttons))
        x = body.centerx - (w * len(buttons) + 40 * (len(buttons) - 1)) // 2
        for zh, en, action in buttons:
            self._button(pygame.Rect(x, body.bottom - 130, w, 120), zh, en, action)
            x += w + 40

    def _button(self, r: pygame.Rect, zh: str, en: str, action: Action, *, small: bool = False) -> None:
        pygame.draw.rect(self.surface, BUTTON, r, border_radius=14)
        pygame.draw.rect(self.surface, ACCENT, r, 3, border_radius=14)
        zh_img = self._font(30 if small else 40).render(zh, True, INK)
        en_img = self._font(20 if small else 24).render(en, True, MUTED)
        gap = 6
        top = r.centery - (zh_img.get_height() + gap + en_img.get_height()) // 2
        self.surface.blit(zh_img, zh_img.get_rect(midtop=(r.centerx, top)))
        self.surface.blit(en_img, en_img.get_rect(midtop=(r.centerx, top + zh_img.get_height() + gap)))
        self._hits.append(_Hit(r, action))

    def _text(self, text: str, size: int, color: tuple[int, int, int], at: tuple[int, int]) -> None:
        self.surface.blit(self._font(size).render(text, True, color), at)

    def _wrapped(self, text: str, size: int, color: tuple[int, int, int], box: pygame.Rect, y: int) -> int:
        """Draw `text` wrapped to `box` width from `y`; returns the y below it."""
        font = self._font(size)
        for line in _wrap(text, font, box.w):
            self.surface.blit(font.render(line, True, color), (box.x, y))
            y += font.get_linesize()
        return y

    def _font(self, size: int) -> pygame.font.Font:
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = pygame.font.Font(self._font_path, size)
        return font

    # -- input ----------------------------------------------------------------------------------
    def handle(self, event: pygame.event.Event) -> Action | None:
        """A pygame event -> Action (touch down or mouse click); anything else -> None."""
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            return self.hit(event.pos)
        if event.type == pygame.FINGERDOWN:
            return self.hit((int(event.x * self.size[0]), int(event.y * self.size[1])))
        return None

    def hit(self, pos: tuple[int, int]) -> Action | None:
        for h in self._hits:
            if h.rect.collidepoint(pos):
                return h.action if h.action is not None else self._pin_key(h.key)
        return None

    def _pin_key(self, key: str) -> Action | None:
        """The PIN pad edits local state (never logged); OK on the PIN gives the staff_pin action."""
        if key == "C":
            self._pin_id, self._pin, self._pin_stage = "", "", "id"
        elif key == "OK":
            if self._pin_stage == "id" and self._pin_id:
                self._pin_stage = "pin"
            elif self._pin_stage == "pin" and self._pin:
                action = Action("staff_pin", f"{self._pin_id}:{self._pin}")
                self._pin_id, self._pin, self._pin_stage = "", "", "id"
                return action
        elif self._pin_stage == "id" and len(self._pin_id) < 8:
            self._pin_id += key
        elif self._pin_stage == "pin" and len(self._pin) < 8:
            self._pin += key
        if self._view is not None:
            self.draw(self._view)
        return None

    def button_rect(self, action: Action) -> pygame.Rect | None:
        """Where a button is (tests and the demo use it to 'touch' the screen)."""
        return next((h.rect for h in self._hits if h.action == action), None)

    def key_rect(self, key: str) -> pygame.Rect | None:
        return next((h.rect for h in self._hits if h.key == key), None)

    def save_png(self, path: str | Path) -> None:
        pygame.image.save(self.surface, str(path))

    def close(self) -> None:
        """Safe twice."""
        self._fonts.clear()
        if getattr(self, "_window", False):
            pygame.display.quit()
            self._window = False


def _wrap(text: str, font: pygame.font.Font, width: int) -> list[str]:
    """Wrap by pixel width: Latin at spaces, CJK between any two characters."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        trial = line + token
        if line and font.size(trial)[0] > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = trial
    if line:
        lines.append(line)
    return lines


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    word = ""
    for c in text:
        if ord(c) > 0x2E7F:
            if word:
                out.append(word)
                word = ""
            out.append(c)
        elif c == " ":
            out.append(word)
            word = " "
        else:
            word += c
    if word:
        out.append(word)
    return out
