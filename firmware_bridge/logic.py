"""What the bridge needs from a counter's logic, as a Protocol: the bridge never imports it.

Component packages do not import each other (docs/architecture.md), so the counter's state
machine (`counter_panel.machine.CounterPanel`) reaches the bridge through the wiring in `qcall/`,
which passes a factory `counter id -> CounterLogic`. The shapes below are what CounterPanel
offers; keys are `hw.keypad.KeyPress` on both sides, so qcall passes CounterPanel as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from hw.keypad import KeyPress
from qbus import messages as m


class PadDisplay(Protocol):
    """What the two pads of a counter show. voice: "" | "welcome" | "please_rate" | "thanks"."""

    @property
    def pad_text(self) -> str: ...  # the customer-facing rating pad

    @property
    def keypad_text(self) -> str: ...  # the teller's keypad

    @property
    def voice(self) -> str: ...

    @property
    def beep(self) -> bool: ...


class LogicOutput(Protocol):
    """Commands to send to the core, and the display to show (None: unchanged)."""

    @property
    def commands(self) -> Sequence[m.Command]: ...

    @property
    def display(self) -> PadDisplay | None: ...


class CounterLogic(Protocol):
    """One counter's state machine, pure: keys and bus state in, commands and display out."""

    counter: int

    @property
    def display(self) -> PadDisplay: ...

    def key(self, press: KeyPress, now: float) -> LogicOutput:
        """A key on the teller keypad."""

    def stars(self, stars: int, now: float) -> LogicOutput:
        """A star key on the rating pad."""

    def state_update(self, state: m.CounterState) -> LogicOutput:
        """The retained CounterState from the core."""

    def event(self, event: m.AnyEvent) -> LogicOutput:
        """A bus event (the bridge forwards `rated` for its counters)."""

    def reply(self, ok: bool, message_zh: str = "") -> LogicOutput:
        """The core answered the last command (or did not: ok False with a reason)."""


LogicFactory = Callable[[int], CounterLogic]
