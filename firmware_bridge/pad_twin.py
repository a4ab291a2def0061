"""Device twin of the counter pads: teller keypads and star-rating pads on a pseudo-terminal.

The twin speaks the real protocol (any registered codec) on a `hw.twinpty.PtyTwin`, the pty every
device twin uses; the host opens `TwinLine.port` with real pyserial. The pty is paced both ways
(every byte leaves and arrives at the configured line speed, 10 bit-times at 8N1), so timings
measured against the twin include the time on the wire, in both directions.

Like gpiozero's MockPin: push events in (`press`, `rate`), assert on what was recorded (`led_text`,
`led_history`, `voices`, `received`). Any number of pads (addresses 1..32) share one `TwinLine`,
as on an RS-485 multi-drop line: one writer at a time, frames never interleave. A pad sends each
key or rating frame until the host acknowledges it (stop-and-wait, resend after a timeout with a
random back-off), so `drop_acks()` exercises the host's de-duplication. `unplug()` closes the pty
as a USB adapter would vanish; `replug()` brings a new one up behind the same path.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from firmware_bridge.codec import Codec, get_codec
from firmware_bridge.dedup import Deduper
from firmware_bridge.frame import (
    BROADCAST,
    Command,
    DeviceKind,
    Frame,
    Voice,
    ack_frame,
    heartbeat_frame,
    key_frame,
    stars_frame,
)
from hw.keypad import Key, KeyPress
from hw.twinpty import PtyTwin
from qbus.config.sections import PadKind, SerialCodec, SerialDevice, SerialLine

_LOG = logging.getLogger(__name__)


@dataclass(eq=False)
class Sent:
    """One device frame on its way to the host; `acked` is set when the host acknowledged it."""

    frame: Frame
    queued_at: float
    transmissions: list[float] = field(default_factory=list)  # perf_counter() at each start
    acked: threading.Event = field(default_factory=threading.Event)
    gave_up: bool = False
    tries_left: int = 0
    deadline: float = 0.0

    def wait_acked(self, timeout: float = 5.0) -> bool:
        return self.acked.wait(timeout)


@dataclass
class LedShown:
    text: str
    at: float  # perf_counter() when the LED frame was fully received


class PadTwin:
    """One pad (keypad or rating pad) at one address on a TwinLine."""

    def __init__(self, line: TwinLine, address: int, kind: str, firmware: str, heartbeat_s: float) -> None:
        self.line = line
        self.address = address
        self.kind = kind
        self.firmware = firmware
        self.heartbeat_s = heartbeat_s
        self.led_text = ""
        self.led_history: list[LedShown] = []
        self.voices: list[Voice] = []
        self.beeps: list[int] = []
        self.clock_set: dt.datetime | None = None
        self.received: list[Frame] = []  # every host frame for this pad, resends included
        self.sent: list[Sent] = []
        self.heartbeats_sent = 0
        self._outbox: deque[Sent] = deque()
        self._in_flight: Sent | None = None
        self._next_heartbeat = time.perf_counter() + heartbeat_s if heartbeat_s > 0 else float("inf")
        self._heartbeat_now = 0
        self._drop_acks = 0
        self._ignore_host = 0
        self._seq = 0
        self._dedup = Deduper()

    # ---------------------------------------------------------------- pushing events in

    def press(self, key: Key | str, *, digit: int = -1, counter: int = 0, prefix: str = "") -> Sent:
        """Press a key: the KEY frame is queued and sent until acknowledged."""
        k = key if isinstance(key, Key) else Key[key.upper()]
        return self._queue(key_frame(self.address, KeyPress(k, digit, counter, prefix)))

    def type_digits(self, digits: str, *, enter: bool = True) -> list[Sent]:
        """Key in a number (teller id, PIN) digit by digit, then ENTER."""
        sent = [self.press(Key.DIGIT, digit=int(d)) for d in digits]
        if enter:
            sent.append(self.press(Key.ENTER))
        return sent

    def login(self, teller: str, pin: str) -> list[Sent]:
        return self.type_digits(teller) + self.type_digits(pin)

    def rate(self, stars: int) -> Sent:
        """The customer presses a star key on the rating pad."""
        return self._queue(stars_frame(self.address, stars))

    def heartbeat(self) -> None:
        """Send one heartbeat now (fire-and-forget, as the firmware does every `heartbeat_s`)."""
        with self.line._cond:
            self._heartbeat_now += 1
            self.line._cond.notify_all()

    def stop_heartbeats(self) -> None:
        """The pad stops sending heartbeats (hung firmware, cable cut on RS-485)."""
        with self.line._cond:
            self._next_heartbeat = float("inf")
            self._heartbeat_now = 0

    def start_heartbeats(self, every_s: float | None = None) -> None:
        with self.line._cond:
            self.heartbeat_s = every_s or self.heartbeat_s or 1.0
            self._next_heartbeat = time.perf_counter()
            self.line._cond.notify_all()

    def drop_acks(self, n: int = 1) -> None:
        """Lose the host's next n acknowledgements: the pad resends, the host must de-duplicate."""
        with self.line._cond:
            self._drop_acks += n

    def ignore_host(self, n: int = 1) -> None:
        """Do not acknowledge the host's next n frames: the host resends, the pad de-duplicates."""
        with self.line._cond:
            self._ignore_host += n

    # ---------------------------------------------------------------- asserting on what was recorded

    def wait_for(self, predicate: Callable[[PadTwin], bool], timeout: float = 5.0) -> bool:
        with self.line._cond:
            return self.line._cond.wait_for(lambda: predicate(self), timeout)

    def wait_led(self, text: str, timeout: float = 5.0) -> bool:
        return self.wait_for(lambda p: p.led_text == text, timeout)

    def wait_all_acked(self, timeout: float = 5.0) -> bool:
        return self.wait_for(lambda p: not p._outbox and p._in_flight is None, timeout)

    @property
    def voice(self) -> Voice | None:
        return self.voices[-1] if self.voices else None

    # ---------------------------------------------------------------- internals (line lock held)

    def _queue(self, frame: Frame) -> Sent:
        with self.line._cond:
            if self.line.codec.has_seq:
                frame = frame.with_seq(self._seq)
                self._seq = (self._seq + 1) & 0xFF
            sent = Sent(frame, time.perf_counter(), tries_left=self.line.retries)
            self._outbox.append(sent)
            self.sent.append(sent)
            self.line._cond.notify_all()
        return sent

    def _host_frame(self, frame: Frame, now: float) -> Frame | None:
        """Apply a host frame; return the acknowledgement to send, if any."""
        if frame.command is Command.ACK:
            self._got_ack(frame)
            return None
        self.received.append(frame)
        if frame.address != BROADCAST and self._ignore_host > 0:
            self._ignore_host -= 1
            return None
        if not self.line.codec.has_seq or self._dedup.accept(frame, now):
            self._apply(frame, now)
        if frame.address == BROADCAST:
            return None
        return ack_frame(self.address, frame.seq, from_host=False)

    def _got_ack(self, frame: Frame) -> None:
        if self._drop_acks > 0:
            self._drop_acks -= 1
            return
        if not self.line.codec.has_seq:  # no seq: the acknowledgement answers the oldest open frame
            sent = next((s for s in self.sent if s.transmissions and not s.acked.is_set()), None)
            if sent is not None:
                sent.acked.set()
            return
        sent = self._in_flight
        if sent is None or sent.frame.seq != frame.seq:
            return
        self._in_flight = None
        sent.acked.set()

    def _apply(self, frame: Frame, now: float) -> None:
        if frame.command is Command.LED_TEXT:
            self.led_text = frame.text()
            self.led_history.append(LedShown(self.led_text, now))
        elif frame.command is Command.VOICE:
            self.voices.append(frame.voice())
        elif frame.command is Command.BEEP:
            self.beeps.append(frame.beep_ms())
        elif frame.command is Command.SET_TIME:
            self.clock_set = frame.time()

    def _next_job(self, now: float) -> tuple[Sent | Frame | None, float]:
        """What this pad wants to send now (a Sent, or a heartbeat Frame), else when to ask again.

        Looks only; `_take` commits the choice, so a pad that loses the line to another keeps its turn.
        """
        sent = self._in_flight
        if sent is not None and now >= sent.deadline and sent.tries_left <= 0:
            sent.gave_up = True  # out of retries: the frame is lost, the next one may go
            self._in_flight = None
            _LOG.debug("pad %d gave up on %s", self.address, sent.frame.command.name)
        if self._in_flight is not None:
            if now >= self._in_flight.deadline:
                return self._in_flight, 0.0
        elif self._outbox:
            return self._outbox[0], 0.0
        if self._heartbeat_now > 0 or now >= self._next_heartbeat:
            kind = DeviceKind.RATING if self.kind == "rating" else DeviceKind.KEYPAD
            return heartbeat_frame(self.address, kind, self.firmware), 0.0
        wake = self._in_flight.deadline if self._in_flight is not None else float("inf")
        return None, min(wake, self._next_heartbeat)

    def _take(self, job: Sent | Frame, now: float) -> None:
        """The line chose this pad's job: update the pad's state to match."""
        if isinstance(job, Frame):
            self._heartbeat_now = max(0, self._heartbeat_now - 1)
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.heartbeat_s
            self.heartbeats_sent += 1
        elif job is self._in_flight:
            job.tries_left -= 1
        else:
            self._outbox.popleft()
            self._in_flight = job
        if isinstance(job, Sent):
            job.deadline = float("inf")  # set when the frame is out


class TwinLine(PtyTwin):
    """A pty standing in for one serial line with any number of pads on it.

    `port` is a path that stays the same across unplug / replug, like /dev/ttyUSB0 does.
    """

    def __init__(
        self,
        baudrate: int = 9600,
        codec: str | Codec = "qframe",
        *,
        directory: str | None = None,
        name: str = "ttyPAD0",
        ack_timeout_s: float | None = None,
        retries: int = 3,
        seed: int | None = None,
    ) -> None:
        self.codec = codec if isinstance(codec, Codec) else get_codec(codec)
        self._decoder = self.codec.decoder()
        self.stats = self._decoder.stats
        self.pads: dict[int, PadTwin] = {}
        self.unknown_frames = 0
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._acks: deque[Frame] = deque()
        self._raw: deque[bytes] = deque()
        self._busy = False  # the writer is putting bytes on the line
        super().__init__(baudrate, pace_input=True, directory=directory, name=name)
        self.ack_timeout_s = ack_timeout_s if ack_timeout_s is not None else 0.1 + 64 * self.byte_s
        self.retries = retries
        self._writer_thread = threading.Thread(target=self._writer, name="padtwin writer", daemon=True)
        try:
            self._writer_thread.start()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- pads

    def add(self, address: int, kind: str = "keypad", *, firmware: str = "1.0.0", heartbeat_s: float = 0.0) -> PadTwin:
        """Put a pad at `address` on the line. heartbeat_s = 0: heartbeats only when asked."""
        if not 1 <= address <= 32 or address in self.pads:
            raise ValueError(f"address {address} is out of 1..32 or taken")
        pad = PadTwin(self, address, kind, firmware, heartbeat_s)
        with self._cond:
            self.pads[address] = pad
            self._cond.notify_all()
        return pad

    def pad(self, address: int) -> PadTwin:
        return self.pads[address]

    def line_config(self, counters: dict[int, int] | None = None, **kw: Any) -> SerialLine:
        """A SerialLine for the host side. counters: address -> counter id (default: address)."""
        devices = [
            SerialDevice(address=a, counter=(counters or {}).get(a, a), kind=cast(PadKind, p.kind)) for a, p in self.pads.items()
        ]
        return SerialLine(port=self.port, baudrate=self.baudrate, codec=cast(SerialCodec, self.codec.name),
                          devices=devices, **kw)

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the line (noise, a damaged frame), paced like everything else."""
        with self._cond:
            self._raw.append(bytes(data))
            self._cond.notify_all()

    def wait_quiet(self, timeout: float = 5.0) -> bool:
        """Until nothing is queued or in flight on any pad (all frames acknowledged or given up)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._raw and not self._acks and not self._busy
                and all(not p._outbox and p._in_flight is None for p in self.pads.values()),
                timeout,
            )

    # ---------------------------------------------------------------- plug

    def replug(self) -> None:
        super().replug()
        with self._cond:
            self._cond.notify_all()

    def on_close(self) -> None:
        with self._cond:
            self._cond.notify_all()  # the writer sees `_closed` and returns
        writer = getattr(self, "_writer_thread", None)
        if writer is not None and writer.is_alive():
            writer.join(timeout=5)

    def __enter__(self) -> TwinLine:
        return self

    def on_plug(self) -> None:
        self._decoder.reset()

    # ---------------------------------------------------------------- writer thread

    def _writer(self) -> None:
        while True:
            with self._cond:
                job = self._pick_job()
                if job is None:
                    return
                self._busy = True
            data, sent = job
            start = time.perf_counter()
            if sent is not None:
                sent.transmissions.append(start)
            self.write(data)
            if sent is not None:
                self._after_send(sent)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _pick_job(self) -> tuple[bytes, Sent | None] | None:
        """Wait (lock held) for the next thing to put on the line; None when closing."""
        while not self._closed:
            if self._master >= 0:
                if self._acks:
                    return self.codec.encode(self._acks.popleft()), None
                if self._raw:
                    return self._raw.popleft(), None
                now = time.perf_counter()
                wake = now + 1.0
                best: tuple[PadTwin, Sent | Frame] | None = None
                for pad in self.pads.values():
                    job, when = pad._next_job(now)
                    if job is None:
                        wake = min(wake, when)
                    elif best is None or _earlier(job, best[1]):
                        best = (pad, job)
                if best is not None:
                    pad, job = best
                    pad._take(job, now)
                    if isinstance(job, Sent):
                        return self.codec.encode(job.frame), job
                    return self.codec.encode(job), None
                self._cond.wait(max(0.0, wake - now))
            else:
                self._cond.wait(0.5)
        return None

    def _after_send(self, sent: Sent) -> None:
        with self._cond:
            if not self.codec.has_seq:  # fire-and-forget framing: no resend, an ACK is just noted
                for pad in self.pads.values():
                    if pad._in_flight is sent:
                        pad._in_flight = None
                sent.deadline = float("inf")
            else:
                sent.deadline = time.perf_counter() + self.ack_timeout_s * (1 + self._rng.random() / 2)
            self._cond.notify_all()

    # ---------------------------------------------------------------- from the host

    def on_bytes(self, data: bytes) -> None:
        self._dispatch(self._decoder.feed(data), time.perf_counter())

    def _dispatch(self, frames: list[Frame], now: float) -> None:
        if not frames:
            return
        with self._cond:
            for frame in frames:
                if not frame.command.from_host:
                    continue
                targets = list(self.pads.values()) if frame.address == BROADCAST else (
                    [self.pads[frame.address]] if frame.address in self.pads else []
                )
                if not targets:
                    self.unknown_frames += 1
                for pad in targets:
                    ack = pad._host_frame(frame, now)
                    if ack is not None:
                        self._acks.append(ack)
            self._cond.notify_all()


def _earlier(job: Sent | Frame, other: Sent | Frame) -> bool:
    """Key and rating frames before heartbeats; among them, the one queued first."""
    if isinstance(job, Sent) and isinstance(other, Sent):
        return job.queued_at < other.queued_at
    return isinstance(job, Sent)
