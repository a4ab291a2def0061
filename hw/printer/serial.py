"""Serial (RS-232) ticket printer through pyserial."""

from __future__ import annotations

import serial

from hw.printer.base import Device
from hw.printer.errors import PrinterOffline


class SerialDevice(Device):
    def __init__(self, port: str, baudrate: int = 9600, *, write_timeout: float = 10.0,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.port = port
        try:
            self._ser: serial.Serial | None = serial.Serial(
                port, baudrate=baudrate, timeout=0, write_timeout=write_timeout
            )
        except serial.SerialException as err:
            raise PrinterOffline(f"printer port {port}: {err}") from err

    def _port(self) -> serial.Serial:
        if self._ser is None:
            raise PrinterOffline(f"printer port {self.port} is closed")
        return self._ser

    def _raw(self, msg: bytes) -> None:
        ser = self._port()
        ser.write(msg)
        ser.flush()  # wait until the bytes are on the wire, so a status read after it is current

    def _read_status(self, timeout: float) -> bytes:
        ser = self._port()
        ser.timeout = timeout
        return bytes(ser.read(1))

    def _drain(self) -> None:
        self._port().reset_input_buffer()

    def close(self) -> None:
        ser, self._ser = getattr(self, "_ser", None), None
        if ser is not None:
            ser.close()
