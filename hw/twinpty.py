"""The far end of a serial line for device twins: a pseudo-terminal that behaves like a wire.

Every simulated serial device (card, ID and passbook readers, the serial printer, the counter pads
on an RS-485 line) stands on this one class, so they agree on how a twin line behaves. The code under
test opens `twin.port` with real pyserial (through hw.serial_line). A pty moves bytes instantly;
the twin models the wire instead: `write()` lets byte i leave only once its 10 bit-times (8N1) have
passed, and with `pace_input` what the host writes reaches `on_bytes` no faster than the wire would
deliver it. `port` is a path that stays the same across `unplug()` / `replug()`, as /dev/ttyUSB0
does when a USB adapter is pulled and put back.
"""

from __future__ import annotations

import logging
import os
import select
import tempfile
import threading
import time
import tty
from pathlib import Path

from hw.serial_line import byte_time

_LOG = logging.getLogger(__name__)

_WRITABLE_WAIT_S = 1.0  # a host that stops reading for this long loses the rest of a write


class PtyTwin:
    """Base for device twins on a pty. Subclasses override `on_bytes` (and `on_plug`)."""

    def __init__(self, baudrate: int, *, paced: bool = True, pace_input: bool = False,
                 directory: str | None = None, name: str = "ttyTWIN0") -> None:
        self.baudrate = baudrate
        self.paced = paced
        self.pace_input = pace_input
        self.byte_s = byte_time(baudrate)
        self._fd_lock = threading.Lock()  # guards _master/_slave/_gen against unplug
        self._write_lock = threading.Lock()  # whole writes, never interleaved
        self._master = self._slave = -1
        self._gen = 0
        self._closed = False
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="twinpty-")
            directory = self._tmp.name
        self.port = str(Path(directory) / name)
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        try:
            with self._fd_lock:
                self._plug_locked()
            self._thread = threading.Thread(target=self._pump, name=f"twin {self.port}", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- for subclasses

    def on_bytes(self, data: bytes) -> None:
        """Called from the pump thread with what the host wrote."""

    def on_plug(self) -> None:
        """Called (fd lock held) each time a fresh pty comes up: reset any half-received input."""

    def on_close(self) -> None:
        """Called once by close(), before the pty goes: stop the subclass's own threads."""

    # ---------------------------------------------------------------- the line

    def write(self, data: bytes) -> bool:
        """Send bytes to the host at the line's pace; False if the line was unplugged meanwhile."""
        with self._write_lock:
            if not self.paced:
                return self._write_raw(data)
            t0, n, done = time.perf_counter(), len(data), 0
            while done < n:
                due = min(n, int((time.perf_counter() - t0) / self.byte_s))
                if due > done:
                    if not self._write_raw(data[done:due]):
                        return False  # unplugged mid-write: the rest is lost, as on a real line
                    done = due
                else:
                    time.sleep(max(0.0, t0 + (done + 1) * self.byte_s - time.perf_counter()))
            return True

    def unplug(self) -> None:
        """The adapter vanishes: pty closed (the host's reads and writes fail), path removed."""
        with self._fd_lock:
            self._close_fds()
        self._wake()

    def replug(self) -> None:
        """The adapter comes back: a new pty behind the same path."""
        with self._fd_lock:
            if self._master < 0 and not self._closed:
                self._plug_locked()
        self._wake()

    def close(self) -> None:
        """Stop the pump, close the pty; safe twice."""
        if self._closed:
            return
        self._closed = True
        self.on_close()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._fd_lock:
            self._close_fds()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> PtyTwin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _plug_locked(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: the line is binary
        os.set_blocking(master, False)
        self._master, self._slave, self._gen = master, slave, self._gen + 1
        self.on_plug()
        tmp = self.port + ".new"
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.port)

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        try:
            os.unlink(self.port)
        except FileNotFoundError:
            pass

    def _write_raw(self, chunk: bytes) -> bool:
        view = memoryview(chunk)
        while view:
            with self._fd_lock:
                fd = self._master
                if fd < 0:
                    return False
                try:
                    view = view[os.write(fd, view):]
                    continue
                except BlockingIOError:
                    pass
                except OSError as err:
                    _LOG.debug("pty write failed: %s", err)
                    return False
            # The pty buffer is full (the host is not reading): wait a while, as a UART would not.
            try:
                _, ready, _ = select.select([], [fd], [], _WRITABLE_WAIT_S)
            except (OSError, ValueError):  # unplugged while waiting
                return False
            if not ready:
                _LOG.debug("host not reading %s; %d bytes lost", self.port, len(view))
                return True
        return True

    def _pump(self) -> None:
        rx_free = 0.0  # when the wire from the host is free again (pace_input)
        while not self._closed:
            with self._fd_lock:
                fd, gen = self._master, self._gen
            watch = [self._wake_r] + ([fd] if fd >= 0 else [])
            try:
                ready, _, _ = select.select(watch, [], [], 0.5)
            except (OSError, ValueError):  # the fd went away between the lock and the select
                continue
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if fd < 0 or fd not in ready:
                continue
            with self._fd_lock:
                if self._gen != gen or self._master < 0:
                    continue
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # EIO: the host closed its side; wait for it to open again
                    data = b""
            if not data:
                time.sleep(0.01)
                continue
            if self.pace_input:
                rx_free = self._deliver_paced(data, max(time.perf_counter(), rx_free))
            else:
                self._deliver(data)

    def _deliver_paced(self, data: bytes, t0: float) -> float:
        """Hand host bytes on no faster than the wire delivers them; returns when the wire is free."""
        n, done = len(data), 0
        while done < n:
            now = time.perf_counter()
            due = min(n, int((now - t0) / self.byte_s))
            if due > done:
                self._deliver(data[done:due])
                done = due
            else:
                time.sleep(max(0.0, t0 + (done + 1) * self.byte_s - now))
        return t0 + n * self.byte_s

    def _deliver(self, data: bytes) -> None:
        try:
            self.on_bytes(data)
        except Exception:  # a twin bug must show up, not kill the pump silently
            _LOG.exception("twin on %s failed handling input", self.port)
