"""A printer reached through a file: a device node (/dev/usb/lp0, read-write for status) or a plain
file that collects the bytes (one-way: its status is UNREPORTED)."""

from __future__ import annotations

import os
import select
import stat

from hw.printer.base import Device
from hw.printer.errors import PrinterOffline


class FileDevice(Device):
    def __init__(self, path: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.path = path
        try:
            is_char = os.path.exists(path) and stat.S_ISCHR(os.stat(path).st_mode)
            if is_char:
                self._fd: int | None = os.open(path, os.O_RDWR | os.O_NOCTTY)
            else:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as err:
            raise PrinterOffline(f"printer file {path}: {err.strerror}") from err
        self.can_read = is_char

    def _fileno(self) -> int:
        if self._fd is None:
            raise PrinterOffline(f"printer file {self.path} is closed")
        return self._fd

    def _raw(self, msg: bytes) -> None:
        fd = self._fileno()
        view = memoryview(msg)
        while view:
            view = view[os.write(fd, view):]

    def _read_status(self, timeout: float) -> bytes:
        fd = self._fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 16) if ready else b""

    def close(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)
