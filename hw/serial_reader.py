"""What every serial card reader shares: its port, its failures as ReaderOffline, its line framing.

The stripe, passbook and ID readers differ in what their bytes mean, not in how they get them: each
opens its port through hw.serial_line, turns a port failure into a ReaderOffline naming the reader
(the kiosk then says 读卡器故障 and keeps the other readers going), stops when closed, and the line
readers cut the byte stream into lines with a bound, so a reader spewing noise cannot grow memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hw.identity import FrameError, ReaderOffline
from hw.serial_line import PortError, SerialPort, open_port


class ReaderPort:
    """One card reader's serial port. `what` names the reader in messages ("stripe reader")."""

    def __init__(self, what: str, port: str, baudrate: int) -> None:
        self.what = what
        self.closed = threading.Event()
        try:
            self._ser: SerialPort = open_port(port, baudrate)
        except PortError as err:
            raise ReaderOffline(f"{what} port {port}: {err}") from err

    def write(self, data: bytes) -> None:
        with self._failing("write"):
            self._ser.write(data)

    def read(self) -> bytes:
        """What arrived within the port's short read timeout (possibly b"")."""
        with self._failing("read"):
            return self._ser.read()

    def discard_input(self) -> None:
        with self._failing("write"):
            self._ser.discard_input()

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """A port failure (hw.serial_line.PortError) as the ReaderOffline the kiosk shows."""
        try:
            yield
        except PortError as err:
            raise ReaderOffline(f"{self.what} {what} failed: {err}") from err

    def close(self) -> None:
        """Stop any wait in progress and close the port; safe twice."""
        self.closed.set()
        self._ser.close()


class LineReader:
    """Cuts what a reader sends into lines (ended by any of `ends`), skipping blank ones."""

    def __init__(self, port: ReaderPort, *, max_line: int, retry_zh: str, ends: bytes = b"\n") -> None:
        self.port = port
        self.max_line = max_line
        self.retry_zh = retry_zh  # what the customer is told when a line is garbage
        self.ends = ends
        self._buf = bytearray()

    def next_line(self, deadline: float) -> bytes | None:
        """The next non-blank line without its end, or None at `deadline` or when the port closes."""
        while not self.port.closed.is_set():
            cut = min((i for i in (self._buf.find(bytes([e])) for e in self.ends) if i >= 0), default=-1)
            if cut >= 0:
                raw = bytes(self._buf[:cut])
                del self._buf[: cut + 1]
                if raw.strip():
                    return raw
                continue
            if len(self._buf) > self.max_line:
                self._buf.clear()
                raise FrameError(f"{self.port.what} line too long", zh=self.retry_zh)
            if time.monotonic() >= deadline:
                return None
            self._buf += self.port.read()
        return None
