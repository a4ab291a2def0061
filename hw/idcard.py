"""Second-generation ID card reader (身份证阅读器) on a serial line, the common SAM module protocol.

Frame (both directions): preamble `AA AA AA 96 69`, length (2 bytes, big-endian: bytes that follow,
checksum included), payload, checksum (XOR of the length bytes and the payload). Host payloads are a
command and a parameter (`20 01` find card, `20 02` select card, `30 01` read text + photo, `11 FF`
SAM status); reader payloads start with three status bytes `SW1 SW2 SW3` (`00 00 90` ok, `00 00 9F`
card found, `00 00 80` no card, `00 00 81` select failed, `00 00 41` read failed).

The text block is 256 bytes of UCS-2 little-endian in fixed fields (name 15 chars, sex 1, nation 2,
birth 8, address 35, ID number 18, authority 15, valid from 8, valid to 8, reserved 18). The ID number's
GB 11643 check digit and its birth date are verified; a card that fails is an unreadable card.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date

from hw.identity import FrameError, Kind, Presented, ReaderOffline, Secret, UnreadableCard
from hw.serial_reader import ReaderPort
from hw.twinpty import PtyTwin

_LOG = logging.getLogger(__name__)

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
BAUDRATE = 115200
CMD_FIND = b"\x20\x01"
CMD_SELECT = b"\x20\x02"
CMD_READ = b"\x30\x01"
CMD_SAM_STATUS = b"\x11\xff"
SW_OK = b"\x00\x00\x90"
SW_FOUND = b"\x00\x00\x9f"
SW_NO_CARD = b"\x00\x00\x80"
SW_SELECT_FAIL = b"\x00\x00\x81"
SW_READ_FAIL = b"\x00\x00\x41"
TEXT_LEN = 256
PHOTO_LEN = 1024
MAX_BODY = 4096
# (field, characters) in the order of the text block.
TEXT_FIELDS = (
    ("name", 15), ("sex", 1), ("nation", 2), ("birth", 8), ("address", 35),
    ("id_number", 18), ("authority", 15), ("valid_from", 8), ("valid_to", 8), ("reserved", 18),
)
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_CHECK_CODES = "10X98765432"
SEX = {"1": "M", "2": "F"}


def checksum(data: bytes) -> int:
    out = 0
    for b in data:
        out ^= b
    return out


def build_frame(payload: bytes) -> bytes:
    """Preamble + length + payload + XOR checksum."""
    length = (len(payload) + 1).to_bytes(2, "big")
    return PREAMBLE + length + payload + bytes([checksum(length + payload)])


class FrameParser:
    """Pulls frames out of a byte stream; skips noise before a preamble; raises FrameError on a bad one."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(PREAMBLE)
            if start < 0:
                del self._buf[: max(0, len(self._buf) - len(PREAMBLE) + 1)]
                return frames
            del self._buf[:start]
            if len(self._buf) < 7:
                return frames
            length = int.from_bytes(self._buf[5:7], "big")
            if not 2 <= length <= MAX_BODY:
                del self._buf[:5]
                raise FrameError(f"ID reader frame length {length} out of range")
            if len(self._buf) < 7 + length:
                return frames
            body = bytes(self._buf[5 : 7 + length])
            del self._buf[: 7 + length]
            if checksum(body[:-1]) != body[-1]:
                raise FrameError("ID reader frame checksum mismatch")
            frames.append(body[2:-1])

    def clear(self) -> None:
        self._buf.clear()


def check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CODES[total % 11]


def valid_id_number(number: str) -> bool:
    """18 characters, 17 digits, the right check character and a real birth date."""
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return False
    if check_digit(number[:17]) != number[17]:
        return False
    return _birth_from_number(number) is not None


def _birth_from_number(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


@dataclass(frozen=True, repr=False)
class IdCard:
    """The text fields of a card (used by the twin to make cards; real data never stored)."""

    name: str
    sex: str  # "1" male, "2" female (the card's code)
    nation: str
    birth: str  # YYYYMMDD
    address: str
    id_number: str
    authority: str = "深圳市公安局福田分局"
    valid_from: str = "20200101"
    valid_to: str = "20400101"

    def __repr__(self) -> str:
        return "IdCard(<masked>)"

    def text_block(self) -> bytes:
        out = b""
        for fname, chars in TEXT_FIELDS:
            value = "" if fname == "reserved" else getattr(self, fname)
            out += value[:chars].ljust(chars).encode("utf-16-le")
        return out


def decode_text(text: bytes) -> Presented:
    """Text block -> Presented, verifying the ID number; raises UnreadableCard."""
    if len(text) != TEXT_LEN:
        raise UnreadableCard(f"ID text block is {len(text)} bytes, expected {TEXT_LEN}")
    fields: dict[str, str] = {}
    pos = 0
    try:
        for fname, chars in TEXT_FIELDS:
            fields[fname] = text[pos : pos + 2 * chars].decode("utf-16-le").rstrip(" \x00")
            pos += 2 * chars
    except UnicodeDecodeError as err:
        raise UnreadableCard("ID text block is not UCS-2") from err
    number = fields.pop("id_number").upper()
    if not valid_id_number(number):
        raise UnreadableCard("ID number fails the GB 11643 check", zh="身份证无法识别，请重试")
    born = _birth_from_number(number)
    if fields["birth"] != number[6:14]:
        raise UnreadableCard("ID birth date field disagrees with the ID number", zh="身份证无法识别，请重试")
    if not fields["name"]:
        raise UnreadableCard("ID card has no name", zh="身份证无法识别，请重试")
    kind: Kind = "id_card"
    return Presented(
        kind=kind,
        number=Secret(number),
        name=fields["name"],
        birth_date=born,
        sex=SEX.get(fields["sex"], ""),
    )


class IdCardReader:
    """Polls a SAM-module ID reader: find card, select, read. One card on the reader is read once."""

    kind: Kind = "id_card"

    def __init__(self, port: str, *, baudrate: int = BAUDRATE, answer_s: float = 0.6,
                 poll_s: float = 0.15) -> None:
        self._answer_s = answer_s
        self._poll_s = poll_s
        self._parser = FrameParser()
        self._held = False
        self._port = ReaderPort("ID reader", port, baudrate)
        try:
            sw, _ = self._command(CMD_SAM_STATUS)
            if sw != SW_OK:
                raise ReaderOffline(f"ID reader SAM status {sw.hex()}")
        except BaseException:
            self.close()
            raise

    def read(self, timeout: float) -> Presented | None:
        """Wait up to `timeout` s for a newly placed card."""
        deadline = time.monotonic() + timeout
        while not self._port.closed.is_set():
            got = self.poll()
            if got is not None:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._port.closed.wait(min(self._poll_s, left))
        return None

    def poll(self) -> Presented | None:
        """One find / select / read round; None when no new card is on the reader."""
        sw, _ = self._command(CMD_FIND)
        if sw != SW_FOUND:
            self._held = False
            return None
        if self._held:
            return None
        sw, _ = self._command(CMD_SELECT)
        if sw != SW_OK:
            return None
        self._held = True  # one report per placement, good or bad: lift and place again to retry
        try:
            sw, data = self._command(CMD_READ)
        except FrameError:
            _LOG.info("ID card data frame corrupt; reading once more")
            sw, data = self._command(CMD_READ)
        if sw != SW_OK:
            raise UnreadableCard(f"ID reader could not read the card ({sw.hex()})", zh="身份证读取失败，请重新放置")
        return _parse_read(data)

    def _command(self, cmd: bytes) -> tuple[bytes, bytes]:
        self._parser.clear()
        self._port.discard_input()
        self._port.write(build_frame(cmd))
        deadline = time.monotonic() + self._answer_s
        while time.monotonic() < deadline:
            chunk = self._port.read()
            if chunk:
                frames = self._parser.feed(chunk)
                if frames:
                    reply = frames[0]
                    if len(reply) < 3:
                        raise FrameError("ID reader reply shorter than its status bytes")
                    return reply[:3], reply[3:]
        raise ReaderOffline(f"ID reader did not answer command {cmd.hex()}")

    def close(self) -> None:
        """Close the port; safe twice."""
        self._port.close()

    def __enter__(self) -> IdCardReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_read(data: bytes) -> Presented:
    if len(data) < 4:
        raise FrameError("ID read reply has no length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if len(data) != 4 + text_len + photo_len:
        raise FrameError("ID read reply lengths do not add up")
    return decode_text(data[4 : 4 + text_len])


class IdCardTwin(PtyTwin):
    """A SAM-module ID reader on a pty: place a card, remove it, or corrupt the next reply."""

    def __init__(self, *, paced: bool = True) -> None:
        self._card: IdCard | None = None
        self._corrupt_next = False
        self._silent = False
        self._parser = FrameParser()
        self.commands: list[bytes] = []
        self._finds = 0  # FIND polls answered so far
        self._polled = threading.Condition()
        super().__init__(BAUDRATE, paced=paced)

    def place(self, card: IdCard) -> None:
        self._card = card

    def remove(self) -> None:
        """Lift the card. A person then takes longer than one poll to place the next one: a test
        that swaps cards waits with `wait_polled()` first, or the reader sees one long placement."""
        self._card = None

    def wait_polled(self, timeout: float = 5.0) -> bool:
        """Until the reader has polled (FIND) again since this call: it has seen the reader as it is now."""
        with self._polled:
            seen = self._finds
            return self._polled.wait_for(lambda: self._finds > seen, timeout)

    def corrupt_next_read(self) -> None:
        """The next card-data reply gets one flipped byte (a noisy line)."""
        self._corrupt_next = True

    def go_silent(self, silent: bool = True) -> None:
        """Stop answering (unplugged)."""
        self._silent = silent

    def on_bytes(self, data: bytes) -> None:
        try:
            frames = self._parser.feed(data)
        except FrameError:
            return
        for cmd in frames:
            self.commands.append(cmd)
            if not self._silent:
                self.write(self._answer(cmd))

    def _answer(self, cmd: bytes) -> bytes:
        if cmd == CMD_FIND:
            with self._polled:  # counted before the card is looked at: a later count saw a later state
                self._finds += 1
                self._polled.notify_all()
        card = self._card
        if cmd == CMD_SAM_STATUS:
            return build_frame(SW_OK)
        if cmd == CMD_FIND:
            return build_frame(SW_FOUND if card else SW_NO_CARD)
        if cmd == CMD_SELECT:
            return build_frame(SW_OK if card else SW_SELECT_FAIL)
        if cmd == CMD_READ:
            if card is None:
                return build_frame(SW_READ_FAIL)
            text = card.text_block()
            body = SW_OK + len(text).to_bytes(2, "big") + PHOTO_LEN.to_bytes(2, "big") + text + bytes(PHOTO_LEN)
            frame = bytearray(build_frame(body))
            if self._corrupt_next:
                self._corrupt_next = False
                frame[40] ^= 0x01
            return bytes(frame)
        return build_frame(b"\x00\x00\x21")  # unknown command
