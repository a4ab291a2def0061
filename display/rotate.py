"""A portrait hall screen on a TV turned on its side.

A TV mounted upright still reports a landscape mode (1920×1080) over HDMI, and SDL's KMS driver
on a Pi console cannot rotate the output. So the hall is drawn on an upright canvas (1080×1920)
and each changed rectangle is turned and copied to the real screen: a quiet frame turns only the
ticker line and the clock, not the whole picture.
"""

from __future__ import annotations

import pygame
from pygame import Rect, Surface

from display.errors import DisplayError


class Rotation:
    """Upright canvas → the screen, turned `degrees` counter-clockwise (90 or 270)."""

    def __init__(self, screen: Surface, degrees: int) -> None:
        if degrees not in (90, 270):
            raise DisplayError(f"display.rotate: {degrees} is not 0, 90 or 270")
        self.screen = screen
        self.degrees = degrees
        w, h = screen.get_size()
        self.canvas = Surface((h, w))
        if pygame.display.get_surface() is screen:
            self.canvas = self.canvas.convert()

    def present(self, dirty: list[Rect]) -> list[Rect]:
        """Copy the changed canvas rects to the screen, turned; the screen rects that changed."""
        out: list[Rect] = []
        cw, ch = self.canvas.get_size()
        for r in dirty:
            r = r.clip(self.canvas.get_rect())
            if not r.width or not r.height:
                continue
            piece = pygame.transform.rotate(self.canvas.subsurface(r), self.degrees)
            if self.degrees == 90:  # (x, y) → (y, cw - 1 - x)
                at = (r.y, cw - r.right)
            else:  # 270: (x, y) → (ch - 1 - y, x)
                at = (ch - r.bottom, r.x)
            out.append(self.screen.blit(piece, at))
        return out


def rotation_for(screen: Surface, portrait: bool, degrees: int) -> Rotation | None:
    """The rotation a full-screen display needs: as configured, or 90° when the configured layout
    is portrait (or landscape) and the screen is the other way round; None when it already fits."""
    w, h = screen.get_size()
    if degrees == 0 and (h > w) != portrait:
        degrees = 90
    return Rotation(screen, degrees) if degrees else None
