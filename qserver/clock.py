"""Branch time for the core: wall-clock based, but immune to the jumps of a Raspberry Pi's clock.

A Pi has no real-time clock: it boots with the time it last saved (fake-hwclock), then NTP
corrects it, often by hours, minutes after boot. If the core read `time.time()` directly, a
ticket issued before the correction would show a wait of hours after it. So branch time is
`base + monotonic elapsed`: it never jumps by itself. It starts from the wall clock or the
journal's last time, whichever is later.

The policy (docs/architecture.md, "Time"):
* **Confirmed before opening.** A clock is *confirmed* once the system says it is synchronised
  (`system_time_synced`: systemd-timesyncd's flag file, or the kernel's adjtimex status that every
  NTP daemon clears) or a manager confirmed it over the bus (`confirm`). Until then the service
  refuses requests and does not open a new day, and the hall screen says so.
* **Steps only when safe.** The service adopts the wall clock (`step`) when it differs from branch
  time by more than `max_drift_s`, in either direction, only while nobody is waiting, called or
  being served, so no wait or service spans the step. One exception: the first confirmation after
  an unconfirmed start may move time *forward* at once (that time really passed while the Pi was
  down; no request was accepted on the unconfirmed clock).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from qbus.config import BranchConfig

_LOG = logging.getLogger(__name__)

TIMESYNCD_FLAG = "/run/systemd/timesync/synchronized"
_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


class _Timex(ctypes.Structure):
    """struct timex of adjtimex(2) (Linux, 64-bit and 32-bit longs alike)."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
                ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]


def kernel_time_synced() -> bool:
    """adjtimex(2) read-only: the kernel's clock is disciplined by an NTP daemon (chrony, ntpd,
    systemd-timesyncd all clear STA_UNSYNC). False where adjtimex is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return False
    return bool(state >= 0 and state != _TIME_ERROR and not tx.status & _STA_UNSYNC)


def system_time_synced(flag: str = TIMESYNCD_FLAG) -> bool:
    """Whether this machine's wall clock is synchronised (the default confirmation source)."""
    return os.path.exists(flag) or kernel_time_synced()


class BranchClock:
    def __init__(self, floor: float = 0.0, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic, max_drift_s: float = 120.0,
                 synced: Callable[[], bool] | None = None) -> None:
        self._wall = wall
        self._mono = mono
        self._base = max(wall(), floor)
        self._m0 = mono()
        # Looked up at each call, so a test can stand in for the OS's sync state (a boundary
        # no container here has: its kernel clock is never NTP-disciplined).
        self._synced = synced or (lambda: system_time_synced())
        self._confirmed = False
        self._offset = 0.0  # a manager's correction of this machine's wall clock
        self.max_drift_s = max_drift_s
        # True until the first confirmation has been acted on (see `first_step_allowed`).
        self.unconfirmed_at_start = not self.confirmed

    def now(self) -> float:
        return self._base + (self._mono() - self._m0)

    @property
    def confirmed(self) -> bool:
        """Whether branch time can be trusted to open a day and serve (latched once true)."""
        if not self._confirmed and self._synced():
            self._confirmed = True
            self._offset = 0.0
            _LOG.info("the system clock is synchronised: branch time confirmed")
        return self._confirmed

    def confirm(self, manager_now: float, by: str) -> None:
        """A manager confirms the time (`manager_now` is their device's clock): trusted from now on;
        if it differs from this machine's clock by more than max_drift_s, theirs is the truth."""
        off = manager_now - self._wall()
        self._offset = off if abs(off) > self.max_drift_s else 0.0
        self._confirmed = True
        _LOG.warning("branch clock confirmed by %s (their clock %+.0f s from this machine's)", by, off)

    def true_time(self) -> float:
        """The wall clock as corrected by a manager's confirmation, if any (until the system
        clock is synchronised: then the wall clock is the truth again)."""
        if self._offset and self._synced():
            _LOG.info("the system clock is synchronised: the manager's correction is no longer used")
            self._offset = 0.0
        return self._wall() + self._offset

    def drift(self) -> float:
        """Wall clock minus branch time (positive: the wall clock is ahead)."""
        return self.true_time() - self.now()

    def step(self) -> float:
        """Adopt the wall clock now (the caller checked it is safe); returns the step in seconds."""
        off = self.drift()
        self._base += off
        _LOG.warning("branch time stepped by %+.0f s to the wall clock", off)
        return off

    def resync(self, safe: bool) -> float:
        """Adopt a wall-clock difference larger than max_drift_s (either way) when `safe`."""
        if safe and self.confirmed and abs(self.drift()) > self.max_drift_s:
            return self.step()
        return 0.0


def business_day(t: float, tz: str, reset_hhmm: str) -> str:
    """The business day (YYYY-MM-DD) a moment belongs to: days turn over at the daily reset time."""
    hh, mm = map(int, reset_hhmm.split(":"))
    local = dt.datetime.fromtimestamp(t, ZoneInfo(tz)) - dt.timedelta(hours=hh, minutes=mm)
    return local.date().isoformat()


def local_hour(t: float, tz: str) -> int:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).hour


def branch_clock(cfg: BranchConfig, floor: float) -> BranchClock:
    """The branch's clock as its `[clock]` section says (`rtc`: trusted at once)."""
    synced = (lambda: True) if cfg.clock.confirm == "rtc" else None
    return BranchClock(floor=floor, max_drift_s=cfg.clock.max_step_s, synced=synced)
