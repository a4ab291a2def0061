"""A serial port opened from config, with errors a person can act on: the one way qcall opens one.

Keypad lines, card and passbook readers and serial printers all open their port here (`SerialPort`
for a configured line, `open_port` for a device that only has a path and a speed), so the
pyserial settings and the error wording are decided once. pyserial is the only backend (it covers /dev/ttyUSB*, /dev/ttyS*, ptys and `rfc2217://` or
`socket://` URLs for serial servers). Everything it raises is wrapped here: `PortUnavailable` when
the port cannot be opened (missing, busy, no permission) and `PortLost` when it goes away while
open (a USB adapter unplugged). Both are ConnectionErrors, so a bridge reconnect loop can catch
one thing; the owner then closes the `SerialPort` and opens a new one later. One thread may read
while another writes (pyserial allows it); only the owner closes.

RS-485: most USB adapters switch the driver direction themselves ("auto"). Some need RTS driven
around each transmission; the kernel does it when asked through pyserial's `rs485_mode`
("pyserial"), but many drivers refuse - then we fall back to "auto" with a warning and say so in
`rs485_effective` rather than fail the line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import serial
from serial.rs485 import RS485Settings

from qbus.config.sections import SerialLine
from qbus.errors import QcallError

_LOG = logging.getLogger(__name__)

BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


class PortError(QcallError, ConnectionError):
    """A serial port problem."""

    code = "serial_port"
    zh = "串口故障"


class PortUnavailable(PortError):
    """The serial port cannot be opened."""

    code = "serial_unavailable"
    zh = "串口无法打开"


class PortLost(PortError):
    """The serial port went away while in use (adapter unplugged?)."""

    code = "serial_lost"
    zh = "串口已断开"


def byte_time(baudrate: int) -> float:
    """Seconds one byte takes on the wire at 8N1."""
    return BITS_PER_BYTE / baudrate


def open_port(port: str, baudrate: int, *, read_timeout_s: float = 0.05,
              write_timeout_s: float = 2.0) -> SerialPort:
    """A point-to-point RS-232 device (card reader, printer) that has only a path and a speed."""
    return SerialPort(SerialLine(port=port, baudrate=baudrate), read_timeout_s=read_timeout_s,
                      write_timeout_s=write_timeout_s)


class SerialPort:
    """One open serial line. `read` returns what arrived (possibly b""), `write` sends all bytes."""

    def __init__(self, line: SerialLine, *, read_timeout_s: float = 0.01, write_timeout_s: float = 2.0) -> None:
        self.line = line
        self.rs485_effective = ""
        self._write_timeout_s = write_timeout_s
        self._port: serial.SerialBase | None = None
        self._port = self._open(read_timeout_s)
        try:
            self.rs485_effective = self._setup_rs485(read_timeout_s)
        except BaseException:
            self.close()
            raise

    def _open(self, read_timeout_s: float) -> serial.SerialBase:
        try:
            return serial.serial_for_url(
                self.line.port, baudrate=self.line.baudrate, bytesize=8, parity="N", stopbits=1,
                timeout=read_timeout_s, write_timeout=self._write_timeout_s, exclusive=True,
            )
        except (serial.SerialException, ValueError, OSError) as err:
            raise PortUnavailable(
                f"cannot open serial port {self.line.port}: {err}", zh=f"串口 {self.line.port} 无法打开"
            ) from err

    def _setup_rs485(self, read_timeout_s: float) -> str:
        if not self.line.rs485:
            return ""
        if self.line.rs485_mode == "auto":
            return "auto"
        port = self._live()
        try:
            port.rs485_mode = RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
            return "pyserial"
        except (ValueError, serial.SerialException, OSError) as err:
            _LOG.warning("%s: pyserial rs485_mode unsupported (%s); assuming an auto-direction adapter",
                         self.line.port, err)
        # pyserial keeps the refused setting and would re-raise on every reconfigure: start clean.
        self._close_port()
        self._port = self._open(read_timeout_s)
        return "auto (pyserial rs485_mode unsupported by the driver)"

    def read(self, size: int = 512, *, timeout_s: float | None = None) -> bytes:
        """Wait up to the read timeout (or `timeout_s`) for the first byte, then take whatever else
        is buffered, at most `size` bytes in all."""
        with self._using() as port:
            if timeout_s is not None and port.timeout != timeout_s:
                port.timeout = timeout_s
            data = port.read(1)
            if data and size > 1:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(min(waiting, size - 1))
            return bytes(data)

    def write(self, data: bytes) -> None:
        with self._using() as port:
            port.write(data)

    def drain(self) -> None:
        """Wait until everything written is on the wire (so a status read after it is current)."""
        with self._using() as port:
            port.flush()

    def discard_input(self) -> None:
        """Drop what arrived and was not read (a stale answer before a new command)."""
        with self._using() as port:
            port.reset_input_buffer()

    @contextmanager
    def _using(self) -> Iterator[serial.SerialBase]:
        """The open port; whatever pyserial or the OS raises meanwhile becomes PortLost."""
        port = self._live()
        try:
            yield port
        except (serial.SerialException, OSError) as err:
            raise self._lost(err) from err

    def close(self) -> None:
        """Close; safe to call twice and after the port vanished."""
        self._close_port()

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except (serial.SerialException, OSError) as err:
            _LOG.debug("%s: error while closing (already gone): %s", self.line.port, err)

    def _live(self) -> serial.SerialBase:
        if self._port is None:
            raise PortLost(f"serial port {self.line.port} is closed", zh=f"串口 {self.line.port} 已关闭")
        return self._port

    def _lost(self, err: BaseException) -> PortLost:
        # Not closed here: another thread may be inside read(). The owner closes it.
        return PortLost(f"serial port {self.line.port} lost: {err}", zh=f"串口 {self.line.port} 已断开")

    def __enter__(self) -> SerialPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
