"""Passbook (存折) stripe reader on a serial line, with a small line protocol of the usual kind.

Every line, both ways, is ASCII `$BODY*HH\\r\\n`, where HH is the XOR of the BODY characters in hex
(the NMEA idea: cheap, and a garbled line is caught). 9600 8N1.

    host -> reader   $RD      arm: take and read the next passbook inserted      -> $OK
                     $EJ      eject the passbook                                  -> $OK
                     $ST      status                                              -> $ST,READY | $ST,BUSY
    reader -> host   $PB,<account digits>   a passbook was read
                     $ER,<reason>           NOSTRIPE | READ | JAM: nothing usable was read

The reader ejects and re-arms after every passbook, good or bad, so the next customer can insert.
"""

from __future__ import annotations

import logging
import threading
import time

from hw.identity import FrameError, Kind, Presented, ReaderOffline, Secret, UnreadableCard
from hw.serial_reader import LineReader, ReaderPort
from hw.twinpty import PtyTwin

_LOG = logging.getLogger(__name__)

BAUDRATE = 9600
MAX_LINE = 128


def line_checksum(body: str) -> str:
    out = 0
    for ch in body.encode("ascii"):
        out ^= ch
    return f"{out:02X}"


def encode_line(body: str) -> bytes:
    return f"${body}*{line_checksum(body)}\r\n".encode("ascii")


def decode_line(raw: bytes) -> str:
    """`$BODY*HH` -> BODY; raises FrameError on a bad start, checksum or character."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError as err:
        raise FrameError("passbook reader sent non-ASCII bytes", zh="存折读取失败，请重试") from err
    if not text.startswith("$") or len(text) < 4 or text[-3] != "*":
        raise FrameError("passbook reader line is not $BODY*HH", zh="存折读取失败，请重试")
    body, given = text[1:-3], text[-2:]
    if line_checksum(body) != given.upper():
        raise FrameError("passbook reader line checksum mismatch", zh="存折读取失败，请重试")
    return body


class PassbookReader:
    """Reads passbooks: arms the reader, returns each passbook read, ejects and re-arms."""

    kind: Kind = "passbook"

    def __init__(self, port: str, *, baudrate: int = BAUDRATE, answer_s: float = 0.5) -> None:
        self._answer_s = answer_s
        self._port = ReaderPort("passbook reader", port, baudrate)
        self._lines = LineReader(self._port, max_line=MAX_LINE, retry_zh="存折读取失败，请重试")
        try:
            self._send("ST")
            reply = self._next_body(time.monotonic() + answer_s)
            if reply is None or not reply.startswith("ST,"):
                raise ReaderOffline("passbook reader did not answer its status request")
            self._send("RD")
        except BaseException:
            self.close()
            raise

    def read(self, timeout: float) -> Presented | None:
        deadline = time.monotonic() + timeout
        while not self._port.closed.is_set():
            try:
                body = self._next_body(deadline)
            except FrameError:
                self._rearm()
                raise
            if body is None:
                return None
            if body.startswith("PB,"):
                self._rearm()
                return _passbook(body[3:])
            if body.startswith("ER,"):
                self._rearm()
                raise UnreadableCard(f"passbook reader error {body[3:]}", zh="存折无法识别，请重试")
            # $OK and $ST replies need nothing
        return None

    def _rearm(self) -> None:
        self._send("EJ")
        self._send("RD")

    def _send(self, body: str) -> None:
        self._port.write(encode_line(body))

    def _next_body(self, deadline: float) -> str | None:
        line = self._lines.next_line(deadline)
        return None if line is None else decode_line(line)

    def close(self) -> None:
        self._port.close()


def _passbook(account: str) -> Presented:
    if not account.isdigit() or not 8 <= len(account) <= 32:
        raise UnreadableCard("passbook account is not 8-32 digits", zh="存折无法识别，请重试")
    kind: Kind = "passbook"
    return Presented(kind=kind, number=Secret(account))


class PassbookTwin(PtyTwin):
    """A passbook reader on a pty. `insert()` is refused (returns False) unless the host armed it."""

    def __init__(self, *, paced: bool = True) -> None:
        self._buf = bytearray()
        self.armed = threading.Event()
        self.commands: list[str] = []
        self._corrupt_next = False
        super().__init__(BAUDRATE, paced=paced)

    def insert(self, account: str) -> bool:
        return self._emit(f"PB,{account}")

    def insert_blank(self) -> bool:
        """A passbook with no readable stripe."""
        return self._emit("ER,NOSTRIPE")

    def corrupt_next(self) -> None:
        self._corrupt_next = True

    def _emit(self, body: str) -> bool:
        if not self.armed.is_set():
            return False
        self.armed.clear()
        line = bytearray(encode_line(body))
        if self._corrupt_next:
            self._corrupt_next = False
            line[4] ^= 0x01
        self.write(bytes(line))
        return True

    def on_bytes(self, data: bytes) -> None:
        self._buf += data
        while (nl := self._buf.find(b"\n")) >= 0:
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            try:
                body = decode_line(raw)
            except FrameError:
                continue
            self.commands.append(body)
            if body == "ST":
                self.write(encode_line("ST,READY"))
            elif body == "RD":
                self.write(encode_line("OK"))
                self.armed.set()
            elif body == "EJ":
                self.write(encode_line("OK"))
