"""De-duplication of resent frames, per sender address.

A device resends a frame when our acknowledgement was lost; the resend carries the same sequence
number and the same content. We acknowledge it again (so the device stops) but act on it only
once. A frame counts as a duplicate only if seq *and* content match a frame accepted from that
address within `window_s`: a device that rebooted and restarted its sequence at a number we saw
long ago is not silenced, and a real second press (next seq) always goes through.
"""

from __future__ import annotations

from collections import deque

from firmware_bridge.frame import Frame

DEFAULT_WINDOW_S = 5.0
_REMEMBER = 8  # frames in flight per device are one at a time; a few cover interleaved heartbeats


class Deduper:
    """`accept(frame, now)` is True the first time and False for a resend of it."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_s = window_s
        self.duplicates = 0
        self._seen: dict[int, deque[tuple[int, int, bytes, float]]] = {}

    def accept(self, frame: Frame, now: float) -> bool:
        recent = self._seen.setdefault(frame.address, deque(maxlen=_REMEMBER))
        for seq, cmd, payload, at in recent:
            if seq == frame.seq and cmd == frame.command and payload == frame.payload and now - at <= self.window_s:
                self.duplicates += 1
                return False
        recent.append((frame.seq, frame.command, frame.payload, now))
        return True

    def forget(self, address: int | None = None) -> None:
        """Drop history (of one device, e.g. after it was replaced, or of all)."""
        if address is None:
            self._seen.clear()
        else:
            self._seen.pop(address, None)
