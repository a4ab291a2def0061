"""The keys a teller presses, as the counter's state machine sees them.

The values are the lower-case names of the wire key codes in firmware_bridge.frame.Key
(`PanelKey(key.name.lower())`), so the bridge maps a decoded frame without a table; this package
does not import the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PanelKey(StrEnum):
    CALL_NEXT = "call_next"
    RECALL = "recall"
    SKIP = "skip"
    TRANSFER = "transfer"
    PAUSE = "pause"
    RESUME = "resume"
    WELCOME = "welcome"  # 欢迎光临
    RATE = "rate"  # 客户评价
    LOGOUT = "logout"
    DIGIT = "digit"
    ENTER = "enter"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Press:
    """One key press. `digit` for DIGIT; for TRANSFER a target counter or a business prefix letter."""

    key: PanelKey
    digit: int = -1
    counter: int = 0
    prefix: str = ""
