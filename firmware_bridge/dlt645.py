"""`dlt645`: the framing some Chinese 呼叫器 keypads use, shaped like a DL/T 645 meter frame.

    FF 68 LEN LEN 68 ADDR CMD DATA... CS 16

FF is a wake-up preamble, LEN counts ADDR..DATA, CS is the byte sum mod 256 from the second 68 to
the last data byte. The command codes are ours (the vendor layout leaves them open); see
docs/serial-protocol.md for the table. DATA is sent as is (no DL/T 645 "+33H" offset; a vendor that
applies it would set `DATA_OFFSET = 0x33` in a subclass).

There is no sequence number, so these devices are treated as fire-and-forget: the host still sends
an acknowledgement (the pads beep on it), but nothing is de-duplicated by sequence, and the twin in
this mode does not resend. An 8-bit sum is a weak check - two bit errors that cancel in the sum get
through - so the decoder also insists on the doubled LEN, both 68 markers, the 16 terminator, the
address range, a known command and a well-formed payload.
"""

from __future__ import annotations

from firmware_bridge.codec import Codec, DecoderStats, register
from firmware_bridge.errors import FrameError
from firmware_bridge.frame import MAX_PAYLOAD, Command, Frame, TextEncoding
from hw.keypad import Key

PREAMBLE = 0xFF
START = 0x68
END = 0x16
HEAD = 4  # 68 LEN LEN 68
MAX_LEN = 2 + MAX_PAYLOAD

# Our frame -> their CMD byte. Keys are one command code each, as on the real keypads.
KEY_BASE = 0x80
CMD_STARS = 0x90
CMD_DEV_ACK = 0x9E
CMD_HEARTBEAT = 0x9F
CMD_SET_TIME = 0x08  # the DL/T 645 broadcast time-sync code
CMD_LED_TEXT = 0x11
CMD_VOICE = 0x12
CMD_BEEP = 0x13
CMD_ACK = 0x1E

_SIMPLE = {
    Command.STARS: CMD_STARS,
    Command.HEARTBEAT: CMD_HEARTBEAT,
    Command.DEV_ACK: CMD_DEV_ACK,
    Command.VOICE: CMD_VOICE,
    Command.BEEP: CMD_BEEP,
    Command.ACK: CMD_ACK,
}
_SIMPLE_BACK = {v: k for k, v in _SIMPLE.items()}


def _bcd(n: int) -> int:
    return (n // 10) << 4 | (n % 10)


def _unbcd(b: int) -> int:
    hi, lo = b >> 4, b & 0x0F
    if hi > 9 or lo > 9:
        raise FrameError(f"byte {b:02X} is not BCD")
    return hi * 10 + lo


def command_code(frame: Frame) -> tuple[int, bytes]:
    """(CMD, DATA) for one of our frames."""
    p = frame.payload
    if frame.command is Command.KEY:
        key = Key(p[0])
        if key is Key.DIGIT:
            return KEY_BASE | key, bytes([0x30 + p[1]])
        if key is Key.TRANSFER:
            if p[1:2] == b"B":
                return KEY_BASE | key, p[2:3]
            n = int.from_bytes(p[2:4], "big")
            return KEY_BASE | key, bytes([_bcd(n // 100), _bcd(n % 100)])
        return KEY_BASE | key, b""
    if frame.command is Command.LED_TEXT:
        return CMD_LED_TEXT, frame.text().encode("gb18030")
    if frame.command is Command.SET_TIME:
        t = frame.time()
        return CMD_SET_TIME, bytes(_bcd(x) for x in (t.second, t.minute, t.hour, t.day, t.month, t.year % 100))
    return _SIMPLE[frame.command], p


def our_payload(cmd: int, data: bytes) -> tuple[Command, bytes]:
    """Inverse of `command_code`; raises ValueError (FrameError) for what we cannot map."""
    if KEY_BASE < cmd <= KEY_BASE | max(Key):
        key = Key(cmd & 0x7F)
        if key is Key.DIGIT:
            if len(data) != 1 or not 0x30 <= data[0] <= 0x39:
                raise FrameError("digit key needs one ASCII digit")
            return Command.KEY, bytes([key, data[0] - 0x30])
        if key is Key.TRANSFER and len(data) == 1:
            return Command.KEY, bytes([key]) + b"B" + data
        if key is Key.TRANSFER and len(data) == 2:
            n = _unbcd(data[0]) * 100 + _unbcd(data[1])
            return Command.KEY, bytes([key]) + b"C" + n.to_bytes(2, "big")
        return Command.KEY, bytes([key]) + data
    if cmd == CMD_LED_TEXT:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as err:
            raise FrameError("LED text is not GB18030") from err
        return Command.LED_TEXT, bytes([TextEncoding.UTF8]) + text.encode("utf-8")
    if cmd == CMD_SET_TIME:
        if len(data) != 6:
            raise FrameError("time needs 6 BCD bytes")
        s, mi, h, d, mo, y = (_unbcd(b) for b in data)
        return Command.SET_TIME, (2000 + y).to_bytes(2, "big") + bytes([mo, d, h, mi, s])
    return _SIMPLE_BACK[cmd], data  # KeyError (a LookupError) for an unknown code


@register
class Dlt645Codec(Codec):
    name = "dlt645"
    has_seq = False
    DATA_OFFSET = 0

    def encode(self, frame: Frame) -> bytes:
        cmd, data = command_code(frame)
        data = bytes((b + self.DATA_OFFSET) & 0xFF for b in data)
        if len(data) + 2 > MAX_LEN:
            raise FrameError(f"{frame.command.name} data of {len(data)} bytes is too long for dlt645")
        body = bytes([START, frame.address, cmd]) + data
        return bytes([PREAMBLE, START, len(data) + 2, len(data) + 2]) + body + bytes([sum(body) & 0xFF, END])

    def decoder(self) -> Dlt645Decoder:
        return Dlt645Decoder(self.DATA_OFFSET)


class Dlt645Decoder:
    """Scans for 68 LEN LEN 68; on any failure it slides one byte on, so a false start in noise
    never hides a real frame. If a candidate waits for bytes that may never come, a complete valid
    frame further on in the buffer wins: that is what keeps resync within one frame."""

    def __init__(self, data_offset: int = 0) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._offset = data_offset

    def reset(self) -> None:
        self.stats.discarded_bytes += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while True:
            i = self._buf.find(START)
            if i < 0:  # keep a trailing wake-up preamble: its 68 may be in the next chunk
                keep = len(self._buf) - len(self._buf.rstrip(bytes([PREAMBLE])))
                self._discard(len(self._buf) - min(keep, 4))
                return out
            self._discard(i)
            kind, size, frame = self._candidate(0)
            if kind == "ok" and frame is not None:
                self.stats.frames += 1
                out.append(frame)
                del self._buf[:size]
            elif kind == "wait":
                later = self._later_frame()
                if later == 0:
                    return out
                self.stats.crc_errors += 1
                self._discard(later)
            else:
                self._count(kind)
                self._discard(1)

    def _discard(self, n: int) -> None:
        """Drop n bytes; wake-up FF bytes right before a 68 are not noise."""
        if n <= 0:
            return
        chunk = self._buf[:n]
        if n < len(self._buf) and self._buf[n] == START:
            chunk = chunk.rstrip(bytes([PREAMBLE]))
        self.stats.discarded_bytes += len(chunk)
        del self._buf[:n]

    def _count(self, kind: str) -> None:
        if kind == "damaged":
            self.stats.crc_errors += 1
        elif kind == "invalid":
            self.stats.invalid += 1

    def _later_frame(self) -> int:
        """Offset of the first complete valid frame after position 0, or 0 if none."""
        j = self._buf.find(START, 1)
        while j > 0:
            if self._candidate(j)[0] == "ok":
                return j
            j = self._buf.find(START, j + 1)
        return 0

    def _candidate(self, at: int) -> tuple[str, int, Frame | None]:
        """('ok', size, frame) | ('wait', 0, None) | ('header'|'damaged'|'invalid', 0, None)."""
        b = self._buf
        avail = len(b) - at
        if avail >= 2 and not 2 <= b[at + 1] <= MAX_LEN:
            return "header", 0, None
        if (avail >= 3 and b[at + 2] != b[at + 1]) or (avail >= 4 and b[at + 3] != START):
            return "header", 0, None
        if avail < HEAD:
            return "wait", 0, None
        n = b[at + 1]
        size = HEAD + n + 2
        if len(b) - at < size:
            return "wait", 0, None
        body = b[at + 3 : at + HEAD + n]
        if b[at + size - 1] != END or sum(body) & 0xFF != b[at + size - 2]:
            return "damaged", 0, None
        data = bytes((x - self._offset) & 0xFF for x in body[3:])
        try:
            cmd, payload = our_payload(body[2], data)
            frame = Frame(body[1], cmd, payload, 0)
        except (ValueError, LookupError):  # FrameError is a ValueError; unknown codes are KeyErrors
            return "invalid", 0, None
        return "ok", size, frame
