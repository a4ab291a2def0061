"""The printer seam: an escpos device that can also read status bytes, and the `Printer` around it.

Each transport (usb, serial, network, file, twin) is one small module with a `Device`: python-escpos's
single `_raw(bytes)` for output plus `_read_status(timeout)` for the status bytes. `Printer` is what
the kiosk holds: `status()` done right, and `print_ticket(bytes)` that maps every transport error to
the PrinterError family and re-checks the status after printing, so a roll that ran out mid-ticket
is reported instead of silently eating the ticket.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable

from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError

from hw.printer.errors import PaperOut, PrinterError, PrinterOffline
from hw.printer.status import (
    DLE_EOT_OFFLINE,
    DLE_EOT_PAPER,
    DLE_EOT_PRINTER,
    GS_R_PAPER,
    NO_ANSWER,
    UNREPORTED,
    Paper,
    PrinterStatus,
    Status,
    is_dle_eot_byte,
    is_gs_r_byte,
    offline_cause,
    paper_from_dle_eot,
    paper_from_gs_r,
)
from qbus.config.sections import StatusQuery

_LOG = logging.getLogger(__name__)



class Device(Escpos):  # type: ignore[misc]  # python-escpos ships no type hints
    """An escpos printer that can read status bytes. `can_read` False: the transport is one-way."""

    can_read = True

    @abstractmethod
    def _raw(self, msg: bytes) -> None: ...

    def _read_status(self, timeout: float) -> bytes:
        """Bytes the printer sent back within `timeout` s (b"" when none)."""
        raise NotImplementedError

    def _drain(self) -> None:
        """Drop stale bytes (automatic status back, late answers) before asking."""

    def __del__(self) -> None:  # escpos closes in __del__; we close explicitly instead
        pass


class Printer:
    """The ticket printer the kiosk holds: status, print, close."""

    def __init__(self, device: Device, *, status_query: StatusQuery = "dle_eot", answer_s: float = 0.3) -> None:
        self.device = device
        self.status_query: StatusQuery = status_query if device.can_read else "none"
        self.answer_s = answer_s
        self.last_status: PrinterStatus | None = None

    def status(self) -> PrinterStatus:
        """Ask the printer now. Never raises: a transport failure is NO_ANSWER."""
        try:
            got = self._query()
        except (OSError, PrinterError, ValueError) as err:
            _LOG.warning("printer status query failed: %s", err)
            got = NO_ANSWER
        if self.last_status is None or got.state != self.last_status.state:
            _LOG.info("printer status: %s (%s)", got.state, got.detail)
        self.last_status = got
        return got

    def _query(self) -> PrinterStatus:
        if self.status_query == "none":
            return UNREPORTED
        if self.status_query == "gs_r":
            b = self._ask(GS_R_PAPER, is_gs_r_byte)
            if b is None:
                return NO_ANSWER
            return PrinterStatus(answered=True, online=True, paper=paper_from_gs_r(b))
        printer = self._ask(DLE_EOT_PRINTER, is_dle_eot_byte)
        if printer is None:
            return NO_ANSWER
        paper_b = self._ask(DLE_EOT_PAPER, is_dle_eot_byte)
        if paper_b is None:
            return NO_ANSWER
        paper = paper_from_dle_eot(paper_b)
        online = not printer & 0x08
        detail = str(paper)
        if not online:
            cause = self._ask(DLE_EOT_OFFLINE, is_dle_eot_byte)
            detail = offline_cause(cause) if cause is not None else "offline"
        return PrinterStatus(answered=True, online=online, paper=paper, detail=detail)

    def _ask(self, query: bytes, valid: Callable[[int], bool]) -> int | None:
        self.device._drain()
        self.device._raw(query)
        deadline = time.monotonic() + self.answer_s
        while (left := deadline - time.monotonic()) > 0:
            for b in self.device._read_status(left):
                if valid(b):
                    return b
        return None

    def print_ticket(self, data: bytes) -> PrinterStatus:
        """Send one ticket's bytes; raise PaperOut / PrinterOffline if it did not come out whole."""
        try:
            self.device._raw(data)
        except PrinterError:
            raise
        except (OSError, EscposError) as err:  # pyserial, socket and usb errors are OSErrors
            raise PrinterOffline(f"printer write failed: {err}") from err
        after = self.status()
        if after.state is Status.PAPER_OUT:
            raise PaperOut("paper ran out while printing; the ticket may be incomplete")
        if after.state in (Status.OFFLINE, Status.NO_ANSWER):
            raise PrinterOffline(f"printer went {after.state} while printing ({after.detail})")
        return after

    def close(self) -> None:
        """Close the transport; safe twice."""
        dev, self.device = self.device, _Closed()
        dev.close()

    def __enter__(self) -> Printer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Closed(Device):
    can_read = False

    def _raw(self, msg: bytes) -> None:
        raise PrinterOffline("printer is closed")


__all__ = ["Device", "Paper", "Printer", "PrinterStatus", "Status", "StatusQuery"]
