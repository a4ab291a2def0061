"""The display's side of the bus: subscribe to what the hall screen shows, deliver it to the inbox.

Only retained state and a few event types are needed: `state/hall` (the whole picture, so a
restarted screen or one back from a broker outage is right again at once), `state/queues`,
`notice`, and the events that change the picture between two HallViews (called, recalled,
counter, day_reset). The broker link is reported as `BusLink(online=...)` so the screen can show
its offline mark. Everything runs on the client's network thread and only puts into the inbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from display.hall import BusLink
from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import BranchConfig

_LOG = logging.getLogger(__name__)

HALL_EVENTS = ("called", "recalled", "counter", "day_reset")


def bus_feed(cfg: BranchConfig, deliver: Callable[[object], None], *, device: str = "display1",
             host: str | None = None, port: int | None = None,
             client: BusClient | None = None) -> Callable[[], None]:
    """Connect (in the background; the screen runs offline until the broker answers) and feed
    `deliver`. Returns the function that disconnects."""
    # A persistent session (clean_session false, QoS 1 subscriptions): while this screen's own link
    # is down and the broker is up, the broker keeps its calls for it. What a broker restart loses
    # is recovered from the retained HallView (HallState.missed_calls; docs/mqtt.md).
    bus = client or BusClient.from_config(cfg.bus, cfg.branch.id, device, host=host, port=port,
                                          clean_session=False)
    t = bus.topics

    def value(msg: Received[Any]) -> None:
        deliver(msg.value)

    bus.subscribe(t.state_hall(), m.HallView, value)
    bus.subscribe(t.state_queues(), m.QueueState, value)
    bus.subscribe(t.notice(), m.Notice, value)
    for kind in HALL_EVENTS:
        bus.subscribe(t.event(kind), m.decode_event, value)
    bus.on_online = lambda: deliver(BusLink(online=True))
    bus.on_offline = lambda: deliver(BusLink(online=False))
    try:
        bus.start()
    except BaseException:
        bus.close()
        raise
    _LOG.info("hall display %s subscribed at %s:%s", bus.device, bus.host, bus.port)
    return bus.close
