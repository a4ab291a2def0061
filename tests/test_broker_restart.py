"""The broker coming back (issue 16): the core and the devices are back within about a second of
the broker, and the hall's call (and voice) cannot be missed across a broker kill. Real Mosquitto,
killed with SIGKILL; the real core service; the real hall feed into HallState."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from display.feed import bus_feed
from display.hall import HallState
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import load
from qbus.topics import Topics
from tests.conftest import CoreOn, MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
DOWN_S = 3.2  # how long the broker stays dead: an old 1, 2, 4 s backoff would next try at 7 s


def _login(bus: BusClient, counter: int) -> None:
    teller = CFG.teller[counter - 1].id
    assert bus.request(m.Login(counter=counter, teller=teller, pin=teller), 10).ok


def test_core_and_devices_are_back_within_a_second_of_the_broker(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                                  make_bus: MakeBus) -> None:
    runner = core_on(mosquitto, CFG)
    went = threading.Event()
    runner.bus.on_offline = went.set
    kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    mosquitto.kill()
    assert went.wait(10)
    answered: list[float] = []
    late = threading.Thread(target=lambda: answered.append(
        time.monotonic() if kiosk.request(m.Issue(business="cash"), 30).ok else -1.0))
    late.start()  # a customer presses the button while the broker is dead
    time.sleep(DOWN_S)  # the outage itself (nothing to wait for: it is the scenario)
    mosquitto.start()
    back = time.monotonic()
    assert runner.bus.wait_online(10)
    core_back = time.monotonic() - back
    late.join(30)
    assert core_back <= 1.5, f"core back {core_back:.2f} s after the broker"
    assert answered and answered[0] > 0 and answered[0] - back <= 2.0, "the kiosk's ticket came late"


def _hall(inbox: queue.Queue[object], state: HallState, until: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state.apply(inbox.get(timeout=0.2), time.time())
        except queue.Empty:
            continue
        if until():
            return True
    return False


def test_a_call_made_while_the_hall_was_cut_off_by_a_broker_kill_is_still_announced(
        mosquitto: MosquittoBroker, core_on: CoreOn, make_bus: MakeBus) -> None:
    core_on(mosquitto, CFG)
    counter = make_bus(mosquitto, "counter1", topics=TOPICS)
    kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
    _login(counter, 1)
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    assert counter.request(m.CallNext(counter=1), 10).number == "A001"
    inbox: queue.Queue[object] = queue.Queue()
    # A screen slow to reconnect (3 s): the core is back first and the call goes out before it.
    screen = BusClient.from_config(CFG.bus, CFG.branch.id, "display1", host=mosquitto.host,
                                   port=mosquitto.port, clean_session=False, reconnect_min_s=3.0,
                                   reconnect_max_s=3.0)
    close = bus_feed(CFG, inbox.put, client=screen)
    state = HallState.from_config(CFG)
    heard: list[str] = []
    try:
        assert _hall(inbox, state, lambda: any(c.number == "A001" for c in state.calling))
        assert state.take_missed() == []  # what a fresh screen finds is not news
        assert kiosk.request(m.Issue(business="cash"), 10).ok
        assert counter.request(m.Skip(counter=1), 10).ok
        mosquitto.restart()  # SIGKILL: what it had not delivered is gone
        assert counter.request(m.CallNext(counter=1), 10).number == "A002"

        def announced() -> bool:
            heard.extend(c.number for c in state.take_missed())
            return "A002" in heard

        assert _hall(inbox, state, announced), "the hall never called A002"
        assert any(c.number == "A002" for c in state.calling)
        assert state.highlight is not None and state.highlight.number == "A002"
        _hall(inbox, state, lambda: False, timeout=1.0)  # whatever else arrives must not repeat it
        heard.extend(c.number for c in state.take_missed())
        assert heard == ["A002"]
    finally:
        close()


def test_a_screen_whose_own_link_dropped_gets_the_calls_it_missed_from_its_session(
        mosquitto: MosquittoBroker, core_on: CoreOn, make_bus: MakeBus) -> None:
    core_on(mosquitto, CFG)
    counter = make_bus(mosquitto, "counter1", topics=TOPICS)
    kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
    _login(counter, 1)
    inbox: queue.Queue[object] = queue.Queue()
    close = bus_feed(CFG, inbox.put, host=mosquitto.host, port=mosquitto.port)
    state = HallState.from_config(CFG)
    assert _hall(inbox, state, lambda: state.online and state.heard_day is not None)
    close()  # the screen's link goes (a cable, a reboot); its session stays on the broker
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    assert counter.request(m.CallNext(counter=1), 10).number == "A001"
    events: queue.Queue[object] = queue.Queue()
    close = bus_feed(CFG, events.put, host=mosquitto.host, port=mosquitto.port)
    try:
        got: list[object] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(isinstance(x, m.TicketCalled) for x in got):
            try:
                got.append(events.get(timeout=0.2))
            except queue.Empty:
                pass
        called = [x for x in got if isinstance(x, m.TicketCalled)]
        assert [c.number for c in called] == ["A001"], "the broker kept the call for the screen"
    finally:
        close()
