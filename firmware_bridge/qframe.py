"""`qframe`: our own framing, HDLC-style.

    7E | ADDR SEQ CMD LEN PAYLOAD[LEN] CRC_HI CRC_LO | 7E      (the middle part byte-stuffed)

Why this shape: the flag byte 0x7E never occurs inside a frame (0x7E -> 7D 5E, 0x7D -> 7D 5D), so
a receiver that lost its place - noise, a frame cut in half, an adapter unplugged mid-frame - is
back in step at the very next flag. Each frame carries its own opening and closing flag, so a
damaged neighbour never takes an intact frame down with it. The CRC is CRC-16/CCITT-FALSE (poly
0x1021, init 0xFFFF) over the unstuffed ADDR..PAYLOAD: it catches every 1-, 2- and 3-bit error and
every odd number of flipped bits in frames this short, and every burst up to 16 bits; LEN, the
address range, the command table and the payload rules are further independent checks.
"""

from __future__ import annotations

import binascii

from firmware_bridge.codec import Codec, DecoderStats, register
from firmware_bridge.frame import MAX_PAYLOAD, Command, Frame

FLAG = 0x7E
ESC = 0x7D
ESC_XOR = 0x20
HEADER = 4
CRC_LEN = 2
# Longest stuffed body: every byte escaped. Anything longer between two flags is noise.
MAX_STUFFED = 2 * (HEADER + MAX_PAYLOAD + CRC_LEN)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (check value 0x29B1 for b"123456789"); binascii does it in C."""
    return binascii.crc_hqx(data, 0xFFFF)


def stuff(body: bytes) -> bytes:
    return body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


def unstuff(body: bytes) -> bytes | None:
    """Undo stuffing; None for an escape that a sender could not have produced."""
    if ESC not in body:
        return body
    out = bytearray()
    it = iter(body)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt not in (FLAG ^ ESC_XOR, ESC ^ ESC_XOR):
                return None
            out.append(nxt ^ ESC_XOR)
        else:
            out.append(b)
    return bytes(out)


@register
class QFrameCodec(Codec):
    name = "qframe"
    has_seq = True

    def encode(self, frame: Frame) -> bytes:
        body = bytes([frame.address, frame.seq, frame.command, len(frame.payload)]) + frame.payload
        body += crc16(body).to_bytes(2, "big")
        return bytes([FLAG]) + stuff(body) + bytes([FLAG])

    def decoder(self) -> QFrameDecoder:
        return QFrameDecoder()


class QFrameDecoder:
    """Splits the stream at flags and checks each piece; whatever fails is counted and dropped."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._overflow = False  # inside an over-long run: drop until the next flag

    def reset(self) -> None:
        self.stats.discarded_bytes += len(self._buf)
        self._buf.clear()
        self._overflow = False

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        start = 0
        while True:
            i = data.find(FLAG, start)
            if i < 0:
                self._keep(data[start:])
                return out
            self._keep(data[start:i])
            if self._overflow:
                self._overflow = False
            elif self._buf:
                frame = self._check(bytes(self._buf))
                if frame is not None:
                    out.append(frame)
            self._buf.clear()
            start = i + 1

    def _keep(self, chunk: bytes) -> None:
        if self._overflow:
            self.stats.discarded_bytes += len(chunk)
            return
        self._buf += chunk
        if len(self._buf) > MAX_STUFFED:
            self.stats.discarded_bytes += len(self._buf)
            self.stats.crc_errors += 1
            self._buf.clear()
            self._overflow = True

    def _check(self, stuffed: bytes) -> Frame | None:
        body = unstuff(stuffed)
        if len(stuffed) < HEADER + CRC_LEN:  # a stray byte or two between flags: line noise
            self.stats.discarded_bytes += len(stuffed)
            return None
        if (
            body is None
            or len(body) < HEADER + CRC_LEN
            or body[3] != len(body) - HEADER - CRC_LEN
            or crc16(body[:-CRC_LEN]) != int.from_bytes(body[-CRC_LEN:], "big")
        ):
            self._reject(stuffed, damaged=True)
            return None
        try:
            frame = Frame(body[0], Command(body[2]), body[HEADER:-CRC_LEN], body[1])
        except ValueError:  # unknown command code, or FrameError: a payload that breaks the rules
            self._reject(stuffed, damaged=False)
            return None
        self.stats.frames += 1
        return frame

    def _reject(self, stuffed: bytes, *, damaged: bool) -> None:
        if damaged:
            self.stats.crc_errors += 1
        else:
            self.stats.invalid += 1
        self.stats.discarded_bytes += len(stuffed)
