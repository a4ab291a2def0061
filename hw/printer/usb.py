"""USB ticket printer through python-escpos's Usb (needs pyusb + libusb: `pip install 'qcall[usb]'`)."""

from __future__ import annotations

from typing import Any

from escpos.exceptions import Error as EscposError
from escpos.printer import Usb

from hw.printer.base import Device
from hw.printer.errors import PrinterError, PrinterOffline


class UsbDevice(Usb, Device):  # type: ignore[misc]  # Usb first: its _raw is the real one
    def __init__(self, vendor: int, product: int, **kwargs: Any) -> None:
        if not Usb.is_usable():
            raise PrinterError("USB printers need pyusb and libusb: pip install 'qcall[usb]'")
        super().__init__(idVendor=vendor, idProduct=product, **kwargs)
        try:
            self.open()
        except (EscposError, ValueError, OSError) as err:  # pyusb's NoBackendError is a ValueError
            self._device = False
            raise PrinterOffline(f"USB printer {vendor:04x}:{product:04x}: {err}") from err

    def _read_status(self, timeout: float) -> bytes:
        import usb.core

        try:
            return bytes(self.device.read(self.in_ep, 16, max(1, int(timeout * 1000))))
        except usb.core.USBTimeoutError:
            return b""
