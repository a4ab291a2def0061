"""A twin of a thermal ESC/POS printer: records what was printed and answers status like real ones.

`PrinterEmulator` is the byte-level model (what a printer does with the stream): it records output,
splits tickets at each cut, answers DLE EOT 1/2/4 and GS r 1, and can run out of paper, be near the
end of the roll, go offline (cover open) or stop answering on cue. Three ways to reach it:
`TwinDevice` in-process (the kiosk's `printer.kind = "twin"`), `SerialPrinterTwin` on a pty for the
serial backend, `TcpPrinterTwin` on a local port for the network backend.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

from hw.printer.base import Device
from hw.printer.status import Paper
from hw.twinpty import PtyTwin

_LOG = logging.getLogger(__name__)

DLE, EOT, GS = 0x10, 0x04, 0x1D


class PrinterEmulator:
    """What a printer does with bytes. Thread-safe; `feed()` returns the bytes it answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.printed = bytearray()  # every byte that reached paper, commands included
        self.tickets: list[bytes] = []  # one entry per cut
        self.lost = 0  # bytes sent while out of paper / offline
        self.paper = Paper.OK
        self.cover_open = False
        self.answering = True
        self._paper_left: int | None = None
        self._current = bytearray()
        self._pending = bytearray()  # an incomplete command split across writes

    # -- cues -----------------------------------------------------------------------------------
    def set_paper(self, paper: Paper) -> None:
        with self._lock:
            self.paper = paper
            self._paper_left = None

    def run_out_after(self, nbytes: int) -> None:
        """Paper runs out after `nbytes` more bytes: the ticket being printed comes out cut short."""
        with self._lock:
            self._paper_left = nbytes

    def open_cover(self, is_open: bool = True) -> None:
        with self._lock:
            self.cover_open = is_open

    def stop_answering(self, stop: bool = True) -> None:
        """Status queries get no reply (a printer that hangs, or a cable with no return line)."""
        with self._lock:
            self.answering = not stop

    # -- the stream -----------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return not self.cover_open and self.paper is not Paper.OUT

    def feed(self, data: bytes) -> bytes:
        with self._lock:
            buf = bytes(self._pending) + data
            self._pending.clear()
            out = bytearray()
            i, n = 0, len(buf)
            while i < n:
                b = buf[i]
                if b in (DLE, GS) and i + 2 >= n:
                    self._pending += buf[i:]  # wait for the rest of a possible command
                    break
                if b == DLE and buf[i + 1] == EOT:
                    self._answer(out, self._dle_eot(buf[i + 2]))
                    i += 3
                    continue
                if b == GS and buf[i + 1] == 0x72 and buf[i + 2] in (1, 0x31):
                    self._answer(out, self._gs_r())
                    i += 3
                    continue
                if b == GS and buf[i + 1] == 0x56:
                    if buf[i + 2] in (65, 66) and i + 3 >= n:
                        self._pending += buf[i:]
                        break
                    i = self._cut(buf, i)
                    continue
                self._print(b)
                i += 1
            return bytes(out)

    def _answer(self, out: bytearray, b: int) -> None:
        if self.answering:
            out.append(b)

    def _dle_eot(self, n: int) -> int:
        if n == 1:
            return 0x12 | (0x08 if not self.online else 0)
        if n == 2:
            return 0x12 | (0x04 if self.cover_open else 0) | (0x20 if self.paper is Paper.OUT else 0)
        if n == 4:
            return 0x12 | {Paper.OUT: 0x6C, Paper.NEAR_END: 0x0C}.get(self.paper, 0)
        return 0x12

    def _gs_r(self) -> int:
        return {Paper.OUT: 0x0F, Paper.NEAR_END: 0x03}.get(self.paper, 0)

    def _print(self, b: int) -> None:
        if not self.online:
            self.lost += 1
            return
        if self._paper_left is not None:
            if self._paper_left <= 0:
                self.paper = Paper.OUT
                self._paper_left = None
                self.lost += 1
                return
            self._paper_left -= 1
        self.printed.append(b)
        self._current.append(b)

    def _cut(self, buf: bytes, i: int) -> int:
        """GS V m (m = 0, 1, 48, 49) or GS V m n (m = 65, 66): finish the ticket."""
        m = buf[i + 2]
        length = 4 if m in (65, 66) else 3
        for b in buf[i : i + length]:
            self._print(b)
        if self.online:
            self.tickets.append(bytes(self._current))
        self._current.clear()
        return i + length


class TwinDevice(Device):
    """In-process twin: `_raw` feeds the emulator, status answers are read back directly."""

    def __init__(self, emulator: PrinterEmulator | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.emulator = emulator or PrinterEmulator()
        self.unplugged = False
        self._answers = bytearray()

    def _raw(self, msg: bytes) -> None:
        if self.unplugged:
            raise OSError(errno.EIO, "printer unplugged")
        self._answers += self.emulator.feed(msg)

    def _read_status(self, timeout: float) -> bytes:
        got = bytes(self._answers)
        self._answers.clear()
        if not got:
            time.sleep(timeout)  # a silent printer: the asker's timeout passes, as on a real line
        return got

    def _drain(self) -> None:
        self._answers.clear()

    def unplug(self, unplugged: bool = True) -> None:
        """Writes fail with EIO (a USB printer pulled out)."""
        self.unplugged = unplugged


class SerialPrinterTwin(PtyTwin):
    """The emulator at the far end of a pty, for the serial backend."""

    def __init__(self, baudrate: int = 9600, *, paced: bool = True) -> None:
        self.emulator = PrinterEmulator()
        super().__init__(baudrate, paced=paced)

    def on_bytes(self, data: bytes) -> None:
        answer = self.emulator.feed(data)
        if answer:
            self.write(answer)


class TcpPrinterTwin:
    """The emulator behind a local TCP port (a network printer's raw port 9100)."""

    def __init__(self) -> None:
        self.emulator = PrinterEmulator()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self._srv.settimeout(0.1)
        self.port = self._srv.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tcp-printer-twin", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    answer = self.emulator.feed(data)
                    if answer:
                        conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._srv.close()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
