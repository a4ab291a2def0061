"""The in-process half of `bench/kiosk.py`: card swipe bytes on a pty -> stripe reader -> recognition
-> flow -> complete ticket bytes at the printer twin. The bus half is the injected `issue` callable,
so the bench measures swipe -> ticket through the real broker and core when the lead passes the bus
client, and this module alone when a stand-in is passed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import msgspec

from hw.magcard import MagCardTwin, SerialMagReader
from hw.printer import Printer, TwinDevice
from kiosk.flow import IssueFn, KioskFlow, ViewKind
from kiosk.recognition import KeyedHasher, Recognizer, Roster
from qbus.config import BranchConfig
from qbus.errors import QcallError


class RigError(QcallError, RuntimeError):
    """A swipe did not end in a printed ticket."""

    code = "rig"


class SwipeRig:
    """Stripe reader twin + reader on a pty, recognizer, flow and printer twin, wired in-process."""

    def __init__(self, cfg: BranchConfig, issue: IssueFn, *, key: bytes = bytes(range(32)),
                 roster: Roster | None = None, baudrate: int = 9600) -> None:
        # the bench swipes many cards in a row at any hour: no repeat guard, no opening hours,
        # no self-service detour
        kiosk = msgspec.structs.replace(cfg.kiosk, repeat_guard_s=0.0, hours_only=False)
        self.cfg = msgspec.structs.replace(cfg, kiosk=kiosk)
        self.twin = MagCardTwin(baudrate=baudrate)
        try:
            self.reader = SerialMagReader(self.twin.port, baudrate=baudrate)
        except BaseException:
            self.twin.close()
            raise
        self.device = TwinDevice()
        self.printer = Printer(self.device)
        self.flow = KioskFlow(self.cfg, issue=issue, printer=self.printer,
                              recognizer=Recognizer(self.cfg, KeyedHasher(key), roster), steer=False)

    def swipe_to_ticket(self, pan: str, business: str, *, timeout: float = 2.0) -> tuple[bytes, float]:
        """Swipe one card; returns (the ticket's bytes at the printer, milliseconds from swipe)."""
        done = len(self.device.emulator.tickets)
        t0 = time.perf_counter()
        self.twin.swipe(pan)
        presented = self.reader.read(timeout)
        if presented is None:
            raise RigError("the swipe never reached the reader")
        self.flow.present(presented)
        view = self.flow.choose(business)
        ms = (time.perf_counter() - t0) * 1000.0
        tickets = self.device.emulator.tickets
        if view.kind is not ViewKind.ISSUED or len(tickets) != done + 1:
            raise RigError(f"no ticket printed: {view.kind} {view.en}")
        return tickets[-1], ms

    def close(self) -> None:
        self.reader.close()
        self.twin.close()
        self.printer.close()


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p99 (nearest rank) in the bench's key names."""
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    return {"swipe_ticket_p50_ms": round(statistics.median(ordered), 2), "swipe_ticket_p99_ms": round(p99, 2)}
