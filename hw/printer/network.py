"""Network ticket printer: the raw TCP port (9100) most Ethernet ESC/POS printers offer."""

from __future__ import annotations

import logging
import socket

from hw.printer.base import Device
from hw.printer.errors import PrinterOffline

_LOG = logging.getLogger(__name__)


class NetworkDevice(Device):
    def __init__(self, host: str, port: int = 9100, *, connect_s: float = 3.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.host, self.port, self.connect_s = host, port, connect_s
        self._sock: socket.socket | None = None
        self._connect()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_s)
        except OSError as err:
            raise PrinterOffline(f"printer {self.host}:{self.port}: {err}") from err
        self._sock = sock
        return sock

    def _raw(self, msg: bytes) -> None:
        sock = self._sock or self._connect()
        try:
            sock.sendall(msg)
        except OSError:
            # printers drop idle connections: reconnect once, then let the error through
            _LOG.info("printer %s:%s connection dropped; reconnecting", self.host, self.port)
            self._close_sock()
            self._connect().sendall(msg)

    def _read_status(self, timeout: float) -> bytes:
        sock = self._sock or self._connect()
        sock.settimeout(timeout)
        try:
            return sock.recv(16)
        except TimeoutError:
            return b""

    def _drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        sock.setblocking(False)
        try:
            while sock.recv(256):
                pass
        except (BlockingIOError, OSError):
            pass
        finally:
            sock.settimeout(self.connect_s)

    def _close_sock(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self._close_sock()
