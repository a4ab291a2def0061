"""The kiosk screen renders real frames headless (SDL dummy driver) and maps touches to actions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame
import pytest

from kiosk.flow import HOME, View, ViewKind
from kiosk.screen import FONT, Action, KioskScreen
from qbus.messages import TicketView
from tests.kiosk_fixtures import T0, branch


@pytest.fixture(scope="module")
def screen() -> Iterator[KioskScreen]:
    s = KioskScreen(branch(), size=(1280, 800))
    yield s
    s.close()
    s.close()


def click(screen: KioskScreen, rect: pygame.Rect | None) -> Action | None:
    """Tap the middle of `rect` (a button or key the screen says it drew)."""
    assert rect is not None, "the screen drew no such button"
    return screen.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1))


def test_home_renders_to_png_with_business_buttons(screen: KioskScreen, tmp_path: Path) -> None:
    screen.draw(HOME)
    path = tmp_path / "home.png"
    screen.save_png(path)
    img = pygame.image.load(str(path))
    assert img.get_size() == (1280, 800)
    rect = screen.button_rect(Action("business", "cash"))
    assert rect is not None
    inside = {tuple(img.get_at((x, y))) for x in range(rect.x + 10, rect.right - 10, 3)
              for y in range(rect.y + 10, rect.bottom - 10, 3)}
    assert len(inside) > 2  # text drawn on the button, not an empty box
    assert click(screen, rect) == Action("business", "cash")
    assert click(screen, pygame.Rect(5, 5, 2, 2)) is None


def test_cjk_font_renders_real_glyphs() -> None:
    pygame.font.init()
    font = pygame.font.Font(FONT, 40)
    a, b = font.render("请", True, (0, 0, 0)), font.render("刷", True, (0, 0, 0))
    assert pygame.image.tobytes(a, "RGBA") != pygame.image.tobytes(b, "RGBA")  # not the same tofu box


def test_touch_finger_events(screen: KioskScreen) -> None:
    screen.draw(HOME)
    rect = screen.button_rect(Action("priority"))
    assert rect is not None
    ev = pygame.event.Event(pygame.FINGERDOWN, x=rect.centerx / 1280, y=rect.centery / 800, finger_id=0,
                            touch_id=0, dx=0, dy=0, pressure=1)
    assert screen.handle(ev) == Action("priority")


def test_every_view_draws(screen: KioskScreen, tmp_path: Path) -> None:
    ticket = TicketView(id="2024-05-06/A012", number="A012", business="cash", tier="normal", issued_at=T0)
    views = [
        View(ViewKind.IDENTIFIED, "张* 您好，理财VIP客户，请选择业务", "Welcome, VIP customer.", tier="vip"),
        View(ViewKind.SELF_SERVICE, "此业务可在大堂自助存取款机（ATM）办理", "Use the ATMs", business="cash"),
        View(ViewKind.STAFF_NEEDED, "请输入工号和密码", "Enter your ID and PIN"),
        View(ViewKind.STAFF_OK, "已授权", "Authorised"),
        View(ViewKind.ISSUED, "请取走号票", "Take your ticket", ticket=ticket),
        View(ViewKind.PRINT_FAILED, "打印机缺纸。您的号码 A012 有效", "Out of paper. A012 is valid.", ticket=ticket,
             can_reprint=True),
        View(ViewKind.MESSAGE, "取号机缺纸，请联系大堂工作人员", "The ticket printer is out of paper."),
    ]
    frames = set()
    for i, view in enumerate(views):
        screen.draw(view)
        screen.save_png(tmp_path / f"{i}.png")
        frames.add(pygame.image.tobytes(screen.surface, "RGB"))
    assert len(frames) == len(views)
    screen.draw(views[1])
    assert screen.button_rect(Action("anyway", "cash")) is not None
    screen.draw(views[5])
    assert click(screen, screen.button_rect(Action("reprint"))) == Action("reprint")


def test_pin_pad_gives_staff_pin_action(screen: KioskScreen) -> None:
    screen.draw(View(ViewKind.STAFF_NEEDED, "请输入工号和密码", "Enter your ID and PIN"))
    for key in "2001":
        assert click(screen, screen.key_rect(key)) is None
    assert click(screen, screen.key_rect("OK")) is None
    for key in "2001":
        click(screen, screen.key_rect(key))
    assert click(screen, screen.key_rect("OK")) == Action("staff_pin", "2001:2001")
