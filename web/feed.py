"""The web service's side of the bus: one reading subscription, two command identities.

`web1` subscribes once to `state/#`, `event/+`, `alert/advice` (the core's advisor: the dashboard's
"open another counter" and low-rating alerts), `presence/+` and `notice` and hands every raw
message to the event loop (`loop.call_soon_threadsafe`), where the LiveBranch applies it and the
pages are updated: paho's network thread never touches the model. Commands go out as `web1`
(a manager's) or `web_lobby1` (a lobby person's), so the broker and the core both hold the lobby
to the lobby's rights whatever the web code does. With `[web] poster` on, a third identity
(`web_poster1`) sends the door poster's remote tickets and nothing else. `request()` blocks, so pages call it in a
worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.errors import BusError

_LOG = logging.getLogger(__name__)


class BusFeed:
    """`start(loop, on_message, on_link)`, `send(role, cmd)`, `close()` (safe twice)."""

    def __init__(self, reader: BusClient, lobby: BusClient, poster: BusClient | None = None) -> None:
        self.reader = reader  # also the manager's command identity
        self.lobby = lobby
        self.poster = poster  # the door poster's remote tickets ([web] poster), issue only
        self._closed = False

    def start(self, loop: asyncio.AbstractEventLoop, on_message: Callable[[str, bytes], None],
              on_link: Callable[[bool], None]) -> None:
        t = self.reader.topics

        def raw(msg: Received[bytes]) -> None:
            loop.call_soon_threadsafe(on_message, msg.topic, msg.value)

        for topic_filter in (t.all_state(), t.all_events(), t.alert("advice"), t.all_presence(), t.notice()):
            self.reader.subscribe(topic_filter, bytes, raw)
        def link(up: bool) -> Callable[[], None]:
            def tell() -> None:
                loop.call_soon_threadsafe(on_link, up)
            return tell

        self.reader.on_online = link(True)
        self.reader.on_offline = link(False)
        self.reader.start()
        self.lobby.start()
        if self.poster is not None:
            self.poster.start()
        _LOG.info("web service on the bus as %s (lobby commands as %s) at %s:%s", self.reader.device,
                  self.lobby.device, self.reader.host, self.reader.port)

    def send(self, role: str, cmd: m.Command) -> m.Reply:
        """Send `cmd` for a person of `role` (or the door poster's customer, role `poster`) and wait
        for the core's reply (BusError if none)."""
        if role == "poster":
            if self.poster is None:
                raise BusError("the door poster's remote ticket is off ([web] poster)")
            return self.poster.request(cmd)
        bus = self.reader if role == "manager" else self.lobby
        return bus.request(cmd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for bus in (self.lobby, self.reader, *([self.poster] if self.poster is not None else [])):
            try:
                bus.close()
            except BusError as err:
                _LOG.debug("closing %s: %s", bus.device, err)
