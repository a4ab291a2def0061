"""The far end of a serial line for device twins: a pseudo-terminal pair, paced at a real baud rate.

The adapter under test opens `twin.port` with real pyserial; the twin reads what the adapter wrote on
the pty master (in a thread, handed to `on_bytes`) and answers with `write()`, which sleeps for the
time the bytes take on the wire (10 bit times per byte, 8N1) so timing behaves like real hardware.
"""

from __future__ import annotations

import logging
import os
import select
import termios
import threading
import time
import tty

_LOG = logging.getLogger(__name__)


class PtyTwin:
    """Base for device twins on a pty. Subclasses override `on_bytes`."""

    def __init__(self, baudrate: int, *, paced: bool = True) -> None:
        self.baudrate = baudrate
        self.paced = paced
        self._master, self._slave = os.openpty()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._write_lock = threading.Lock()
        try:
            tty.setraw(self._slave, termios.TCSANOW)
            self.port = os.ttyname(self._slave)
            self._thread = threading.Thread(target=self._pump, name=f"twin-{self.port}", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise

    def on_bytes(self, data: bytes) -> None:
        """Called from the pump thread with what the adapter wrote."""

    def write(self, data: bytes) -> None:
        """Send bytes to the adapter at the line's pace (whole writes, never interleaved)."""
        byte_s = 10.0 / self.baudrate
        with self._write_lock:
            for i in range(0, len(data), 64):
                chunk = data[i : i + 64]
                view = memoryview(chunk)
                while view:
                    n = os.write(self._master, view)
                    view = view[n:]
                if self.paced:
                    time.sleep(len(chunk) * byte_s)

    def _pump(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._master, self._wake_r], [], [])
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if data:
                try:
                    self.on_bytes(data)
                except Exception:  # a twin bug must show up, not kill the pump silently
                    _LOG.exception("twin on %s failed handling input", self.port)

    def close(self) -> None:
        """Stop the pump and close both ends; safe twice."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyTwin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
