"""docs/img shows the kiosk, a ticket and the hall screen as they look now: made again by the
real renderers and compared with the committed pictures, pixel for pixel."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame
import pytest

from qcall.screenshots import NAMES, make

DOCS = Path(__file__).resolve().parents[1] / "docs"


def pixels(path: Path) -> tuple[tuple[int, int], bytes]:
    img = pygame.image.load(str(path))
    return img.get_size(), pygame.image.tobytes(img, "RGB")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("img")
    make(out)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_docs_show_what_the_code_draws_now(fresh: Path, name: str) -> None:
    committed = DOCS / "img" / name
    assert committed.is_file(), f"docs/img/{name} missing: python -m qcall.screenshots docs/img"
    assert pixels(fresh / name) == pixels(committed), (
        f"docs/img/{name} is out of date: run `python -m qcall.screenshots docs/img` and look at it")


def test_the_pictures_are_referenced_from_the_docs() -> None:
    kiosk = (DOCS / "kiosk.md").read_text(encoding="utf-8")
    display = (DOCS / "display.md").read_text(encoding="utf-8")
    assert "(img/kiosk-home.png)" in kiosk and "(img/ticket.png)" in kiosk
    assert "(img/hall.png)" in display
