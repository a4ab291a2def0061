"""Ticket printer: python-escpos devices behind one `Printer` with a status that is told right.

`open_printer(section)` picks the backend from `[printer] kind` (usb | serial | network | file | twin).
"""

from __future__ import annotations

from typing import get_args

from hw.printer.base import Device, Printer
from hw.printer.errors import PaperOut, PrinterError, PrinterOffline
from hw.printer.status import Paper, PrinterStatus, Status
from hw.printer.twin import PrinterEmulator, TwinDevice
from qbus.config.sections import PrinterKind, PrinterSection, StatusQuery

KINDS: tuple[str, ...] = get_args(PrinterKind)  # one list: the config schema's
QUERIES: tuple[str, ...] = get_args(StatusQuery)


def open_device(section: PrinterSection) -> Device:
    """The transport named by the config; raises PrinterError (PrinterOffline when it is not there)."""
    kind = section.kind
    if kind == "twin":
        return TwinDevice()
    if kind == "serial":
        from hw.printer.serial import SerialDevice

        return SerialDevice(section.serial_port, section.baudrate)
    if kind == "network":
        from hw.printer.network import NetworkDevice

        return NetworkDevice(section.host, section.port)
    if kind == "file":
        from hw.printer.file import FileDevice

        return FileDevice(section.path)
    if kind == "usb":
        from hw.printer.usb import UsbDevice

        return UsbDevice(section.usb_vendor, section.usb_product)
    raise PrinterError(f"printer.kind: {kind!r} is not one of {', '.join(KINDS)}")


def open_printer(section: PrinterSection) -> Printer:
    """Open the configured printer. Status query style comes from `[printer] status_query`."""
    if section.status_query not in QUERIES:
        raise PrinterError(f"printer.status_query: {section.status_query!r} is not one of {', '.join(QUERIES)}")
    return Printer(open_device(section), status_query=section.status_query, answer_s=section.status_timeout_s)


__all__ = [
    "KINDS",
    "Device",
    "Paper",
    "PaperOut",
    "Printer",
    "PrinterEmulator",
    "PrinterError",
    "PrinterOffline",
    "PrinterStatus",
    "Status",
    "TwinDevice",
    "open_device",
    "open_printer",
]
