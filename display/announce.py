"""Which call to say next: the announcement queue, pure logic with no audio and no threads.

Announcements never overlap (one plays at a time), so a burst of calls builds a backlog. The
rules keep what is said current and the newest call close:

- One pending slot per counter. A new call or a recall at a counter replaces what that counter
  had waiting, in place: the older number there is no longer being called (saying it would send
  someone to a counter that now wants somebody else), and the counter keeps its turn.
- The backlog is bounded: past `max_pending`, the oldest waiting announcements are dropped (the
  numbers are still on the screen). The one just pushed is never dropped.
- Repeats collapse under load: an announcement is repeated only while nothing else is waiting,
  so a burst costs one saying per call, not `repeat` sayings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Announcement:
    """One call to say. `recall` is 0 for the first call, n for the n-th recall."""

    number: str
    counter: int
    recall: int = 0


class AnnouncementQueue:
    """FIFO of per-counter slots with a bounded backlog."""

    def __init__(self, max_pending: int = 4) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self._slots: list[Announcement] = []

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def pending(self) -> list[Announcement]:
        return list(self._slots)

    def push(self, a: Announcement) -> list[Announcement]:
        """Queue `a`; returns what it displaced or pushed out (for the log)."""
        dropped: list[Announcement] = []
        for i, old in enumerate(self._slots):
            if old.counter == a.counter:
                self._slots[i] = a
                if old.number != a.number:
                    dropped.append(old)
                break
        else:
            self._slots.append(a)
        while len(self._slots) > self.max_pending:
            head = self._slots[0] if self._slots[0] is not a else self._slots[1]
            self._slots.remove(head)
            dropped.append(head)
        return dropped

    def pop(self) -> Announcement | None:
        return self._slots.pop(0) if self._slots else None

    def more_repeats(self, done: int, configured: int) -> bool:
        """Say the current announcement again? Only up to `configured` and only if nobody waits."""
        return done < configured and not self._slots
