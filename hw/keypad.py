"""The teller keypad's keys: one vocabulary for the wire, the counter's state machine and the panel.

A key is what a teller presses, whichever way it reaches the software: a KEY frame from a hardware
keypad (the value is the frame's key code, docs/serial-protocol.md), a word typed at the software
panel, a simulated keypad. The serial bridge decodes frames into `KeyPress` and the counter's state
machine reads the same `KeyPress`, so the two cannot drift apart and nothing maps between them.
It lives in hw because components may share only qbus and hw (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Key(IntEnum):
    """Keys of the teller keypad; the value is the KEY frame's payload byte 0."""

    CALL_NEXT = 0x01  # 叫号
    RECALL = 0x02  # 重呼
    SKIP = 0x03  # 过号
    TRANSFER = 0x04  # 转移; + target: b"C" + counter (u16 BE) or b"B" + business prefix letter
    PAUSE = 0x05  # 暂停
    RESUME = 0x06  # 恢复
    WELCOME = 0x07  # 欢迎光临: the called customer has arrived
    RATE = 0x08  # 客户评价: finish and ask for a rating
    LOGOUT = 0x09  # 退出
    DIGIT = 0x0A  # + one byte 0..9 (login id / PIN entry)
    ENTER = 0x0B  # 确认
    CLEAR = 0x0C  # 清除


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key press. `digit` only for DIGIT; a target (counter or business prefix) only for TRANSFER."""

    key: Key
    digit: int = -1
    counter: int = 0
    prefix: str = ""
