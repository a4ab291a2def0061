"""The kiosk end to end: twin readers on ptys and the printer twin, the kiosk wired by qcall.kiosk,
a real Mosquitto and the real core service. Every customer path ends in bytes at the printer (or,
when it must not, in none) and in the core's queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hw.printer import Paper
from kiosk.app import KioskEvent
from kiosk.flow import ViewKind
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox
from tests.conftest import Broker, CoreOn, MakeBus
from tests.kiosk_bus_helpers import (
    TOPICS,
    Gate,
    KioskOn,
    kiosk_cfg,
    kiosk_factory,
    press,
    wait_ticket,
    wait_view,
)
from tests.kiosk_fixtures import EXAMPLE, PLAIN_CARD, VIP_CARD, id_card

CFG = load(EXAMPLE)
QR, CUT = b"\x1d(k", b"\x1dV"


@pytest.fixture
def kiosk_on() -> Iterator[KioskOn]:
    yield from kiosk_factory()


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def watcher(make_bus: MakeBus, broker: Broker) -> tuple[Inbox, Inbox]:
    """A manager tool: events and presences as staff see them."""
    events, presence = Inbox(), Inbox()
    bus = make_bus(broker, "manager", connect=False, topics=TOPICS)
    bus.subscribe(TOPICS.all_events(), m.decode_event, events)
    bus.subscribe(TOPICS.all_presence(), m.Presence, presence)
    bus.connect()
    return events, presence


def kiosk_detail(presence: Inbox, detail: str) -> bool:
    return presence.wait_for(lambda xs: any(x.value.device == "kiosk1" and x.value.detail == detail for x in xs))


def waiting(runner: CoreRunner) -> int:
    return sum(runner.store.core.queue_state().waiting.values())


def test_button_prints_a_gb18030_ticket_with_qr_and_cut(mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn,
                                                        make_bus: MakeBus) -> None:
    _events, presence = watcher(make_bus, mosquitto)
    core = core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    press(rt, "cash")
    view = wait_view(rt, ViewKind.ISSUED)
    assert view.ticket is not None and view.ticket.number == "A001"
    [ticket] = rt.twins.printer.tickets
    for text in ("示范银行", "深圳福田支行", "个人现金业务", "A001"):
        assert gb(text) in ticket, text
    assert QR in ticket and CUT in ticket[-4:]  # QR (ticket id), then the cut ends the ticket
    assert gb(view.ticket.id) in ticket
    assert waiting(core) == 1
    assert kiosk_detail(presence, "printer:paper_ok")
    # the core's retained queue sizes reach the kiosk (drawn on its home screen)
    rt.app.step(0.05)
    assert rt.kbus.queues is not None


def test_vip_swipe_gets_a_vip_ticket_called_before_earlier_normal_tickets(
        mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn, make_bus: MakeBus) -> None:
    core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    press(rt, "cash")
    assert wait_ticket(rt).tier == "normal"
    rt.twins.mag.swipe(VIP_CARD)
    assert wait_view(rt, ViewKind.IDENTIFIED).tier == "vip"
    press(rt, "cash")
    vip = wait_ticket(rt)
    assert vip is not None and vip.tier == "vip" and vip.via == "bank_card" and vip.number == "A002"
    assert gb("理财VIP") in rt.twins.printer.tickets[-1]
    counter = make_bus(mosquitto, "counter1", topics=TOPICS)
    assert counter.request(m.Login(counter=1, teller=CFG.teller[0].id, pin=CFG.teller[0].id), 10).ok
    called = counter.request(m.CallNext(counter=1), 10)
    assert called.ok and called.number == "A002"


def test_id_card_of_a_75_year_old_takes_the_priority_lane(mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn) -> None:
    core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    rt.twins.idcard.place(id_card(name="张三丰", birth="19490301"))
    seen = wait_view(rt, ViewKind.IDENTIFIED)
    assert seen.tier == "priority" and seen.masked_name == "张**"
    press(rt, "personal")
    t = wait_ticket(rt)
    assert t is not None and t.tier == "priority" and t.via == "id_card" and t.masked_name == "张**"
    printed = rt.twins.printer.tickets[-1]
    assert gb("张**") in printed and gb("张三丰") not in printed


def test_passbook_and_unknown_card(mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn) -> None:
    core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    assert rt.twins.passbook.armed.wait(5)
    assert rt.twins.passbook.insert("6222020200112233445")
    assert wait_view(rt, ViewKind.IDENTIFIED).tier == "normal"
    press(rt, "personal")
    t = wait_ticket(rt)
    assert t is not None and t.via == "passbook" and t.tier == "normal"
    rt.twins.mag.swipe(PLAIN_CARD)  # a card the roster does not list: a normal ticket, no error
    assert wait_view(rt, ViewKind.IDENTIFIED).tier == "normal"
    press(rt, "corporate")
    t = wait_ticket(rt)
    assert t is not None and t.via == "bank_card" and t.tier == "normal" and t.number == "C001"


def test_paper_out_issues_nothing_and_tells_customer_and_staff(mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn,
                                                               make_bus: MakeBus) -> None:
    _events, presence = watcher(make_bus, mosquitto)
    core = core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    rt.twins.printer.set_paper(Paper.OUT)
    press(rt, "cash")
    view = wait_view(rt, ViewKind.MESSAGE)
    assert "缺纸" in view.zh and "out of paper" in view.en
    assert rt.twins.printer.tickets == [] and waiting(core) == 0
    assert kiosk_detail(presence, "printer:paper_out")
    rt.twins.printer.set_paper(Paper.NEAR_END)
    press(rt, "cash")
    assert wait_ticket(rt).number == "A001"
    assert kiosk_detail(presence, "printer:near_end")


def test_printer_failing_mid_ticket_keeps_the_number_and_reprints(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                                  kiosk_on: KioskOn) -> None:
    core = core_on(mosquitto)
    rt = kiosk_on(mosquitto)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    rt.twins.printer.run_out_after(120)
    press(rt, "cash")
    view = wait_view(rt, ViewKind.PRINT_FAILED)
    assert view.can_reprint and view.ticket is not None and "A001" in view.zh and "valid" in view.en
    assert rt.twins.printer.tickets == []  # cut short: no complete ticket came out
    assert waiting(core) == 1  # the number stays valid in the queue
    rt.twins.printer.set_paper(Paper.OK)
    rt.app.events.put(KioskEvent("button", "reprint"))
    assert wait_ticket(rt).number == "A001"
    [ticket] = rt.twins.printer.tickets
    assert gb("A001") in ticket and QR in ticket and CUT in ticket and waiting(core) == 1


def test_core_unreachable_prints_nothing(mosquitto: MosquittoBroker, kiosk_on: KioskOn) -> None:
    rt = kiosk_on(mosquitto, kiosk_cfg(issue_timeout_s=0.3))  # no core on this broker
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    press(rt, "cash")
    view = wait_view(rt, ViewKind.MESSAGE)
    assert "暂无响应" in view.zh and "not answering" in view.en
    assert rt.twins.printer.tickets == []
    assert rt.kbus.issuer.watching() == 1


def test_late_reply_is_cancelled_so_no_orphan_stays_in_the_queue(mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn,
                                                                 make_bus: MakeBus) -> None:
    events, _presence = watcher(make_bus, mosquitto)
    core = core_on(mosquitto)
    rt = kiosk_on(mosquitto, kiosk_cfg(issue_timeout_s=0.3))
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    gate = Gate(core)
    press(rt, "cash")
    assert "暂无响应" in wait_view(rt, ViewKind.MESSAGE).zh
    assert gate.wait_held(1) and rt.twins.printer.tickets == []
    gate.release()  # the core finally answers: A001 exists, nobody holds it
    assert rt.kbus.issuer.wait_cancelled(1, 10) and rt.kbus.issuer.cancelled == ["A001"]
    assert events.wait_for(lambda xs: any(isinstance(x.value, m.TicketCancelled) and x.value.number == "A001"
                                          for x in xs))
    assert waiting(core) == 0 and rt.kbus.issuer.watching() == 0
    press(rt, "cash")  # the kiosk carries on; the next customer's ticket is a new number
    assert wait_ticket(rt).number == "A002"


def test_request_lost_with_the_broker_is_rechecked_after_reconnect_and_cancelled(
        mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn) -> None:
    core = core_on(mosquitto)
    rt = kiosk_on(mosquitto, kiosk_cfg(issue_timeout_s=0.3))
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    gate = Gate(core)
    press(rt, "cash")
    wait_view(rt, ViewKind.MESSAGE)
    assert gate.wait_held(1)
    gate.release(drop=True)  # the request never reached the core ...
    mosquitto.restart()  # ... and the link dropped: on reconnect the kiosk asks again with the same id
    assert rt.kbus.issuer.wait_cancelled(1, 15) and rt.kbus.issuer.cancelled == ["A001"]
    assert waiting(core) == 0 and rt.twins.printer.tickets == []
