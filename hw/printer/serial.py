"""Serial (RS-232) ticket printer, on the one serial opener (hw.serial_line)."""

from __future__ import annotations

from hw.printer.base import Device
from hw.printer.errors import PrinterOffline
from hw.serial_line import PortError, SerialPort, open_port


class SerialDevice(Device):
    def __init__(self, port: str, baudrate: int = 9600, *, write_timeout: float = 10.0,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.port = port
        try:
            self._ser: SerialPort | None = open_port(port, baudrate, read_timeout_s=0,
                                                     write_timeout_s=write_timeout)
        except PortError as err:
            raise PrinterOffline(f"printer port {port}: {err}") from err

    def _port(self) -> SerialPort:
        if self._ser is None:
            raise PrinterOffline(f"printer port {self.port} is closed")
        return self._ser

    def _raw(self, msg: bytes) -> None:
        ser = self._port()
        ser.write(msg)
        ser.drain()  # wait until the bytes are on the wire, so a status read after it is current

    def _read_status(self, timeout: float) -> bytes:
        return self._port().read(1, timeout_s=timeout)

    def _drain(self) -> None:
        self._port().discard_input()

    def close(self) -> None:
        ser, self._ser = getattr(self, "_ser", None), None
        if ser is not None:
            ser.close()
