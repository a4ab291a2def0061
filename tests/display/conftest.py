"""Shared set-up for the hall display and voice tests: headless SDL (video and audio), the example
branch config."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from collections.abc import Iterator

import pygame
import pytest
from display_helpers import EXAMPLE

from qbus.config import BranchConfig, load


@pytest.fixture(scope="session")
def cfg() -> BranchConfig:
    return load(EXAMPLE)


@pytest.fixture
def display_init() -> Iterator[None]:
    pygame.display.init()
    yield
    pygame.display.quit()
