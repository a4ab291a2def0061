"""Branch time for the core: wall-clock based, but immune to the jumps of a Raspberry Pi's clock.

A Pi has no real-time clock: it boots with the time it last saved (fake-hwclock), then NTP
corrects it, often by hours, minutes after boot. If the core read `time.time()` directly, a
ticket issued before the correction would show a wait of hours after it. So branch time is
`base + monotonic elapsed`: it never runs backwards and never jumps by itself. It starts from the
wall clock or the journal's last time, whichever is later, and adopts a forward correction only
when `resync(safe=True)` says nobody is waiting (so no wait spans the jump). Backward corrections
are never adopted; the core clamps time as well.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

_LOG = logging.getLogger(__name__)


class BranchClock:
    def __init__(self, floor: float = 0.0, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic, max_drift_s: float = 120.0) -> None:
        self._wall = wall
        self._mono = mono
        self._base = max(wall(), floor)
        self._m0 = mono()
        self.max_drift_s = max_drift_s

    def now(self) -> float:
        return self._base + (self._mono() - self._m0)

    def drift(self) -> float:
        """Wall clock minus branch time (positive: the wall clock jumped ahead)."""
        return self._wall() - self.now()

    def resync(self, safe: bool) -> float:
        """Adopt a forward wall-clock correction larger than max_drift_s when `safe`; returns the jump."""
        off = self.drift()
        if off > self.max_drift_s and safe:
            _LOG.warning("wall clock is %.0f s ahead of branch time; adopting it (nobody waiting)", off)
            self._base += off
            return off
        return 0.0


def business_day(t: float, tz: str, reset_hhmm: str) -> str:
    """The business day (YYYY-MM-DD) a moment belongs to: days turn over at the daily reset time."""
    hh, mm = map(int, reset_hhmm.split(":"))
    local = dt.datetime.fromtimestamp(t, ZoneInfo(tz)) - dt.timedelta(hours=hh, minutes=mm)
    return local.date().isoformat()


def local_hour(t: float, tz: str) -> int:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).hour
