"""The core service on a real broker: replies, events, retained state, de-duplication, restarts
of the broker and of the core, malformed payloads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import load
from qbus.topics import Topics
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.bus_helpers import Inbox
from tests.conftest import CoreOn, MakeBus, with_topics
from tests.served import served_branch
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)


@pytest.fixture
def dev(make_bus: MakeBus) -> MakeBus:
    """Clients on the example branch's topics."""
    return with_topics(make_bus, TOPICS)


def _login(bus: BusClient, counter: int) -> None:
    teller = CFG.teller[counter - 1].id
    assert bus.request(m.Login(counter=counter, teller=teller, pin=teller), 10).ok


@pytest.mark.parametrize("broker_name", ["mosquitto", "embedded_broker"])
def test_ticket_call_and_state_flow(broker_name: str, request: pytest.FixtureRequest, core_on: CoreOn,
                                    dev: MakeBus) -> None:
    broker = request.getfixturevalue(broker_name)
    core_on(broker)
    events, hall = Inbox(), Inbox()
    screen = dev(broker, "display1", connect=False)
    screen.subscribe(TOPICS.all_events(), m.decode_event, events)
    screen.subscribe(TOPICS.state_hall(), m.HallView, hall)
    screen.connect()
    kiosk, counter = dev(broker, "kiosk1"), dev(broker, "counter3")
    reply = kiosk.request(m.Issue(business="personal"), 10)
    assert reply.ok and reply.ticket is not None and reply.ticket.number == "B001"
    _login(counter, 3)
    called = counter.request(m.CallNext(counter=3), 10)
    assert called.ok and called.number == "B001" and called.counter == 3
    assert events.wait_for(lambda xs: any(isinstance(x.value, m.TicketCalled) and x.value.number == "B001"
                                          for x in xs))
    assert hall.wait_for(lambda xs: bool(xs) and any(c.number == "B001" and c.counter == 3
                                                     for c in xs[-1].value.calling))
    refused = kiosk.request(m.CallNext(counter=3), 10)  # a kiosk may not call
    assert not refused.ok and refused.error is not None and refused.error.code == "forbidden"
    assert refused.error.zh and refused.error.en


def test_retried_request_is_applied_once(mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    runner = core_on(mosquitto)
    replies = Inbox()
    kiosk = dev(mosquitto, "kiosk1", connect=False)
    kiosk.subscribe(TOPICS.reply("kiosk1"), m.Reply, replies)
    kiosk.connect()
    req = m.encode(m.Request(id="same-id", cmd=m.Issue(business="cash")))
    for _ in range(3):  # QoS 1 redelivery, or a kiosk retrying after a timeout
        kiosk.publish_raw(TOPICS.cmd("kiosk1"), req)
    assert replies.wait_count(3)
    assert {r.number for r in replies.values()} == {"A001"}
    assert len(runner.store.core.tickets) == 1


def test_malformed_payloads_get_errors_and_the_core_stays_up(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                            dev: MakeBus) -> None:
    core_on(mosquitto)
    replies = Inbox()
    kiosk = dev(mosquitto, "kiosk1", connect=False)
    kiosk.subscribe(TOPICS.reply("kiosk1"), m.Reply, replies)
    kiosk.connect()
    bad = [b"", b"\xff\xfe", b"null", b"[]", b'{"id": "x1"}', b'{"id": "x2", "cmd": {"op": "launch"}}',
           b'{"id": "x3", "cmd": {"op": "issue"}}', b'{"id": "x4", "cmd": {"op": "issue", "business": 7}}',
           b'{"id": "x5", "cmd": {"op": "issue", "business": "nope"}}', b"{" * 10_000]
    for payload in bad:
        kiosk.publish_raw(TOPICS.cmd("kiosk1"), payload)
    assert replies.wait_count(len(bad))
    assert all(not r.ok and r.error is not None for r in replies.values())
    codes = {r.id: r.error.code for r in replies.values() if r.error}
    assert codes["x2"] == "bad_payload" and codes["x5"] == "unknown_business"
    assert kiosk.request(m.Issue(business="cash"), 10).ok  # still serving


def _nested(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON arrays and objects of `leaf` values (hypothesis's recursive JSON)."""
    return st.one_of(st.lists(leaf, max_size=3), st.dictionaries(st.text(max_size=5), leaf, max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(payload=st.one_of(
    st.binary(max_size=200),
    st.builds(lambda d: msgspec.json.encode(d), st.dictionaries(
        st.sampled_from(["id", "cmd", "v", "op", "counter"]),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), _nested,
                     max_leaves=6), max_size=4)),
    st.builds(lambda op, counter, extra: msgspec.json.encode(
        {"id": "f", "cmd": {"op": op, "counter": counter, **extra}}),
        st.sampled_from(["call_next", "rate", "issue", "transfer", "login", "tick", "reset_day", "x"]),
        st.one_of(st.integers(-5, 2000), st.text(max_size=3)),
        st.dictionaries(st.sampled_from(["stars", "business", "teller", "day", "to_counter"]),
                        st.one_of(st.integers(-9, 9), st.text(max_size=4)), max_size=2)),
))
def test_fuzzed_commands_never_stop_the_service(fuzz_env: FuzzEnv, payload: bytes) -> None:
    service, store = fuzz_env
    service.on_message(TOPICS.cmd("counter1"), payload)
    service.turn()
    assert store.core.counter_state(1).status in ("closed", "idle", "called", "serving", "rating", "paused")


FuzzEnv = tuple[CoreService, DurableCore]


class _NullBus:
    def publish_raw(self, topic: str, payload: bytes, **_: Any) -> bool:
        return True


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzEnv]:
    """The service with its real store and journal, publishing into a null bus: only the command
    path is fuzzed here (the broker path is covered above)."""
    store = DurableCore(CFG, tmp_path_factory.mktemp("fuzz") / "j.db")
    service = CoreService(CFG, store, _NullBus(), TOPICS)
    yield service, store
    store.close()


def test_broker_restart_mid_day_resyncs_and_loses_no_call(volatile_mosquitto: MosquittoBroker,
                                                          core_on: CoreOn, dev: MakeBus) -> None:
    broker = volatile_mosquitto
    runner = core_on(broker)
    kiosk, counter = dev(broker, "kiosk1"), dev(broker, "counter1")
    _login(counter, 1)
    numbers = [kiosk.request(m.Issue(business="cash"), 10).number for _ in range(6)]
    first = counter.request(m.CallNext(counter=1), 10)
    broker.restart()  # kill -9; persistence off: every retained message is gone
    hall = Inbox()
    screen = dev(broker, "display1", connect=False)
    screen.subscribe(TOPICS.state_hall(), m.HallView, hall)
    screen.connect(15)
    # The core republishes its retained state on reconnect: a fresh screen sees the current call.
    assert hall.wait_for(lambda xs: bool(xs) and any(c.number == first.number for c in xs[-1].value.calling),
                         15)
    counter.request(m.StartService(counter=1), 15)
    counter.request(m.FinishService(counter=1, request_rating=False), 15)
    second = counter.request(m.CallNext(counter=1), 15)
    assert [first.number, second.number] == numbers[:2]  # no call lost, none doubled
    called = [t.number for t in runner.store.core.tickets.values() if t.called_at]
    assert called == numbers[:2]


def _write_cfg(tmp_path: Path, broker: MosquittoBroker) -> Path:
    return served_branch(tmp_path, broker.host, broker.port, tmp_path / "core.db")


def _serve(cfg_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "qcall.cli", "serve", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_core_killed_and_restarted_loses_nothing_acknowledged(tmp_path: Path, mosquitto: MosquittoBroker,
                                                             dev: MakeBus) -> None:
    cfg_path = _write_cfg(tmp_path, mosquitto)
    proc = _serve(cfg_path)
    try:
        kiosk = dev(mosquitto, "kiosk1", retry_s=0.5)
        acked = [kiosk.request(m.Issue(business="cash"), 20).number for _ in range(20)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = _serve(cfg_path)
        # A request sent while the core is down is answered once it is back (same request id).
        late = kiosk.request(m.Issue(business="cash"), 30).number
        acked.append(late)
        assert len(set(acked)) == len(acked) == 21
        more = kiosk.request(m.Issue(business="cash"), 10).number
        assert more not in acked
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    store = DurableCore(load(cfg_path), tmp_path / "core.db")
    assert set(acked) <= set(store.core.tickets)
    store.close()


def test_unknown_counter_and_rating_without_service_are_clear_errors(mosquitto: MosquittoBroker,
                                                                    core_on: CoreOn, dev: MakeBus) -> None:
    core_on(mosquitto)
    manager = dev(mosquitto, "manager1")
    r = manager.request(m.CallNext(counter=42), 10)
    assert not r.ok and r.error is not None and r.error.code == "unknown_counter" and "42" in r.error.zh
    counter = dev(mosquitto, "counter2")
    _login(counter, 2)
    r = dev(mosquitto, "pad2").request(m.Rate(counter=2, stars=5), 10)  # the customer's pad
    assert not r.ok and r.error is not None and r.error.code == "no_rating_pending"


def test_presence_of_the_core_goes_offline_when_it_stops(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                         dev: MakeBus) -> None:
    runner = core_on(mosquitto)
    seen = Inbox()
    watcher = dev(mosquitto, "manager1", connect=False)
    watcher.subscribe(TOPICS.presence("core"), m.Presence, seen)
    watcher.connect()
    assert seen.wait_for(lambda xs: xs and xs[-1].value.online)
    runner.stop()
    assert seen.wait_for(lambda xs: not xs[-1].value.online)
