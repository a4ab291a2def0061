"""The software counter panel (`qcall panel`) on a real broker and core: a teller without a
hardware keypad logs in, calls, welcomes, serves and asks for a rating from the terminal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient, Received
from qbus.config import load
from qbus.errors import ConfigError
from qbus.topics import Topics
from qcall.panel import BusPanel
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.bus_helpers import Printed
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)


@pytest.fixture
def branch(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[MosquittoBroker]:
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port, pins=PinBook.example_for(CFG, CHEAP_COST)):
        yield mosquitto


def test_a_teller_serves_a_customer_from_the_terminal(branch: MosquittoBroker, make_bus: MakeBus) -> None:
    kiosk = make_bus(branch, "kiosk1", topics=TOPICS)
    assert kiosk.request(m.Issue(business="personal"), 10).ok
    screen = Printed()
    bus = BusClient(host=branch.host, port=branch.port, topics=TOPICS, device="counter3")
    panel = BusPanel(CFG, 3, bus, screen).start()
    events: list[m.AnyEvent] = []
    rated = threading.Event()

    def on_rated(msg: Received[m.AnyEvent]) -> None:
        events.append(msg.value)
        rated.set()

    watcher = make_bus(branch, "manager1", topics=TOPICS, connect=False)
    watcher.subscribe(TOPICS.event("rated"), m.decode_event, on_rated)
    watcher.connect(10)
    try:
        assert panel.ui.prompt() == ("工号 teller id: ", False)
        panel.handle_line("1003")
        assert panel.ui.prompt() == ("密码 PIN: ", True)

        def type_line(line: str, shows: str) -> None:
            since = screen.mark()  # what the line brings back may come before we start waiting
            panel.handle_line(line)
            screen.wait_for(lambda x: shows in x, since=since)

        type_line("1003", "keypad: 空闲")
        type_line("n", "pad: B001")
        type_line("w", "welcome")
        type_line("e", "请评价")
        type_line("star 4", "? star")  # the teller cannot rate their own service
        pad = make_bus(branch, "pad3", topics=TOPICS)  # the customer's rating pad can
        since = screen.mark()
        assert pad.request(m.Rate(counter=3, stars=4), 10).ok
        screen.wait_for(lambda x: "谢谢" in x, since=since)
        assert rated.wait(10)
        ev = events[0]
        assert isinstance(ev, m.ServiceRated), ev
        assert (ev.number, ev.stars, ev.teller, ev.source) == ("B001", 4, "1003", "pad3")
    finally:
        panel.close()
    panel.close()  # safe twice


def test_a_refused_command_is_shown_to_the_teller(branch: MosquittoBroker) -> None:
    screen = Printed()
    bus = BusClient(host=branch.host, port=branch.port, topics=TOPICS, device="counter2")
    panel = BusPanel(CFG, 2, bus, screen).start()
    try:
        panel.handle_line("1002")
        since = screen.mark()
        panel.handle_line("9999")  # wrong PIN
        screen.wait_for(lambda x: "(beep)" in x, since=since)
        assert panel.ui.prompt() == ("工号 teller id: ", False)
        assert not any("9999" in x for x in screen.lines), "a PIN is never shown"
    finally:
        panel.close()


def test_an_unknown_counter_is_a_clear_error() -> None:
    bus = BusClient(host="127.0.0.1", port=1, topics=TOPICS, device="counter42")
    with pytest.raises(ConfigError, match="counter 42 is not in the branch config"):
        BusPanel(CFG, 42, bus, print)
    bus.close()
