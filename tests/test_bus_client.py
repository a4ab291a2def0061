"""The bus client against a real Mosquitto: typed delivery, requests that are answered exactly
once, malformed payloads, crashes of the broker and of a device."""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.client import BusClient, Received
from qbus.errors import BusError, BusTimeout
from qbus.topics import Topics
from tests.bus_helpers import FakeCore, Inbox, start_child
from tests.conftest import TEST_BRANCH, MakeBus


def test_retained_state_reaches_a_late_subscriber(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                  topics: Topics) -> None:
    core = make_bus(mosquitto, "core")
    sent = threading.Event()
    core.publish(topics.state_counter(3), m.CounterState(counter=3, status=m.CounterStatus.SERVING, number="A012"),
                 retain=True, on_sent=sent.set)
    assert sent.wait(5)
    display = make_bus(mosquitto, "display1", connect=False)
    inbox = Inbox()
    display.subscribe(topics.all_counter_states(), m.CounterState, inbox)
    display.connect(5)
    assert inbox.wait_count(1)
    got = inbox.items[0]
    assert got.retained and got.topic == topics.state_counter(3)
    assert got.value == m.CounterState(counter=3, status=m.CounterStatus.SERVING, number="A012")


def test_request_gets_its_reply(mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    core = FakeCore(make_bus(mosquitto, "core", connect=False))
    core.bus.connect(5)
    kiosk = make_bus(mosquitto, "kiosk1")
    reply = kiosk.request(m.Issue(business="cash"), timeout=5)
    assert reply.ok and reply.number == "A001"
    assert [(dev, isinstance(req.cmd, m.Issue)) for dev, _, req in core.seen] == [("kiosk1", True)]


def test_requests_are_not_held_back_by_nagle(mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    """With Nagle's algorithm on, every round trip waits for a delayed ACK (~40-90 ms on Linux);
    with TCP_NODELAY it is about a millisecond. 50 calls in 2 s leaves a wide margin either way."""
    core = FakeCore(make_bus(mosquitto, "core", connect=False))
    core.bus.connect(5)
    counter = make_bus(mosquitto, "counter1")
    started = time.perf_counter()
    for _ in range(50):
        assert counter.request(m.CallNext(counter=1), timeout=5).ok
    assert time.perf_counter() - started < 2.0


def test_a_lost_request_is_resent_with_the_same_id_and_applied_once(
        mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    core = FakeCore(make_bus(mosquitto, "core", connect=False), drop_first=1)
    core.bus.connect(5)
    counter = make_bus(mosquitto, "counter3", retry_s=0.2)
    reply = counter.request(m.CallNext(counter=3), timeout=5)
    assert reply.ok
    ids = [rid for _, rid, _ in core.seen]
    assert len(ids) >= 2 and len(set(ids)) == 1
    assert len(core.applied) == 1


def test_a_request_nobody_answers_times_out(mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    kiosk = make_bus(mosquitto, "kiosk1", retry_s=0.1)
    with pytest.raises(BusTimeout, match="no reply to issue") as caught:
        kiosk.request(m.Issue(business="cash"), timeout=0.4)
    assert isinstance(caught.value, TimeoutError) and caught.value.code == "timeout"


def test_a_keypad_shows_no_answer_when_the_core_is_silent(mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    counter = make_bus(mosquitto, "counter1", retry_s=0.1, command_timeout_s=0.4)
    assert counter.answer(m.CallNext(counter=1)) == (False, "系统无响应")


def test_malformed_payloads_are_logged_and_never_reach_the_handler(
        mosquitto: MosquittoBroker, make_bus: MakeBus, topics: Topics, caplog: pytest.LogCaptureFixture) -> None:
    display = make_bus(mosquitto, "display1", connect=False)
    inbox, reported = Inbox(), Inbox()
    display.on_bad_payload = lambda topic, err: reported(Received(topic, err, False))
    display.subscribe(topics.all_counter_states(), m.CounterState, inbox)
    display.connect(5)
    core = make_bus(mosquitto, "core")
    with caplog.at_level(logging.WARNING, logger="qbus.client"):
        core.publish_raw(topics.state_counter(1), b"{not json")
        core.publish_raw(topics.state_counter(1), b'{"v":1,"counter":"one","status":"idle"}')
        core.publish_raw(topics.state_counter(1), b'{"v":1,"counter":1,"status":"idle","pin":"1234"}')
        core.publish(topics.state_counter(1), m.CounterState(counter=1, status=m.CounterStatus.IDLE))
        assert inbox.wait_count(1)
    assert reported.wait_count(3)
    assert inbox.values() == [m.CounterState(counter=1, status=m.CounterStatus.IDLE)]
    assert display.bad_payloads == 3 and display.online
    assert [e.value.code for e in reported.items] == ["bad_payload"] * 3
    assert sum("dropped malformed payload" in r.getMessage() for r in caplog.records) == 3


def test_a_handler_that_raises_does_not_stop_the_client(
        mosquitto: MosquittoBroker, make_bus: MakeBus, topics: Topics, caplog: pytest.LogCaptureFixture) -> None:
    display = make_bus(mosquitto, "display1", connect=False)
    inbox = Inbox()

    def fragile(msg: Received[m.Notice]) -> None:
        inbox(msg)
        if msg.value.zh == "boom":
            raise RuntimeError("handler bug")

    display.subscribe(topics.notice(), m.Notice, fragile)
    display.connect(5)
    core = make_bus(mosquitto, "core")
    with caplog.at_level(logging.ERROR, logger="qbus.client"):
        core.publish(topics.notice(), m.Notice(zh="boom"))
        core.publish(topics.notice(), m.Notice(zh="欢迎光临"))
        assert inbox.wait_count(2)
    assert [n.zh for n in inbox.values()] == ["boom", "欢迎光临"]
    assert display.handler_errors == 1
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)


def test_request_from_inside_a_handler_is_refused_not_deadlocked(
        mosquitto: MosquittoBroker, make_bus: MakeBus, topics: Topics) -> None:
    kiosk = make_bus(mosquitto, "kiosk1", connect=False)
    errors = Inbox()

    def handler(msg: Received[m.Notice]) -> None:
        try:
            kiosk.request(m.Issue(business="cash"), timeout=5)
        except BusError as err:
            errors(Received(msg.topic, err, False))

    kiosk.subscribe(topics.notice(), m.Notice, handler)
    kiosk.connect(5)
    make_bus(mosquitto, "core").publish(topics.notice(), m.Notice(zh="x"))
    assert errors.wait_count(1, timeout=5)
    assert "would wait for itself" in str(errors.values()[0])


def test_on_sent_waits_for_the_broker(mosquitto: MosquittoBroker, make_bus: MakeBus, topics: Topics) -> None:
    """QoS 1 published while the broker is away is queued and acknowledged after it returns; the
    core marks its outbox rows sent in on_sent, so nothing unacknowledged is forgotten."""
    offline = threading.Event()
    core = make_bus(mosquitto, "core")
    core.on_offline = offline.set
    mosquitto.kill()
    assert offline.wait(5)
    sent = threading.Event()
    assert core.publish(topics.event("issued"), m.Notice(zh="queued"), on_sent=sent.set)
    assert not sent.is_set()
    mosquitto.start()
    assert sent.wait(10)


def test_on_sent_runs_once_per_acknowledged_message(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                    topics: Topics) -> None:
    core = make_bus(mosquitto, "core")
    acked: list[int] = []
    done = threading.Event()

    def ack(i: int) -> None:
        acked.append(i)
        if len(acked) == 300:
            done.set()

    for i in range(300):
        assert core.publish(topics.event("issued"), m.Notice(zh=str(i)), on_sent=functools.partial(ack, i))
    assert done.wait(10)
    assert sorted(acked) == list(range(300))


def test_everything_resyncs_after_the_broker_crashes_and_loses_its_state(
        volatile_mosquitto: MosquittoBroker, make_bus: MakeBus, topics: Topics) -> None:
    broker = volatile_mosquitto  # worst case: the restarted broker has nothing retained
    core = make_bus(broker, "core", connect=False)
    state = m.CounterState(counter=2, status=m.CounterStatus.CALLED, number="B007")

    def republish() -> None:
        core.publish(topics.state_counter(2), state, retain=True)

    core.on_online = republish
    core.connect(5)

    display = make_bus(broker, "display1", connect=False)
    states, events, links = Inbox(), Inbox(), Inbox()
    display.subscribe(topics.all_counter_states(), m.CounterState, states)
    display.subscribe(topics.all_events(), m.decode_event, events)
    display.on_online = lambda: links(Received("", "online", False))
    display.on_offline = lambda: links(Received("", "offline", False))
    display.connect(5)
    manager = make_bus(broker, "manager", connect=False)
    presence = Inbox()
    manager.subscribe(topics.all_presence(), m.Presence, presence)
    manager.connect(5)
    assert states.wait_count(1) and links.wait_count(1)

    mark = len(presence.items)
    broker.restart()  # kill -9, start again on the same port, empty
    assert links.wait_for(lambda items: [r.value for r in items] == ["online", "offline", "online"])
    assert states.wait_count(2), "retained state republished by the core reached the display again"
    assert presence.wait_for(lambda items: any(
        r.value.device == "display1" and r.value.online for r in items[mark:]))

    called = m.TicketCalled(at=1.0, number="B008", counter=2, business="personal", tier="normal",
                            waited_s=60.0)
    core.publish(topics.event_of(called), called)
    assert events.wait_count(1), "the display's subscriptions were remade on reconnect"
    assert events.values() == [called]


def test_a_request_made_while_the_broker_is_down_is_answered_once_it_returns(
        mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    broker = mosquitto
    core = FakeCore(make_bus(broker, "core", connect=False))
    core.bus.connect(5)
    offline = threading.Event()
    kiosk = make_bus(broker, "kiosk1", retry_s=0.3)
    kiosk.on_offline = offline.set
    broker.kill()
    assert offline.wait(5)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(kiosk.request(m.Issue(business="cash"),
                                                                         timeout=20)))
    worker.start()
    broker.start()
    worker.join(25)
    assert result and result[0].ok
    assert len({rid for _, rid, _ in core.seen}) == 1
    assert len(core.applied) == 1


def test_last_will_shows_a_killed_device_offline(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                 topics: Topics) -> None:
    manager = make_bus(mosquitto, "manager", connect=False)
    presence = Inbox()
    manager.subscribe(topics.presence("kiosk7"), m.Presence, presence)
    manager.connect(5)
    child = start_child(mosquitto.host, mosquitto.port, topics.prefix, TEST_BRANCH, "kiosk7")
    try:
        assert presence.wait_for(lambda items: any(r.value.online for r in items))
        child.kill()
        child.wait(5)
        assert presence.wait_for(lambda items: not items[-1].value.online)
        assert presence.items[-1].value == m.Presence(device="kiosk7", online=False, kind="kiosk", detail="lost")
    finally:
        child.kill()
        child.wait(5)


def test_closing_publishes_a_retained_goodbye(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                              topics: Topics) -> None:
    make_bus(mosquitto, "display2").close()
    later = make_bus(mosquitto, "manager", connect=False)
    presence = Inbox()
    later.subscribe(topics.presence("display2"), m.Presence, presence)
    later.connect(5)
    assert presence.wait_count(1)
    assert presence.items[0].retained
    assert presence.items[0].value == m.Presence(device="display2", online=False, kind="display",
                                                 detail="closed")


def test_no_broker_is_a_clear_error(topics: Topics) -> None:
    client = BusClient(host="127.0.0.1", port=free_port(), topics=topics, device="kiosk1")
    try:
        with pytest.raises(BusError, match="cannot reach") as caught:
            client.connect(timeout=1.0)
        assert isinstance(caught.value, ConnectionError)
    finally:
        client.close()
        client.close()  # safe twice
    with pytest.raises(BusError, match="closed"):
        client.publish(topics.notice(), m.Notice())
