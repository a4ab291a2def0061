"""The frame every codec speaks: address, sequence number, command and payload.

A `Frame` is codec-neutral: the payload bytes follow *our* layout (docs/serial-protocol.md) and each
codec maps them onto its own wire format. `validate()` is the one gate every decoder passes a
candidate through, so a frame that reaches the bridge is always well formed: a damaged or
nonsensical frame is rejected here, never guessed at.

Bit 7 of a command code gives the direction (set = host -> device). A host therefore ignores its own
echo on an RS-485 line, and a device ignores another device's traffic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.errors import FrameError
from hw.keypad import Key, KeyPress

MAX_ADDRESS = 32
BROADCAST = 0  # host -> device only; nobody acknowledges a broadcast
MAX_PAYLOAD = 64
MAX_STARS = 10  # the configured scale may be 2..10; the counter checks the real scale
MAX_TRANSFER_COUNTER = 999


class Command(IntEnum):
    """Command codes. Bit 7 set: host -> device."""

    KEY = 0x01
    STARS = 0x02
    HEARTBEAT = 0x03
    DEV_ACK = 0x06  # device acknowledges a host frame; seq = the acknowledged seq
    LED_TEXT = 0x81
    VOICE = 0x82
    BEEP = 0x83
    SET_TIME = 0x84
    ACK = 0x86  # host acknowledges a device frame; seq = the acknowledged seq

    @property
    def from_host(self) -> bool:
        return bool(self & 0x80)


# Frames the receiver must acknowledge (the sender resends them until it does).
ACKED_COMMANDS = frozenset(
    {Command.KEY, Command.STARS, Command.LED_TEXT, Command.VOICE, Command.BEEP, Command.SET_TIME}
)


class Voice(IntEnum):
    """Voice prompts a pad plays (VOICE payload). Names match `PadDisplay.voice` (firmware_bridge.logic)."""

    WELCOME = 1  # 欢迎光临
    PLEASE_RATE = 2  # 请您对我的服务进行评价
    THANKS = 3  # 谢谢


class TextEncoding(IntEnum):
    """LED_TEXT payload byte 0. GB18030 for pads whose font ROM is GB2312/GBK-indexed."""

    UTF8 = 0
    GB18030 = 1

    @property
    def codec(self) -> str:
        return "utf-8" if self is TextEncoding.UTF8 else "gb18030"


class DeviceKind(IntEnum):
    """HEARTBEAT payload byte 0. Names match config `SerialDevice.kind`."""

    KEYPAD = 1
    RATING = 2


@dataclass(frozen=True, slots=True)
class Heartbeat:
    kind: DeviceKind
    firmware: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame on the line. `seq` is the sender's sequence number (0..255, wraps)."""

    address: int
    command: Command
    payload: bytes = b""
    seq: int = 0

    def __post_init__(self) -> None:
        validate(self)

    @property
    def needs_ack(self) -> bool:
        return self.command in ACKED_COMMANDS and self.address != BROADCAST

    def with_seq(self, seq: int) -> Frame:
        return dataclasses.replace(self, seq=seq & 0xFF)

    # -- typed readers: the payload has been validated, so these cannot fail on a decoded frame --

    def key_press(self) -> KeyPress:
        _expect(self, Command.KEY)
        key, rest = Key(self.payload[0]), self.payload[1:]
        if key is Key.DIGIT:
            return KeyPress(key, digit=rest[0])
        if key is Key.TRANSFER:
            if rest[:1] == b"C":
                return KeyPress(key, counter=int.from_bytes(rest[1:3], "big"))
            return KeyPress(key, prefix=rest[1:2].decode("ascii"))
        return KeyPress(key)

    def stars(self) -> int:
        _expect(self, Command.STARS)
        return self.payload[0]

    def heartbeat(self) -> Heartbeat:
        _expect(self, Command.HEARTBEAT)
        p = self.payload
        return Heartbeat(DeviceKind(p[0]), f"{p[1]}.{p[2]}.{p[3]}")

    def text(self) -> str:
        _expect(self, Command.LED_TEXT)
        return self.payload[1:].decode(TextEncoding(self.payload[0]).codec)

    def voice(self) -> Voice:
        _expect(self, Command.VOICE)
        return Voice(self.payload[0])

    def beep_ms(self) -> int:
        _expect(self, Command.BEEP)
        return self.payload[0] * 10

    def time(self) -> dt.datetime:
        _expect(self, Command.SET_TIME)
        p = self.payload
        return dt.datetime(int.from_bytes(p[0:2], "big"), p[2], p[3], p[4], p[5], p[6])


def _expect(frame: Frame, command: Command) -> None:
    if frame.command is not command:
        raise FrameError(f"not a {command.name} frame: {frame.command.name}")


# ------------------------------------------------------------------------------------------
# Constructors, one per command. Sequence numbers are given by whoever sends (the link).


def key_frame(address: int, press: KeyPress | Key, seq: int = 0) -> Frame:
    if isinstance(press, Key):
        press = KeyPress(press)
    payload = bytes([press.key])
    if press.key is Key.DIGIT:
        payload += bytes([press.digit & 0xFF]) if 0 <= press.digit <= 255 else b"\xff"
    elif press.key is Key.TRANSFER:
        if press.prefix:
            payload += b"B" + press.prefix.encode("ascii", "replace")[:1]
        else:
            payload += b"C" + (press.counter & 0xFFFF).to_bytes(2, "big")
    return Frame(address, Command.KEY, payload, seq)


def stars_frame(address: int, stars: int, seq: int = 0) -> Frame:
    return Frame(address, Command.STARS, bytes([stars & 0xFF]), seq)


def heartbeat_frame(address: int, kind: DeviceKind, firmware: str, seq: int = 0) -> Frame:
    try:
        parts = [int(x) for x in firmware.split(".")]
    except ValueError as err:
        raise FrameError(f"firmware version {firmware!r} is not MAJOR.MINOR.PATCH") from err
    if len(parts) != 3 or not all(0 <= x <= 255 for x in parts):
        raise FrameError(f"firmware version {firmware!r} is not MAJOR.MINOR.PATCH (0..255 each)")
    return Frame(address, Command.HEARTBEAT, bytes([kind, *parts]), seq)


def led_frame(address: int, text: str, encoding: TextEncoding = TextEncoding.UTF8, seq: int = 0) -> Frame:
    try:
        data = text.encode(encoding.codec)
    except UnicodeEncodeError as err:
        raise FrameError(f"LED text {text!r} cannot be encoded as {encoding.codec}") from err
    return Frame(address, Command.LED_TEXT, bytes([encoding]) + data, seq)


def voice_frame(address: int, voice: Voice, seq: int = 0) -> Frame:
    return Frame(address, Command.VOICE, bytes([voice]), seq)


def beep_frame(address: int, ms: int = 100, seq: int = 0) -> Frame:
    return Frame(address, Command.BEEP, bytes([max(1, min(255, ms // 10))]), seq)


def time_frame(address: int, when: dt.datetime, seq: int = 0) -> Frame:
    payload = when.year.to_bytes(2, "big") + bytes([when.month, when.day, when.hour, when.minute, when.second])
    return Frame(address, Command.SET_TIME, payload, seq)


def ack_frame(address: int, acked_seq: int, *, from_host: bool) -> Frame:
    """The acknowledgement of frame `acked_seq`; the seq field carries it, the payload is empty."""
    return Frame(address, Command.ACK if from_host else Command.DEV_ACK, b"", acked_seq)


# ------------------------------------------------------------------------------------------
# Validation: the single gate between bytes off the wire and an action.


def validate(frame: Frame) -> None:
    """Raise FrameError unless the frame is well formed in every field."""
    if not isinstance(frame.command, Command):
        raise FrameError(f"unknown command {frame.command!r}")
    if not 0 <= frame.seq <= 255:
        raise FrameError(f"seq {frame.seq} out of 0..255")
    lowest = BROADCAST if frame.command.from_host else 1
    if not lowest <= frame.address <= MAX_ADDRESS:
        raise FrameError(f"address {frame.address} out of {lowest}..{MAX_ADDRESS}")
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    problem = _PAYLOAD_CHECKS[frame.command](frame.payload)
    if problem:
        raise FrameError(f"{frame.command.name} payload {frame.payload.hex(' ')}: {problem}")


def _check_key(p: bytes) -> str:
    if not p or p[0] not in Key._value2member_map_:
        return "unknown key"
    key, rest = Key(p[0]), p[1:]
    if key is Key.DIGIT:
        return "" if len(rest) == 1 and rest[0] <= 9 else "digit must be one byte 0..9"
    if key is Key.TRANSFER:
        if len(rest) == 3 and rest[0] == ord("C"):
            n = int.from_bytes(rest[1:], "big")
            return "" if 1 <= n <= MAX_TRANSFER_COUNTER else f"target counter {n} out of range"
        if len(rest) == 2 and rest[0] == ord("B"):
            return "" if ord("A") <= rest[1] <= ord("Z") else "target prefix must be A-Z"
        return "transfer target must be 'C'+u16 or 'B'+letter"
    return "" if not rest else "unexpected bytes after the key"


def _check_stars(p: bytes) -> str:
    return "" if len(p) == 1 and 1 <= p[0] <= MAX_STARS else f"stars must be one byte 1..{MAX_STARS}"


def _check_heartbeat(p: bytes) -> str:
    if len(p) != 4 or p[0] not in DeviceKind._value2member_map_:
        return "expected kind + 3 version bytes"
    return ""


def _check_led(p: bytes) -> str:
    if not p or p[0] not in TextEncoding._value2member_map_:
        return "unknown text encoding"
    try:
        p[1:].decode(TextEncoding(p[0]).codec)
    except UnicodeDecodeError:
        return "text does not decode"
    return ""


def _check_voice(p: bytes) -> str:
    return "" if len(p) == 1 and p[0] in Voice._value2member_map_ else "unknown voice prompt"


def _check_beep(p: bytes) -> str:
    return "" if len(p) == 1 and p[0] >= 1 else "beep length must be one byte >= 1"


def _check_time(p: bytes) -> str:
    if len(p) != 7:
        return "expected 7 bytes"
    try:
        dt.datetime(int.from_bytes(p[0:2], "big"), p[2], p[3], p[4], p[5], p[6])
    except ValueError as err:
        return f"not a valid time: {err}"
    return ""


def _check_empty(p: bytes) -> str:
    return "" if not p else "acknowledgement carries no payload"


_PAYLOAD_CHECKS = {
    Command.KEY: _check_key,
    Command.STARS: _check_stars,
    Command.HEARTBEAT: _check_heartbeat,
    Command.DEV_ACK: _check_empty,
    Command.LED_TEXT: _check_led,
    Command.VOICE: _check_voice,
    Command.BEEP: _check_beep,
    Command.SET_TIME: _check_time,
    Command.ACK: _check_empty,
}
