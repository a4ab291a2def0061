"""Kiosk buttons and LEDs through gpiozero's MockFactory: drive pins, assert what the kiosk sees."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from hw.buttons import ButtonsError, KioskButtons


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def test_press_calls_back_with_the_button_name(factory: MockFactory) -> None:
    pressed: list[str] = []
    done = threading.Event()

    def on(name: str) -> None:
        pressed.append(name)
        done.set()

    kb = KioskButtons({"cash": 17, "personal": 27}, {"ready": 5}, pin_factory=factory, bounce_s=None,
                      when_pressed=on)
    try:
        factory.pin(27).drive_low()
        assert done.wait(1.0)
        factory.pin(27).drive_high()
        assert pressed == ["personal"]
        kb.led("ready", True)
        assert factory.pin(5).state and kb.is_lit("ready")
        kb.led("ready", False)
        assert not factory.pin(5).state
        kb.led("fault", True)  # not fitted: ignored
    finally:
        kb.close()
        kb.close()


def test_pin_used_twice_rolls_back(factory: MockFactory) -> None:
    with pytest.raises(ButtonsError):
        KioskButtons({"cash": 17, "personal": 17}, pin_factory=factory)
    kb = KioskButtons({"cash": 17}, pin_factory=factory)  # released by the rollback
    kb.close()
