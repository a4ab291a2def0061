"""Flow limits of the core service: a token bucket per device, and a count of unacknowledged
messages that holds the service back instead of letting paho's queue (and RSS) grow.

Why: one kiosk sending 5,000 issues a second used to fill the core's outgoing queue until replies
and events were dropped, and to run the numbers past their width. With a bucket per device that
kiosk gets a `rate_limited` reply for what it sends past its rate, at once and without touching the
core, the journal or anyone else's turn. Time is the branch clock's, passed in, so tests are
deterministic.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from qbus.errors import QcallError

_MAX_BUCKETS = 4096  # devices come from topics: an anonymous broker could make up any number


class RateLimited(QcallError):
    """This device sent requests faster than its limit; the request was not applied."""

    code = "rate_limited"
    zh = "请求过于频繁，请稍后再试"


class Overloaded(RateLimited):
    """The core has more requests waiting than it may hold; the request was not applied."""

    zh = "系统繁忙，请稍后再试"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class DeviceLimiter:
    """`burst` requests at once per device, refilled at `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def take(self, device: str, now: float) -> bool:
        """Spend one token of `device`; False (and nothing spent) when it has none left."""
        b = self._buckets.get(device)
        if b is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            b = self._buckets[device] = _Bucket(self.burst, now)
        elif now > b.at:
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens < 1.0:
            return False
        b.tokens -= 1.0
        return True

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (a new bucket starts full anyway)."""
        full = [d for d, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for d in full:
            del self._buckets[d]
        if len(self._buckets) >= _MAX_BUCKETS:  # all busy: the oldest go (they start full again)
            for d in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[d]


class Unacked:
    """How many published messages wait for the broker's acknowledgement (thread-safe)."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def add(self) -> None:
        with self._cond:
            self.count += 1

    def done(self) -> None:  # on the MQTT network thread
        with self._cond:
            self.count -= 1
            self._cond.notify_all()

    def wait_below(self, limit: int, timeout: float) -> bool:
        """Wait until fewer than `limit` are unacknowledged; False if still not after `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count < limit, timeout)
