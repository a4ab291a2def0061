"""The kiosk touch screen (pygame): business buttons in Chinese and English, a large "swipe your card"
prompt, the "I have an appointment" button and its booking-code pad, messages, the self-service
offer, the staff PIN pad and the on-screen ticket after a print failure. It draws a `View` from kiosk.flow and turns touches into `Action`s; it decides nothing.

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
from qbus.linebreak import break_lines

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
    staff_pin (value = "id:pin"), booking (the code pad), check_in (value = the booking code)."""

    kind: str
    value: str = ""


@dataclass(frozen=True)
class _Hit:
    rect: pygame.Rect
    action: Action | None = None
    key: str = ""  # PIN pad / code pad key


#: Where text was drawn, for tests and screenshots: (what, text, rect on screen, font size, fg, bg).
Placed = tuple[str, str, pygame.Rect, int, tuple[int, int, int], tuple[int, int, int]]

STRIP = (236, 240, 246)  # the waiting band at the foot of a business button
FAULT_BG = (255, 236, 214)
DISABLED = (160, 164, 170)
COUNT_PX = 28  # waiting counts: the size an elderly customer reads at arm's length
BACK_W, BACK_H = 300, 100  # Back sits bottom-left on every screen: on the home screen that spot is no button
BOOKING_H = 100  # the home screen's appointment button, in the card column just above Back's spot
CODE_MAX = 12  # the longest booking code (kiosk.flow.BOOKING_CODE)
#: The staff PIN pad and the booking-code pad: (key, label, columns wide), laid out row by row.
PIN_KEYS = [(k, {"C": "清除", "OK": "确定"}.get(k, k), 1) for k in "1 2 3 4 5 6 7 8 9 C 0 OK".split()]
# Booking codes are letters and digits (the web's are 6 of A-Z 2-9; a bank's export may use any).
CODE_KEYS = ([(k, k, 1) for k in "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
             + [("CLR", "清除 Clear", 2), ("OK", "确认 OK", 2)])


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
        self._code = ""  # the booking code typed so far (screen state, like the PIN)
        self._view: View | None = None
        self.waiting: dict[str, int] = {}  # people waiting per business (the core's QueueState)
        self.est_wait_s: dict[str, float] = {}  # the core's estimated wait per business
        self.elements: list[Placed] = []
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
        if view.kind is not ViewKind.BOOKING_CODE:
            self._code = ""
        self._view = view
        self._hits = []
        self.elements = []
        s = self.surface
        s.fill(BG)
        self._header()
        body = pygame.Rect(40, 130, self.size[0] - 80, self.size[1] - 170)
        kind = view.kind
        if kind in (ViewKind.HOME, ViewKind.IDENTIFIED, ViewKind.STAFF_OK):
            self._home(view, body)
        elif kind is ViewKind.SELF_SERVICE:
            self._message(view, body)
            self._back(body)
            self._forward(body, "继续取号", "Take a ticket", Action("anyway", view.business))
        elif kind is ViewKind.STAFF_NEEDED:
            self._pinpad(view, body)
        elif kind is ViewKind.BOOKING_CODE:
            self._codepad(view, body)
        elif kind is ViewKind.ISSUING:
            self._message(view, body)  # no buttons: a second tap has nothing to hit
        elif kind is ViewKind.ISSUED:
            self._ticket(view, body)
        elif kind is ViewKind.PRINT_FAILED:
            self._ticket(view, body)
            self._back(body)
            self._forward(body, "补打", "Reprint", Action("reprint"))
        else:
            self._message(view, body)
            self._back(body)
        if self._window:
            pygame.display.flip()
        return s

    def _header(self) -> None:
        b = self.cfg.branch
        pygame.draw.rect(self.surface, BAR, (0, 0, self.size[0], 100))
        self._text(f"{b.bank_zh} {b.name_zh}", 40, WHITE, (40, 14), bg=BAR, what="header")
        self._text(f"{b.bank_en} · {b.name_en}", 24, WHITE, (40, 64), bg=BAR, what="header")

    def _home(self, view: View, body: pygame.Rect) -> None:
        left = self._card_column(body)
        if self.cfg.kiosk.appointments:  # keep Back's spot (below) free: it is no button here
            left.h -= BOOKING_H + BACK_H + 20
        inner = left.inflate(-60, 0)
        if view.fault_zh:
            self._fault(view, left)
        else:
            pygame.draw.rect(self.surface, BUTTON, left, border_radius=16)
            pygame.draw.rect(self.surface, BUTTON_EDGE, left, 2, border_radius=16)
            if view.kind is ViewKind.HOME:
                self._text("请刷卡", 72, ACCENT, (left.x + 30, left.y + 40), bg=BUTTON, what="prompt")
                self._text("Swipe your card", 40, INK, (left.x + 30, left.y + 130), bg=BUTTON, what="prompt")
                y = self._wrapped("也可插入存折或放置身份证；无卡客户请直接选择业务。", 28, INK, inner,
                                  left.y + 200, bg=BUTTON, what="hint")
                self._wrapped("Or insert your passbook / place your ID card. No card? Just choose.", 24, MUTED,
                              inner, y + 16, bg=BUTTON, what="hint")
            else:
                y = self._wrapped(view.zh, 36, ACCENT, inner, left.y + 40, bg=BUTTON, what="greeting")
                self._wrapped(view.en, 26, INK, inner, y + 20, bg=BUTTON, what="greeting")
        right = pygame.Rect(left.right + 40, body.y, body.right - left.right - 40, body.h - 100)
        businesses = self.cfg.business
        cols, gap = 2, 16
        rows = (len(businesses) + cols - 1) // cols
        bw, bh = (right.w - gap * (cols - 1)) // cols, min(190, (right.h - gap * (rows - 1)) // max(rows, 1))
        enabled = not view.fault_zh
        for i, b in enumerate(businesses):
            r = pygame.Rect(right.x + (i % cols) * (bw + gap), right.y + (i // cols) * (bh + gap), bw, bh)
            self._business(r, b.code, b.name_zh, b.name_en, enabled=enabled)
        if view.kind is not ViewKind.STAFF_OK and enabled:
            pr = pygame.Rect(right.x, body.bottom - 80, right.w, 80)
            self._button(pr, "优先取号（工作人员授权）", "Priority ticket (staff)", Action("priority"), small=True)
        if self.cfg.kiosk.appointments and view.kind is ViewKind.HOME and enabled:
            br = pygame.Rect(left.x, body.bottom - BACK_H - 10 - BOOKING_H, left.w, BOOKING_H)
            self._button(br, "预约取号", "I have an appointment", Action("booking"))

    def _card_column(self, body: pygame.Rect) -> pygame.Rect:
        """The home screen's left column (card prompt); the pads keep their keys right of it."""
        return pygame.Rect(body.x, body.y, body.w * 2 // 5 - 20, body.h)

    def _fault(self, view: View, left: pygame.Rect) -> None:
        """No ticket can be printed now: say so where "swipe your card" would be, large."""
        pygame.draw.rect(self.surface, FAULT_BG, left, border_radius=16)
        pygame.draw.rect(self.surface, WARN, left, 4, border_radius=16)
        inner = left.inflate(-60, 0)
        self._text("暂停取号", 64, WARN, (left.x + 30, left.y + 36), bg=FAULT_BG, what="fault")
        self._text("No tickets right now", 34, INK, (left.x + 30, left.y + 120), bg=FAULT_BG, what="fault")
        y = self._wrapped(view.fault_zh, 32, INK, inner, left.y + 190, bg=FAULT_BG, what="fault")
        self._wrapped(view.fault_en, 26, INK, inner, y + 16, bg=FAULT_BG, what="fault")

    def _business(self, r: pygame.Rect, code: str, zh: str, en: str, *, enabled: bool) -> None:
        """A business button: its names, and a band at the foot with how many wait and how long."""
        edge = ACCENT if enabled else DISABLED
        pygame.draw.rect(self.surface, BUTTON, r, border_radius=14)
        band = pygame.Rect(r.x + 3, r.bottom - 70, r.w - 6, 67)
        names = pygame.Rect(r.x, r.y, r.w, r.h - band.h)
        fg = INK if enabled else DISABLED
        zh_img = self._fit(zh, 36, r.w - 24)
        en_img = self._fit(en, 22, r.w - 24)
        top = names.centery - (zh_img.get_height() + en_img.get_height()) // 2
        self._text(zh, 0, fg, (0, top), bg=BUTTON, what="business", center_x=r.centerx,
                   size=self._fitted_size(zh, 36, r.w - 24))
        self._text(en, 0, MUTED if enabled else DISABLED, (0, top + zh_img.get_height()), bg=BUTTON,
                   what="business", center_x=r.centerx, size=self._fitted_size(en, 22, r.w - 24))
        if code in self.waiting:
            pygame.draw.rect(self.surface, STRIP, band, border_bottom_left_radius=12, border_bottom_right_radius=12)
            zh_line, en_line = waiting_words(self.waiting[code], self.est_wait_s.get(code, 0.0))
            self._text(zh_line, 0, fg, (0, band.y + 2), bg=STRIP, what="waiting", center_x=band.centerx,
                       size=self._fitted_size(zh_line, COUNT_PX, band.w - 16))
            self._text(en_line, 0, fg, (0, band.y + 36), bg=STRIP, what="waiting", center_x=band.centerx,
                       size=self._fitted_size(en_line, 22, band.w - 16))
        pygame.draw.rect(self.surface, edge, r, 3, border_radius=14)
        if enabled:
            self._hits.append(_Hit(r, Action("business", code)))

    def _message(self, view: View, body: pygame.Rect) -> None:
        y = self._wrapped(view.zh, 48, INK, body.inflate(-80, 0), body.y + 60, what="message")
        self._wrapped(view.en, 32, MUTED, body.inflate(-80, 0), y + 30, what="message")

    def _ticket(self, view: View, body: pygame.Rect) -> None:
        number = view.ticket.number if view.ticket else ""
        img = self._font(220).render(number, True, ACCENT, BG)
        at = img.get_rect(midtop=(body.centerx, body.y))
        self._text(number, 0, ACCENT, at.topleft, what="number", size=220)
        color = WARN if view.kind is ViewKind.PRINT_FAILED else INK
        y = self._wrapped(view.zh, 34, color, body.inflate(-80, 0), body.y + 260, what="message")
        self._wrapped(view.en, 26, MUTED, body.inflate(-80, 0), y + 16, what="message")

    def _back(self, body: pygame.Rect) -> None:
        """Back, bottom-left: on the home screen it comes back to, that spot is the card prompt, not a
        button, so a double tap cannot open the staff PIN pad (or anything else)."""
        self._button(pygame.Rect(body.x, body.bottom - BACK_H, BACK_W, BACK_H), "返回", "Back", Action("back"))

    def _forward(self, body: pygame.Rect, zh: str, en: str, action: Action) -> None:
        """The screen's way on, bottom-right, below where the home screen's business buttons end."""
        self._button(pygame.Rect(body.right - 420, body.bottom - BACK_H, 420, BACK_H), zh, en, action)

    def _pinpad(self, view: View, body: pygame.Rect) -> None:
        left = pygame.Rect(body.x, body.y, body.w // 2 - 20, body.h)
        y = self._wrapped(view.zh, 34, INK, left, left.y + 20, what="message")
        y = self._wrapped(view.en, 24, MUTED, left, y + 12, what="message")
        self._text(f"工号 ID:  {self._pin_id}", 40, ACCENT if self._pin_stage == "id" else INK, (left.x, y + 40),
                   what="pin")
        self._text(f"密码 PIN: {'●' * len(self._pin)}", 40, ACCENT if self._pin_stage == "pin" else INK,
                   (left.x, y + 100), what="pin")
        self._back(body)
        # the keys end above the home screen's priority button: a double tap on it types nothing
        self._keypad(pygame.Rect(body.centerx + 20, body.y, body.w // 2 - 20, body.h - 100), PIN_KEYS, 3, 20, 48)

    def _codepad(self, view: View, body: pygame.Rect) -> None:
        """预约取号: the code as typed (large, left, where the appointment button was: a double tap
        on it types nothing), the letter and digit keys right of it, above the priority button."""
        column = self._card_column(body)
        y = self._wrapped(view.zh, 34, INK, column, column.y + 20, what="message")
        y = self._wrapped(view.en, 24, MUTED, column, y + 12, what="message")
        self._text("预约码 Booking code", 28, MUTED, (column.x, y + 30), what="code_label")
        box = pygame.Rect(column.x, y + 76, column.w, 110)
        pygame.draw.rect(self.surface, BUTTON, box, border_radius=12)
        pygame.draw.rect(self.surface, ACCENT, box, 3, border_radius=12)
        if self._code:
            self._text(self._code, 0, ACCENT, (box.x + 20, box.y + 14), bg=BUTTON, what="code",
                       size=self._fitted_size(self._code, 72, box.w - 40))
        self._back(body)
        pad = pygame.Rect(column.right + 40, body.y, body.right - column.right - 40, body.h - 100)
        self._keypad(pad, CODE_KEYS, 8, 10, 40)

    def _keypad(self, pad: pygame.Rect, keys: list[tuple[str, str, int]], cols: int, gap: int, px: int) -> None:
        """Keys filling `pad` row by row, `cols` to a row (a key may be several columns wide)."""
        rows = (sum(span for *_, span in keys) + cols - 1) // cols
        kw, kh = (pad.w - gap * (cols - 1)) // cols, (pad.h - gap * (rows - 1)) // rows
        at = 0
        for key, label, span in keys:
            col, row = at % cols, at // cols
            r = pygame.Rect(pad.x + col * (kw + gap), pad.y + row * (kh + gap), kw * span + gap * (span - 1), kh)
            at += span
            pygame.draw.rect(self.surface, BUTTON, r, border_radius=12)
            pygame.draw.rect(self.surface, BUTTON_EDGE, r, 2, border_radius=12)
            size = self._fitted_size(label, px, r.w - 8)
            img = self._font(size).render(label, True, INK, BUTTON)
            self._text(label, 0, INK, img.get_rect(center=r.center).topleft, bg=BUTTON, what="key", size=size)
            self._hits.append(_Hit(r, key=key))

    def _button(self, r: pygame.Rect, zh: str, en: str, action: Action, *, small: bool = False) -> None:
        pygame.draw.rect(self.surface, BUTTON, r, border_radius=14)
        pygame.draw.rect(self.surface, ACCENT, r, 3, border_radius=14)
        zs, es = (30, 20) if small else (40, 24)
        zh_h, en_h = self._font(zs).get_linesize(), self._font(es).get_linesize()
        top = r.centery - (zh_h + 4 + en_h) // 2
        self._text(zh, 0, INK, (0, top), bg=BUTTON, what="button", center_x=r.centerx, size=zs)
        self._text(en, 0, MUTED, (0, top + zh_h + 4), bg=BUTTON, what="button", center_x=r.centerx, size=es)
        self._hits.append(_Hit(r, action))

    def _text(self, text: str, px: int, color: tuple[int, int, int], at: tuple[int, int], *,
              bg: tuple[int, int, int] = BG, what: str = "text", center_x: int | None = None,
              size: int = 0) -> pygame.Rect:
        """Draw one line on an opaque ground (so a test can re-render it and compare the pixels) and
        record where it went. The font size is `size` when given, else `px`; `center_x` centres it."""
        size = size or px
        img = self._font(size).render(text, True, color, bg)
        rect = img.get_rect(topleft=at)
        if center_x is not None:
            rect.centerx = center_x
        self.surface.blit(img, rect)
        self.elements.append((what, text, rect, size, color, bg))
        return rect

    def _wrapped(self, text: str, size: int, color: tuple[int, int, int], box: pygame.Rect, y: int, *,
                 bg: tuple[int, int, int] = BG, what: str = "text") -> int:
        """Draw `text` wrapped to `box` width from `y` (CJK line-breaking rules); returns the y below it."""
        font = self._font(size)
        for line in wrap(text, font, box.w):
            self._text(line, size, color, (box.x, y), bg=bg, what=what)
            y += font.get_linesize()
        return y

    def _fitted_size(self, text: str, size: int, width: int) -> int:
        """The largest size up to `size` at which `text` fits `width` (long English names shrink)."""
        while size > 12 and self._font(size).size(text)[0] > width:
            size -= 1
        return size

    def _fit(self, text: str, size: int, width: int) -> pygame.Surface:
        return self._font(self._fitted_size(text, size, width)).render(text, True, INK)

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
                if h.action is not None:
                    return h.action
                return self._code_key(h.key) if self._code_pad_shown() else self._pin_key(h.key)
        return None

    def _code_pad_shown(self) -> bool:
        return self._view is not None and self._view.kind is ViewKind.BOOKING_CODE

    def _code_key(self, key: str) -> Action | None:
        """The code pad edits the code shown; OK with a code gives the check_in action."""
        if key == "OK":
            if self._code:
                return Action("check_in", self._code)
        elif key == "CLR":
            self._code = ""
        elif len(self._code) < CODE_MAX:
            self._code += key
        if self._view is not None:
            self.draw(self._view)
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


def wrap(text: str, font: pygame.font.Font, width: int) -> list[str]:
    """Wrap by pixel width with the same CJK line-breaking rules as the ticket (qbus.linebreak)."""
    return break_lines(text, width, lambda line: int(font.size(line)[0]))


def waiting_words(waiting: int, est_wait_s: float) -> tuple[str, str]:
    """The waiting band of a business button, Chinese and English: how many wait and about how long."""
    minutes = max(1, round(est_wait_s / 60)) if est_wait_s > 0 else 0
    if waiting <= 0:
        return "无需等候", "No wait"
    zh = f"等候 {waiting} 人" + (f" · 约 {minutes} 分钟" if minutes else "")
    en = f"{waiting} waiting" + (f" · about {minutes} min" if minutes else "")
    return zh, en
