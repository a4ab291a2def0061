"""Kiosk push buttons and LEDs through gpiozero (its MockFactory in tests and on a PC).

Buttons are named (a business code, "priority", "reprint"); a press calls `when_pressed(name)`.
LEDs are named too ("ready", "fault"). Buttons are wired to ground with the Pi's internal pull-ups,
the usual arcade-button wiring, and debounced in gpiozero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from gpiozero import LED, Button, GPIOZeroError

from qbus.errors import QcallError

_LOG = logging.getLogger(__name__)


class ButtonsError(QcallError, OSError):
    """A GPIO pin could not be set up."""

    code = "gpio"
    zh = "按键板故障"


class KioskButtons:
    """Named buttons in, named LEDs out."""

    def __init__(
        self,
        buttons: Mapping[str, int],
        leds: Mapping[str, int] | None = None,
        *,
        pin_factory: Any = None,
        bounce_s: float | None = 0.05,
        when_pressed: Callable[[str], None] | None = None,
    ) -> None:
        self.when_pressed = when_pressed
        self._buttons: dict[str, Button] = {}
        self._leds: dict[str, LED] = {}
        try:
            for name, pin in buttons.items():
                btn = Button(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
                btn.when_pressed = self._handler(name)
                self._buttons[name] = btn
            for name, pin in (leds or {}).items():
                self._leds[name] = LED(pin, pin_factory=pin_factory)
        except (GPIOZeroError, OSError, ValueError) as err:
            self.close()
            raise ButtonsError(f"GPIO setup failed: {err}") from err

    def _handler(self, name: str) -> Callable[[], None]:
        def pressed() -> None:
            _LOG.debug("button %s pressed", name)
            if self.when_pressed is not None:
                self.when_pressed(name)

        return pressed

    @property
    def names(self) -> list[str]:
        return list(self._buttons)

    def led(self, name: str, on: bool) -> None:
        """Switch a named LED; an LED that is not fitted is ignored (LEDs are optional)."""
        led = self._leds.get(name)
        if led is not None:
            led.value = on

    def blink(self, name: str, *, on_s: float = 0.5, off_s: float = 0.5) -> None:
        led = self._leds.get(name)
        if led is not None:
            led.blink(on_time=on_s, off_time=off_s)

    def is_lit(self, name: str) -> bool:
        led = self._leds.get(name)
        return bool(led is not None and led.is_lit)

    def close(self) -> None:
        """Release every pin; safe twice."""
        for dev in [*self._buttons.values(), *self._leds.values()]:
            dev.close()
        self._buttons.clear()
        self._leds.clear()
