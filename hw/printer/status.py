"""The project's own printer status: what python-escpos cannot tell apart, done right.

`paper_status()` in python-escpos 3.1 answers 0 both for "no paper" and (after an empty read) treats
silence as plenty of paper; Dummy and File raise NotImplementedError. Here silence is NO_ANSWER, a
byte that is not a status byte is ignored, and a printer that cannot report says UNREPORTED.

Real-time status (DLE EOT n, answered even while the printer is busy or offline), one byte each:
  n=1 printer:  bit 3 = offline
  n=2 offline cause: bit 2 cover open, bit 3 feed button, bit 5 stopped at paper end, bit 6 error
  n=4 paper roll sensor: bits 2-3 = near end, bits 5-6 = paper out
  every DLE EOT answer has bits 1 and 4 set, bits 0 and 7 clear (mask 0x93 == 0x12).
Transmit status (GS r 1, answered after the buffer is processed): bits 0-1 near end, bits 2-3 paper
out; bits 4 and 7 clear. Used for printers that do not implement DLE EOT.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DLE_EOT_PRINTER = b"\x10\x04\x01"
DLE_EOT_OFFLINE = b"\x10\x04\x02"
DLE_EOT_PAPER = b"\x10\x04\x04"
GS_R_PAPER = b"\x1d\x72\x01"


class Paper(enum.StrEnum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


class Status(enum.StrEnum):
    """One word for the kiosk: print, print and warn staff, or refuse."""

    PAPER_OK = "paper_ok"  # online, paper fine
    NEAR_END = "near_end"  # online, roll nearly used up: print, and tell the staff
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"  # answers, but offline (cover open, error)
    NO_ANSWER = "no_answer"
    UNREPORTED = "unreported"  # a transport that cannot read (plain file): printing is attempted


@dataclass(frozen=True)
class PrinterStatus:
    answered: bool
    online: bool
    paper: Paper
    detail: str = ""

    @property
    def state(self) -> Status:
        if not self.answered:
            return Status.UNREPORTED if self.paper is Paper.UNKNOWN and self.online else Status.NO_ANSWER
        if self.paper is Paper.OUT:
            return Status.PAPER_OUT
        if not self.online:
            return Status.OFFLINE
        if self.paper is Paper.NEAR_END:
            return Status.NEAR_END
        return Status.PAPER_OK

    @property
    def can_print(self) -> bool:
        return self.state in (Status.PAPER_OK, Status.NEAR_END, Status.UNREPORTED)


NO_ANSWER = PrinterStatus(answered=False, online=False, paper=Paper.UNKNOWN, detail="no answer")
UNREPORTED = PrinterStatus(answered=False, online=True, paper=Paper.UNKNOWN, detail="cannot report")


def is_dle_eot_byte(b: int) -> bool:
    return b & 0x93 == 0x12


def is_gs_r_byte(b: int) -> bool:
    return b & 0x90 == 0


def paper_from_dle_eot(b: int) -> Paper:
    if b & 0x60:
        return Paper.OUT
    if b & 0x0C:
        return Paper.NEAR_END
    return Paper.OK


def paper_from_gs_r(b: int) -> Paper:
    if b & 0x0C:
        return Paper.OUT
    if b & 0x03:
        return Paper.NEAR_END
    return Paper.OK


def offline_cause(b: int) -> str:
    causes = [name for bit, name in ((0x04, "cover open"), (0x08, "feed button"),
                                     (0x20, "stopped at paper end"), (0x40, "error")) if b & bit]
    return ", ".join(causes) or "offline"
