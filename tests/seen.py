"""Checks on what a person sees: a rendered frame compared by region, ink measured in pixels.

`shows(frame, rect, image)`: the frame's pixels at `rect` are exactly `image` (a fresh render of the
text we expect there, on the same ground), so the text really is on screen, whole and unclipped.
`ink_height(frame, rect, bg)`: how tall the drawn glyphs in a region are, in pixels.
`overlaps(rects)`: pairs of rectangles that share pixels.
`rgb(colour)`: a pixel's colour without its alpha, as `ink_height` takes the ground.
"""

from __future__ import annotations

from itertools import combinations

import pygame


def shows(frame: pygame.Surface, rect: pygame.Rect, image: pygame.Surface) -> bool:
    """The frame holds exactly `image` at `rect` (pixel for pixel)."""
    if rect.size != image.get_size() or not frame.get_rect().contains(rect):
        return False
    return pygame.image.tobytes(frame.subsurface(rect), "RGB") == pygame.image.tobytes(image, "RGB")


def rgb(colour: pygame.Color) -> tuple[int, int, int]:
    """The red, green and blue of a pixel (as read by Surface.get_at), alpha dropped."""
    return colour.r, colour.g, colour.b


def ink_height(frame: pygame.Surface, rect: pygame.Rect, bg: tuple[int, int, int]) -> int:
    """Rows of `rect` holding any pixel far from the ground colour (the glyphs' height)."""
    rows = []
    for y in range(rect.top, rect.bottom):
        for x in range(rect.left, rect.right):
            c = frame.get_at((x, y))
            if sum(abs(a - b) for a, b in zip(c[:3], bg, strict=True)) > 120:
                rows.append(y)
                break
    return (rows[-1] - rows[0] + 1) if rows else 0


def overlaps(named: list[tuple[str, pygame.Rect]]) -> list[tuple[str, str]]:
    """Every pair of named rectangles that overlap."""
    return [(a, b) for (a, ra), (b, rb) in combinations(named, 2) if ra.colliderect(rb)]
