"""The host end of one serial line: decoded, acknowledged, de-duplicated frames in; frames out,
resent until the device acknowledges them; the port reopened when it comes back.

This is the bridge minus the bus: `firmware_bridge.bridge` hands `on_frame` the work of turning
frames into commands and calls `send()` with LED / voice frames. One I/O thread per line reads the
port; `send()` writes from the caller's thread (under a lock) so a reply does not wait for a read
timeout. Callbacks run on the I/O thread and must be quick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_bridge.codec import DecoderStats, get_codec
from firmware_bridge.dedup import Deduper
from firmware_bridge.frame import Command, Frame, Heartbeat, ack_frame
from hw.serial_line import PortError, PortLost, SerialPort, byte_time
from qbus.config.sections import SerialLine

_LOG = logging.getLogger(__name__)

PortFactory = Callable[[SerialLine], SerialPort]


def default_ack_timeout(baudrate: int) -> float:
    """Long enough for a frame, the device's turnaround and an acknowledgement queued behind
    another device's frame: 100 ms plus 64 byte-times (167 ms at 9600, 106 ms at 115200)."""
    return 0.1 + 64 * byte_time(baudrate)


@dataclass(slots=True)
class LinkStats:
    decoder: DecoderStats = field(default_factory=DecoderStats)
    duplicates: int = 0  # resent device frames acknowledged again but not acted on
    resends: int = 0  # host frames sent again for want of an acknowledgement
    unacked: int = 0  # host frames given up on after all retries
    echoes: int = 0  # our own frames heard back (RS-485 adapters that echo)
    unknown_address: int = 0  # frames from an address not in config
    reconnects: int = 0


class Pending:
    """A host frame on its way; `wait()` says whether the device acknowledged it."""

    def __init__(self, frame: Frame, data: bytes, tries_left: int) -> None:
        self.frame = frame
        self.data = data
        self.tries_left = tries_left
        self.deadline = 0.0
        self.ok = False
        self.reason = ""
        self._done = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """True once acknowledged; False on timeout or when the link gave up."""
        self._done.wait(timeout)
        return self.ok

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish(self, ok: bool, reason: str = "") -> None:
        self.ok, self.reason = ok, reason
        self._done.set()


class HostLink:
    """Host side of one serial line (one RS-232 counter or an RS-485 multi-drop line).

    on_frame(frame): every new device frame (keys, stars, heartbeats), after acknowledgement and
        de-duplication; never a damaged one, never a host frame echoed back.
    on_link(up, detail): the port opened (True) or went away / cannot be opened (False).
    clock: time for `last_seen` and de-duplication (inject it in tests).
    """

    def __init__(
        self,
        line: SerialLine,
        on_frame: Callable[[Frame], None],
        *,
        on_link: Callable[[bool, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect_s: float = 1.0,
        port_factory: PortFactory = SerialPort,
    ) -> None:
        self.line = line
        self.codec = get_codec(line.codec)
        self.stats = LinkStats()
        self.ack_timeout_s = line.ack_timeout_s or default_ack_timeout(line.baudrate)
        self._on_frame = on_frame
        self._on_link = on_link
        self._clock = clock
        self._reconnect_s = reconnect_s
        self._port_factory = port_factory
        self._addresses = {d.address for d in line.devices}
        self._unknown_logged: set[int] = set()
        self._decoder = self.codec.decoder()
        self.stats.decoder = self._decoder.stats
        self._dedup = Deduper()
        self._seq: dict[int, int] = {}
        self._pending: dict[tuple[int, int], Pending] = {}
        self._tx_until = 0.0  # monotonic time our last written byte leaves the port
        self._last_seen: dict[int, float] = {}
        self._heartbeats: dict[int, Heartbeat] = {}
        self._port: SerialPort | None = None
        self._write_error = ""
        self._up: bool | None = None  # unknown until the first open attempt
        self._detail = "not started"
        self._lock = threading.Lock()  # port, pending, seq
        self._state = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> HostLink:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"serial {self.line.port}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the I/O thread and close the port; safe twice."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        with self._lock:
            port, self._port = self._port, None
            for p in self._pending.values():
                p._finish(False, "link closed")
            self._pending.clear()
        if port is not None:
            port.close()

    def __enter__(self) -> HostLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- state

    @property
    def up(self) -> bool:
        return self._up is True

    @property
    def detail(self) -> str:
        """Why the port is down, or which RS-485 mode it runs in."""
        return self._detail

    def wait_up(self, up: bool = True, timeout: float = 5.0) -> bool:
        """Block until the port is open (or, with up=False, until it went down)."""
        with self._state:
            return self._state.wait_for(lambda: (self._up is True) is up and self._up is not None, timeout)

    def last_seen(self) -> dict[int, float]:
        """address -> `clock()` time of the last valid frame from it (heartbeat or any other)."""
        with self._lock:
            return dict(self._last_seen)

    def heartbeats(self) -> dict[int, Heartbeat]:
        """address -> device kind and firmware version from its last heartbeat."""
        with self._lock:
            return dict(self._heartbeats)

    # ---------------------------------------------------------------- sending

    def send(self, frame: Frame) -> Pending:
        """Send a host frame (its seq is assigned here); resent until acknowledged when it needs it."""
        with self._lock:
            seq = self._next_seq(frame.address) if self.codec.has_seq else 0
            frame = frame.with_seq(seq)
            resends = self.line.retries if (frame.needs_ack and self.codec.has_seq) else 0
            pending = Pending(frame, self.codec.encode(frame), resends)
            if self._port is None:
                pending._finish(False, f"port down: {self._detail}")
                return pending
            if frame.needs_ack:
                older = self._pending.pop((frame.address, seq), None)
                if older is not None:  # only without seq on the wire: the newer frame wins
                    older._finish(False, "superseded")
                self._pending[(frame.address, seq)] = pending
            else:
                pending._finish(True)
            pending.deadline = self._on_wire(pending.data) + self.ack_timeout_s
            self._write(pending.data)
        return pending

    def _next_seq(self, address: int) -> int:
        seq = self._seq.get(address, 0)
        self._seq[address] = (seq + 1) & 0xFF
        return seq

    def _wire_time(self, data: bytes) -> float:
        return len(data) * byte_time(self.line.baudrate)

    def _on_wire(self, data: bytes) -> float:
        """Caller holds _lock. When `data` will have left: after everything written before it.

        The acknowledgement deadline counts from there; counting from the write() call would make
        a burst of frames (32 pads told what to show at once) time out while still queued, and the
        resends would clog the line further."""
        now = time.monotonic()
        self._tx_until = max(now, self._tx_until) + self._wire_time(data)
        return self._tx_until

    def _write(self, data: bytes) -> None:
        """Caller holds _lock. A write error drops the port; the I/O thread reopens it."""
        if self._port is None:
            return
        try:
            self._port.write(data)
        except PortError as err:  # the I/O thread owns the port: it closes and reopens it
            _LOG.warning("%s: write failed: %s", self.line.port, err)
            self._write_error = str(err)

    # ---------------------------------------------------------------- I/O thread

    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(self._reconnect_s)
                continue
            try:
                self._pump(port)
            except PortError as err:
                self._set_up(False, str(err))
            finally:
                with self._lock:
                    self._port = None
                    self._fail_pending("port lost")
                port.close()

    def _open(self) -> SerialPort | None:
        try:
            port = self._port_factory(self.line)
        except PortError as err:
            self._set_up(False, str(err))
            return None
        self._decoder.reset()
        with self._lock:
            self._port = port
            self._write_error = ""
        self.stats.reconnects += 1
        self._set_up(True, port.rs485_effective or "rs232")
        return port

    def _pump(self, port: SerialPort) -> None:
        while not self._stop.is_set():
            if self._write_error:
                raise PortLost(self._write_error)
            data = port.read()
            if data:
                for frame in self._decoder.feed(data):
                    self._handle(frame)
            self._resend_due()

    def _handle(self, frame: Frame) -> None:
        if frame.command.from_host:
            self.stats.echoes += 1
            return
        if self._addresses and frame.address not in self._addresses:
            self.stats.unknown_address += 1
            if frame.address not in self._unknown_logged:  # once per address: a wiring mistake, not noise
                self._unknown_logged.add(frame.address)
                _LOG.error("%s: %s frame from address %d dropped: no pad with that address is configured "
                           "on this line ([[serial]] devices: %s)", self.line.port, frame.command.name,
                           frame.address, ", ".join(str(a) for a in sorted(self._addresses)))
            return
        now = self._clock()
        with self._lock:
            self._last_seen[frame.address] = now
            if frame.command is Command.HEARTBEAT:
                self._heartbeats[frame.address] = frame.heartbeat()
            if frame.command is Command.DEV_ACK:
                self._acked(frame)
                return
            if frame.needs_ack:
                ack = self.codec.encode(ack_frame(frame.address, frame.seq, from_host=True))
                self._on_wire(ack)
                self._write(ack)
        if frame.needs_ack and self.codec.has_seq and not self._dedup.accept(frame, now):
            self.stats.duplicates += 1
            return
        try:
            self._on_frame(frame)
        except Exception:  # a bug in the handler must not take the line down
            _LOG.exception("%s: on_frame failed for %s from %d", self.line.port, frame.command.name, frame.address)

    def _acked(self, frame: Frame) -> None:
        """Caller holds _lock."""
        if self.codec.has_seq:
            pending = self._pending.pop((frame.address, frame.seq), None)
        else:  # no seq on the wire: an acknowledgement answers the oldest frame to that device
            key = next((k for k in self._pending if k[0] == frame.address), None)
            pending = self._pending.pop(key) if key else None
        if pending is not None:
            pending._finish(True)

    def _resend_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, p in list(self._pending.items()):
                if now < p.deadline:
                    continue
                if p.tries_left <= 0:
                    del self._pending[key]
                    self.stats.unacked += 1
                    _LOG.warning("%s: device %d did not acknowledge %s", self.line.port, key[0], p.frame.command.name)
                    p._finish(False, "not acknowledged")
                    continue
                p.tries_left -= 1
                self.stats.resends += 1
                p.deadline = self._on_wire(p.data) + self.ack_timeout_s
                self._write(p.data)

    def _fail_pending(self, reason: str) -> None:
        for p in self._pending.values():
            p._finish(False, reason)
        self._pending.clear()

    def _set_up(self, up: bool, detail: str) -> None:
        changed = up is not self._up
        with self._state:
            self._up, self._detail = up, detail
            self._state.notify_all()
        if not changed:
            return
        if up:
            _LOG.info("%s: open (%s)", self.line.port, detail)
        else:
            _LOG.warning("%s: down: %s", self.line.port, detail)
        if self._on_link is not None:
            try:
                self._on_link(up, detail)
            except Exception:
                _LOG.exception("%s: on_link failed", self.line.port)
