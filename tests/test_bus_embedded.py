"""The key bus flows against the embedded amqtt broker the demo starts: retained state, QoS 1
request / reply, Last Will, reconnect after a restart, and a clean stop."""

from __future__ import annotations

import socket
import threading

import pytest

from qbus import messages as m
from qbus.broker import EmbeddedBroker
from qbus.client import Received
from qbus.errors import BrokerError
from qbus.topics import Topics
from tests.bus_helpers import FakeCore, Inbox, start_child
from tests.conftest import TEST_BRANCH, MakeBus


def test_retained_state_on_the_embedded_broker(embedded_broker: EmbeddedBroker, make_bus: MakeBus,
                                               topics: Topics) -> None:
    core = make_bus(embedded_broker, "core")
    sent = threading.Event()
    hall = m.HallView(day="2024-05-06", calling=[m.CallView(number="A001", counter=1, at=1.0)])
    core.publish(topics.state_hall(), hall, retain=True, on_sent=sent.set)
    assert sent.wait(5)
    display = make_bus(embedded_broker, "display1", connect=False)
    inbox = Inbox()
    display.subscribe(topics.state_hall(), m.HallView, inbox)
    display.connect(5)
    assert inbox.wait_count(1)
    assert inbox.items[0].retained and inbox.values() == [hall]


def test_request_and_retry_on_the_embedded_broker(embedded_broker: EmbeddedBroker, make_bus: MakeBus) -> None:
    core = FakeCore(make_bus(embedded_broker, "core", connect=False), drop_first=1)
    core.bus.connect(5)
    counter = make_bus(embedded_broker, "counter1", retry_s=0.2)
    reply = counter.request(m.CallNext(counter=1), timeout=5)
    assert reply.ok and len({rid for _, rid, _ in core.seen}) == 1 and len(core.applied) == 1


def test_last_will_on_the_embedded_broker(embedded_broker: EmbeddedBroker, make_bus: MakeBus,
                                          topics: Topics) -> None:
    manager = make_bus(embedded_broker, "manager", connect=False)
    presence = Inbox()
    manager.subscribe(topics.presence("counter9"), m.Presence, presence)
    manager.connect(5)
    child = start_child(embedded_broker.host, embedded_broker.port, topics.prefix, TEST_BRANCH, "counter9")
    try:
        assert presence.wait_for(lambda items: any(r.value.online for r in items))
        child.kill()
        child.wait(5)
        assert presence.wait_for(lambda items: not items[-1].value.online)
        assert presence.items[-1].value.detail == "lost"
    finally:
        child.kill()
        child.wait(5)


def test_clients_come_back_after_the_embedded_broker_restarts(make_bus: MakeBus, topics: Topics) -> None:
    broker = EmbeddedBroker().start()
    port = broker.port
    try:
        display = make_bus(broker, "display1", connect=False)
        notices, links = Inbox(), Inbox()
        display.subscribe(topics.notice(), m.Notice, notices)
        display.on_offline = lambda: links(Received("", "offline", False))
        display.connect(5)
        broker.stop()
        assert links.wait_count(1)
        broker = EmbeddedBroker(port=port).start()
        assert display.wait_online(10)
        core = make_bus(broker, "core")
        core.publish(topics.notice(), m.Notice(zh="恢复"))
        assert notices.wait_count(1)
    finally:
        broker.stop()


def test_stop_frees_the_port_and_is_safe_twice() -> None:
    broker = EmbeddedBroker().start()
    port = broker.port
    broker.stop()
    broker.stop()
    with socket.socket() as s, pytest.raises(OSError):
        s.connect(("127.0.0.1", port))


def test_a_port_in_use_is_a_clear_error() -> None:
    with EmbeddedBroker() as first, pytest.raises(BrokerError, match="embedded broker"):
        EmbeddedBroker(port=first.port).start()


def test_amqtts_subscription_race_is_one_warning_not_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The demo's devices connect at once; amqtt 0.12.1 can drop one of them with a RuntimeError
    from iterating its subscriptions. The demo's output gets one warning line (the client
    reconnects), while any other loop error still goes to asyncio's own handler."""
    import asyncio
    import logging

    from qbus.broker import _amqtt_exception

    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING):
            _amqtt_exception(loop, {"message": "Unhandled exception in client_connected_cb",
                                    "exception": RuntimeError("dictionary changed size during iteration")})
            assert [r.getMessage() for r in caplog.records] == [
                "embedded broker: amqtt dropped a connecting client (its subscription race); the client reconnects"]
            caplog.clear()
            _amqtt_exception(loop, {"message": "boom", "exception": ValueError("other")})
            assert any(r.name == "asyncio" and "boom" in r.getMessage() for r in caplog.records)
    finally:
        loop.close()
