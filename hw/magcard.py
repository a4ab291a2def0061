"""Magnetic stripe (bank card) readers: the USB-keyboard kind (python-evdev) and the serial kind.

A keyboard-wedge reader "types" the tracks followed by Enter: `%B<PAN>^<NAME>^...?` (track 1) and
`;<PAN>=<YYMM><service code>...?` (track 2). We read it through evdev and *grab* the device so the
swipe never types into the kiosk screen. The serial kind sends the same text as one line.

The PAN's Luhn digit is verified: a misread stripe is an unreadable card, never a wrong customer.
evdev is an optional extra (`pip install qcall[evdev]`); the key-event decoding here needs no evdev,
so it is tested without a device.
"""

from __future__ import annotations

import logging
import re
import select
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from hw.identity import FrameError, Kind, Presented, ReaderError, ReaderOffline, Secret, UnreadableCard
from hw.serial_reader import LineReader, ReaderPort
from hw.twinpty import PtyTwin

_LOG = logging.getLogger(__name__)

EV_KEY = 1
KEY_ENTER = 28
KEY_KPENTER = 96
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
_SHIFTS = {KEY_LEFTSHIFT, KEY_RIGHTSHIFT}
# Linux input key codes (US layout) -> (plain, shifted).
_KEYMAP: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"),
    8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"), 13: ("=", "+"),
    26: ("[", "{"), 27: ("]", "}"), 39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"), 43: ("\\", "|"),
    51: (",", "<"), 52: (".", ">"), 53: ("/", "?"), 57: (" ", " "),
    71: ("7", "7"), 72: ("8", "8"), 73: ("9", "9"), 75: ("4", "4"), 76: ("5", "5"), 77: ("6", "6"),
    79: ("1", "1"), 80: ("2", "2"), 81: ("3", "3"), 82: ("0", "0"),
}
for _code, _letter in zip(
    [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35, 36, 37, 38, 44, 45, 46, 47, 48, 49, 50],
    "qwertyuiopasdfghjklzxcvbnm",
    strict=True,
):
    _KEYMAP[_code] = (_letter, _letter.upper())
_CHAR_TO_KEY: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in _KEYMAP.items():
    if _code < 71:  # the keypad is decoded but never used to type
        _CHAR_TO_KEY.setdefault(_plain, (_code, False))
        _CHAR_TO_KEY.setdefault(_shifted, (_code, True))

_TRACK1 = re.compile(r"%B(\d{1,19})\^([^^]{0,26})\^([^?]*)\?")
_TRACK2 = re.compile(r";(\d{1,19})=(\d*)\?")
_ERROR = re.compile(r"[%;+]E\?")
MAX_LINE = 512


def _luhn_sum(digits: str, first_doubled: bool) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if (i % 2 == 0) == first_doubled:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total


def luhn_ok(pan: str) -> bool:
    """The Luhn (mod 10) check every bank card number carries."""
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        return False
    return _luhn_sum(pan, first_doubled=False) % 10 == 0


def luhn_complete(body: str) -> str:
    """`body` with its Luhn check digit appended: how twins and tests make valid card numbers."""
    return body + str((10 - _luhn_sum(body, first_doubled=True) % 10) % 10)


def parse_swipe(line: str) -> Presented:
    """Tracks typed by a reader -> Presented(bank_card). Track 2 wins; track 1 gives the name."""
    t1 = _TRACK1.search(line)
    t2 = _TRACK2.search(line)
    pan = t2.group(1) if t2 else (t1.group(1) if t1 else "")
    if not pan:
        if _ERROR.search(line):
            raise UnreadableCard("the reader reported a track read error", zh="刷卡失败，请重新刷卡")
        raise FrameError("no track 1 or track 2 in the swipe", zh="刷卡失败，请重新刷卡")
    if t1 and t2 and t1.group(1) != t2.group(1):
        raise UnreadableCard("track 1 and track 2 disagree", zh="刷卡失败，请重新刷卡")
    if not luhn_ok(pan):
        raise UnreadableCard("card number fails the Luhn check", zh="刷卡失败，请重新刷卡")
    name = _track1_name(t1.group(2)) if t1 else ""
    kind: Kind = "bank_card"
    return Presented(kind=kind, number=Secret(pan), name=name)


def _track1_name(raw: str) -> str:
    """`SMITH/JOHN` -> `JOHN SMITH`; blanks (most UnionPay cards) -> ''."""
    raw = raw.strip()
    if "/" in raw:
        surname, _, given = raw.partition("/")
        return f"{given.strip()} {surname.strip()}".strip()
    return raw


class KeySwipeDecoder:
    """Key events of a keyboard-wedge reader -> the typed line, ended by Enter.

    A pause longer than `gap_s` between keys drops what came before: a reader types a whole swipe in
    well under a second, so a stale half line is noise, not the start of a card.
    """

    def __init__(self, gap_s: float = 0.5) -> None:
        self.gap_s = gap_s
        self._chars: list[str] = []
        self._shift = 0
        self._last_t: float | None = None

    def feed(self, code: int, value: int, t: float) -> str | None:
        """One EV_KEY event (value 1 down, 0 up, 2 repeat); returns the line on Enter."""
        if code in _SHIFTS:
            self._shift = max(0, self._shift + (1 if value == 1 else -1 if value == 0 else 0))
            return None
        if value != 1:
            return None
        if self._last_t is not None and t - self._last_t > self.gap_s:
            self._chars.clear()
        self._last_t = t
        if code in (KEY_ENTER, KEY_KPENTER):
            line = "".join(self._chars)
            self._chars.clear()
            return line or None
        pair = _KEYMAP.get(code)
        if pair is not None and len(self._chars) < MAX_LINE:
            self._chars.append(pair[1] if self._shift else pair[0])
        return None


def keystrokes(text: str, *, enter: bool = True) -> list[tuple[int, int]]:
    """What a keyboard-wedge reader sends for `text`: (code, value) events, for twins and tests."""
    out: list[tuple[int, int]] = []
    for ch in text:
        code, shifted = _CHAR_TO_KEY[ch]
        if shifted:
            out.append((KEY_LEFTSHIFT, 1))
        out += [(code, 1), (code, 0)]
        if shifted:
            out.append((KEY_LEFTSHIFT, 0))
    if enter:
        out += [(KEY_ENTER, 1), (KEY_ENTER, 0)]
    return out


def swipe_text(pan: str, *, expiry: str = "2912", name: str = "", service: str = "220") -> str:
    """The tracks a reader types for a card (test and twin helper)."""
    t2 = f";{pan}={expiry}{service}0000000000?"
    if not name:
        return t2
    return f"%B{pan}^{name}^{expiry}{service}0000000000?" + t2


class EvdevMagReader:
    """A USB keyboard-wedge stripe reader read through evdev, grabbed so it never types elsewhere."""

    kind: Kind = "bank_card"

    def __init__(self, device: str, *, grab: bool = True, gap_s: float = 0.5) -> None:
        try:
            import evdev  # optional extra: qcall[evdev]
        except ImportError as err:
            raise ReaderError("USB stripe readers need python-evdev: pip install 'qcall[evdev]'") from err
        self._decoder = KeySwipeDecoder(gap_s)
        self._lines: deque[str] = deque()
        self._grabbed = False
        try:
            self._dev: Any = evdev.InputDevice(device)
        except OSError as err:
            raise ReaderOffline(f"stripe reader {device}: {err.strerror}") from err
        try:
            if grab:
                self._dev.grab()
                self._grabbed = True
        except OSError as err:
            self.close()
            raise ReaderOffline(f"cannot grab stripe reader {device}: {err.strerror}") from err

    def read(self, timeout: float) -> Presented | None:
        deadline = time.monotonic() + timeout
        while not self._lines:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([self._dev.fd], [], [], left)
                if not ready:
                    return None
                events: Iterable[Any] = self._dev.read()
            except OSError as err:
                raise ReaderOffline(f"stripe reader read failed: {err.strerror}") from err
            self._lines += decode_events(self._decoder, events)
        return parse_swipe(self._lines.popleft())

    def close(self) -> None:
        dev = getattr(self, "_dev", None)
        if dev is None:
            return
        self._dev = None
        try:
            if self._grabbed:
                dev.ungrab()
        except OSError:
            pass
        dev.close()


def decode_events(decoder: KeySwipeDecoder, events: Iterable[Any]) -> list[str]:
    """evdev InputEvents (anything with type/code/value/timestamp()) -> completed lines."""
    lines = []
    for ev in events:
        if ev.type != EV_KEY:
            continue
        line = decoder.feed(ev.code, ev.value, ev.timestamp())
        if line is not None:
            lines.append(line)
    return lines


class SerialMagReader:
    """A serial stripe reader: one line per swipe (optionally wrapped in STX ... ETX)."""

    kind: Kind = "bank_card"

    def __init__(self, port: str, *, baudrate: int = 9600) -> None:
        self._port = ReaderPort("stripe reader", port, baudrate)
        self._lines = LineReader(self._port, max_line=MAX_LINE, retry_zh="刷卡失败，请重新刷卡", ends=b"\n\r")

    def read(self, timeout: float) -> Presented | None:
        deadline = time.monotonic() + timeout
        while (line := self._lines.next_line(deadline)) is not None:
            raw = line.strip(b"\r\n\x02\x03 ")
            if raw:
                return _parse_line(raw)
        return None

    def close(self) -> None:
        self._port.close()


def _parse_line(raw: bytes) -> Presented:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise FrameError("stripe reader sent non-ASCII bytes", zh="刷卡失败，请重新刷卡") from err
    return parse_swipe(text)


class MagCardTwin(PtyTwin):
    """A serial stripe reader on a pty: `swipe()` sends the tracks of a card as one line."""

    def __init__(self, *, baudrate: int = 9600, paced: bool = True) -> None:
        super().__init__(baudrate, paced=paced)

    def swipe(self, pan: str, *, name: str = "", expiry: str = "2912") -> None:
        self.swipe_raw(swipe_text(pan, name=name, expiry=expiry))

    def swipe_raw(self, text: str | bytes) -> None:
        data = text.encode("ascii") if isinstance(text, str) else text
        self.write(data + b"\r\n")
