"""One bus subscription, many open pages: fan-out of pre-encoded Server-Sent Events.

Every message from the bus is applied once (web.live), each changed page section is rendered
once per channel (one per role for the dashboards; issue 13's phone pages will add one per
ticket or one shared queue channel), encoded once, and the same bytes are queued to every stream
following that channel. A call therefore costs one render and N cheap queue puts, not N renders
or N bus subscriptions. A stream whose queue is full (a stalled client) is dropped; its browser's
EventSource reconnects and gets the whole picture again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

_LOG = logging.getLogger(__name__)

QUEUE_MAX = 64
PING_S = 15.0  # a comment line this often keeps proxies from closing an idle stream


def sse(event: str, data: object) -> bytes:
    """One SSE message: `event:` line and one `data:` line of compact JSON."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


PING = b": ping\n\n"
BYE = b"event: bye\ndata: {}\n\n"


class Follower:
    """One open event stream."""

    __slots__ = ("channel", "closed", "queue")

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MAX)
        self.closed = False


class Broadcaster:
    """Channels of followers; publish() runs on the event loop (never from another thread)."""

    def __init__(self) -> None:
        self._channels: dict[str, set[Follower]] = {}
        self.dropped = 0

    def follow(self, channel: str) -> Follower:
        f = Follower(channel)
        self._channels.setdefault(channel, set()).add(f)
        return f

    def leave(self, f: Follower) -> None:
        f.closed = True
        group = self._channels.get(f.channel)
        if group is not None:
            group.discard(f)
            if not group:
                del self._channels[f.channel]

    def count(self, channel: str | None = None) -> int:
        if channel is None:
            return sum(len(g) for g in self._channels.values())
        return len(self._channels.get(channel, ()))

    def channels(self) -> list[str]:
        """Channels someone follows now."""
        return list(self._channels)

    def has(self, channel: str) -> bool:
        return bool(self._channels.get(channel))

    def publish(self, channel: str, data: bytes) -> int:
        """Queue `data` to every follower of `channel`; returns how many got it."""
        group = self._channels.get(channel)
        if not group:
            return 0
        stalled = []
        for f in group:
            try:
                f.queue.put_nowait(data)
            except asyncio.QueueFull:
                stalled.append(f)
        for f in stalled:
            self.dropped += 1
            _LOG.info("dropping a stalled event stream on %s (it will reconnect and resync)", channel)
            self.leave(f)
            try:
                f.queue.get_nowait()
                f.queue.put_nowait(BYE)
            except (asyncio.QueueEmpty, asyncio.QueueFull):
                pass
        return len(group)


class SessionStreams:
    """The streams each signed-in session has open, so signing out (or an expired session) ends
    them at once instead of at their next message."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self.broadcaster = broadcaster
        self._by_sid: dict[str, set[Follower]] = {}

    def follow(self, sid: str, channel: str) -> Follower:
        f = self.broadcaster.follow(channel)
        self._by_sid.setdefault(sid, set()).add(f)
        return f

    def leave(self, sid: str, f: Follower) -> None:
        self.broadcaster.leave(f)
        group = self._by_sid.get(sid)
        if group is not None:
            group.discard(f)
            if not group:
                del self._by_sid[sid]

    def end(self, sid: str) -> None:
        for f in self._by_sid.pop(sid, set()):
            try:
                f.queue.put_nowait(BYE)
            except asyncio.QueueFull:
                self.broadcaster.leave(f)


async def signed_in_stream(first: bytes, follower: Follower, alive: Callable[[], bool],
                           close: Callable[[], None]) -> AsyncIterator[bytes]:
    """A signed-in page's event stream: `first` (the whole picture), then what the follower is
    sent, a ping when nothing came for PING_S; `bye` once the session is gone. `close` runs when
    the browser goes away too."""
    try:
        yield b"retry: 2000\n" + first
        while True:
            try:
                data = await asyncio.wait_for(follower.queue.get(), PING_S)
            except TimeoutError:
                data = PING
            if data is BYE or not alive():
                yield BYE
                return
            yield data
    finally:
        close()
