"""An ordered queue of waiting tickets with O(1) push/pop for the usual case.

Tickets arrive in time order, so a deque keeps them sorted for free. Only out-of-order inserts
(a transfer keeping its original issue time, a re-queue to the front, appointments) go to a small
heap beside it; the head is the smaller of the two fronts. Removal anywhere is lazy: a ticket's
`gen` changes when it leaves a queue, and stale entries are dropped when they reach a front.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

from qcore.ticket import Ticket

# (wait key, seq, gen, ticket): seq is unique, so the ticket itself is never compared.
Entry = tuple[float, int, int, Ticket]


class Lane:
    __slots__ = ("aged", "fifo", "late", "live")

    def __init__(self, aged: bool = True) -> None:
        self.fifo: deque[Entry] = deque()
        self.late: list[Entry] = []
        self.live = 0
        # True when this lane's tickets also sit in their business's age lane (anti-starvation).
        self.aged = aged

    def push(self, t: Ticket, key: float) -> None:
        """Add a waiting ticket ordered by `key` (the caller has already bumped `t.gen`)."""
        entry = (key, t.seq, t.gen, t)
        fifo = self.fifo
        if not fifo or fifo[-1] <= entry:
            fifo.append(entry)
        else:
            heappush(self.late, entry)
        self.live += 1

    def first(self) -> Entry | None:
        """The head entry (key, seq, gen, ticket) of the first live ticket, dropping stale entries."""
        fifo, late = self.fifo, self.late
        while fifo:
            e = fifo[0]
            if e[2] == e[3].gen:
                break
            fifo.popleft()
        while late:
            e = late[0]
            if e[2] == e[3].gen:
                break
            heappop(late)
        if fifo:
            if late and late[0] < fifo[0]:
                return late[0]
            return fifo[0]
        return late[0] if late else None

    def head(self) -> Ticket | None:
        """The first live ticket, or None."""
        e = self.first()
        return None if e is None else e[3]

    def pop(self) -> Entry | None:
        """Remove and return the head entry (used by alert lanes, which do not count `live`)."""
        e = self.first()
        if e is not None:
            if self.fifo and self.fifo[0] is e:
                self.fifo.popleft()
            else:
                heappop(self.late)
        return e

    def tickets(self) -> list[Ticket]:
        """Live tickets in call order (for queries and snapshots of the waiting list; O(n log n))."""
        live = [e for e in (*self.fifo, *self.late) if e[2] == e[3].gen]
        live.sort()
        return [e[3] for e in live]

    def clear(self) -> None:
        self.fifo.clear()
        self.late.clear()
        self.live = 0
