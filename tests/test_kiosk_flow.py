"""The kiosk flow with the real printer twin, real ticket bytes and a stand-in core (no bus yet)."""

from __future__ import annotations

import logging
import re
from datetime import date

import msgspec
import pytest

from hw.identity import Presented, Secret, UnreadableCard
from hw.printer import Paper, Printer, TwinDevice
from kiosk.flow import HOME, KioskFlow, ViewKind
from kiosk.privacy import find_raw_numbers
from kiosk.recognition import KeyedHasher, Recognizer, Roster
from qbus.messages import ErrorInfo
from tests.kiosk_fixtures import PLAIN_CARD, VIP_CARD, Clock, FakeCore, branch, id_card

KEY = bytes(range(32))
STAFF_CARD = "6200000000000000"


class Rig:
    def __init__(self, *, steer: bool = True) -> None:
        hasher = KeyedHasher(KEY)
        cfg = branch()
        cfg = msgspec.structs.replace(
            cfg, kiosk=msgspec.structs.replace(cfg.kiosk, staff_cards={hasher.hash_number(STAFF_CARD): "2001"})
        )
        self.cfg = cfg
        self.clock = Clock()
        self.core = FakeCore(cfg, self.clock)
        self.device = TwinDevice()
        self.emu = self.device.emulator
        self.printer = Printer(self.device, answer_s=0.05)
        roster = Roster({hasher.hash_number(VIP_CARD): "vip"})
        self.notes: list[tuple[str, str, str]] = []
        self.flow = KioskFlow(cfg, issue=self.core, printer=self.printer,
                              recognizer=Recognizer(cfg, hasher, roster), clock=self.clock, steer=steer,
                              note=lambda *note: self.notes.append(note))


@pytest.fixture
def rig() -> Rig:
    return Rig()


def swipe(number: str) -> Presented:
    return Presented(kind="bank_card", number=Secret(number))


def text_of(ticket_bytes: bytes) -> str:
    """Printed text with line wraps joined (single spaces)."""
    return re.sub(r"\s+", " ", ticket_bytes.decode("gb18030", errors="replace"))


def test_button_gives_a_normal_ticket(rig: Rig) -> None:
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.ISSUED and view.ticket and view.ticket.number == "C001"
    cmd = rig.core.commands[0]
    assert (cmd.business, cmd.tier, cmd.via, cmd.customer, cmd.kiosk) == ("corporate", "normal", "button", "", "kiosk1")
    assert len(rig.emu.tickets) == 1 and b"C001" in rig.emu.tickets[0]


def test_self_service_is_offered_first_and_customer_may_still_take_a_ticket(rig: Rig) -> None:
    view = rig.flow.choose("cash")
    assert view.kind is ViewKind.SELF_SERVICE
    assert "大堂自助存取款机（ATM）" in view.zh and "the ATMs in the lobby" in view.en
    assert rig.core.commands == []
    view = rig.flow.choose("cash", anyway=True)
    assert view.kind is ViewKind.ISSUED
    # the customer declined the tip on screen: the ticket does not repeat it
    printed = text_of(rig.emu.tickets[0]).replace(" ", "")
    assert "A001" in printed and "自助存取款机" not in printed and "ATMs" not in printed
    assert rig.notes == [("offer_declined", "cash", "")]  # for the history's self-service diversion


def test_a_customer_who_leaves_for_the_machine_is_counted_as_diverted(rig: Rig) -> None:
    assert rig.flow.choose("cash").kind is ViewKind.SELF_SERVICE
    rig.clock.advance(31)  # the offer times out: nobody took a ticket
    rig.flow.tick()
    assert rig.flow.choose("personal").kind is ViewKind.SELF_SERVICE
    rig.flow.reset()  # or taps back
    assert rig.notes == [("offer_accepted", "cash", ""), ("offer_accepted", "personal", "")]
    assert rig.core.commands == []


def test_buttons_only_kiosk_prints_the_hint_without_asking() -> None:
    rig = Rig(steer=False)
    assert rig.flow.choose("cash").kind is ViewKind.ISSUED
    assert "the ATMs in the lobby" in text_of(rig.emu.tickets[0])


def test_vip_swipe_gives_vip_ticket_without_the_raw_number(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    view = rig.flow.present(swipe(VIP_CARD))
    assert view.kind is ViewKind.IDENTIFIED and view.tier == "vip"
    assert "理财VIP" in view.zh and "VIP customer" in view.en
    view = rig.flow.choose("wealth")
    cmd = rig.core.commands[0]
    assert (cmd.tier, cmd.via) == ("vip", "bank_card") and len(cmd.customer) == 64
    assert view.ticket and view.ticket.tier == "vip"
    blobs: list[bytes | str] = [msgspec.json.encode(cmd), bytes(rig.emu.printed), caplog.text, repr(view)]
    assert not [leak for b in blobs for leak in find_raw_numbers(b, [VIP_CARD])]


def test_unknown_card_is_just_a_normal_customer(rig: Rig) -> None:
    view = rig.flow.present(swipe(PLAIN_CARD))
    assert view.kind is ViewKind.IDENTIFIED and view.tier == "normal"
    rig.flow.choose("corporate")
    assert rig.core.commands[0].tier == "normal" and rig.core.commands[0].via == "bank_card"


def test_id_card_of_a_75_year_old_gets_the_priority_lane(rig: Rig) -> None:
    card = id_card("张三", "19490301")
    rig.flow.present(Presented(kind="id_card", number=Secret(card.id_number), name="张三",
                               birth_date=date(1949, 3, 1)))
    view = rig.flow.choose("corporate")
    cmd = rig.core.commands[0]
    assert (cmd.tier, cmd.via, cmd.granted_by, cmd.masked_name) == ("priority", "id_card", "", "张*")
    printed = text_of(rig.emu.tickets[0])
    assert "张*" in printed and "张三" not in printed and card.id_number not in printed
    assert view.ticket and view.ticket.masked_name == "张*"


def test_passbook_is_recognised(rig: Rig) -> None:
    rig.flow.present(Presented(kind="passbook", number=Secret("62284800123456789")))
    rig.flow.choose("corporate")
    assert rig.core.commands[0].via == "passbook"


def test_unreadable_card_is_not_a_dead_end(rig: Rig) -> None:
    view = rig.flow.reader_failed(UnreadableCard("Luhn"))
    assert view.kind is ViewKind.MESSAGE and "请重试" in view.zh and "try again" in view.en
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED


def test_paper_out_before_issuing_issues_nothing(rig: Rig) -> None:
    rig.emu.set_paper(Paper.OUT)
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.MESSAGE and "缺纸" in view.zh and "out of paper" in view.en
    assert rig.core.commands == []
    assert rig.notes == [("printer_fault", "corporate", "paper_out")]  # the day's history counts it


def test_printer_not_answering_issues_nothing(rig: Rig) -> None:
    rig.emu.stop_answering()
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.MESSAGE and "not responding" in view.en
    assert rig.core.commands == []


def test_near_end_prints_and_warns_staff(rig: Rig) -> None:
    rig.emu.set_paper(Paper.NEAR_END)
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED
    assert "running low" in rig.flow.printer_warning


def test_printer_failing_mid_ticket_keeps_the_number_and_reprints(rig: Rig) -> None:
    rig.emu.run_out_after(200)
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.PRINT_FAILED and view.can_reprint
    assert view.ticket and view.ticket.number == "C001"
    assert "C001" in view.zh and "C001" in view.en and "缺纸" in view.zh
    assert rig.emu.tickets == []
    assert rig.flow.reprint().kind is ViewKind.PRINT_FAILED  # still no paper: nothing new issued
    rig.emu.set_paper(Paper.OK)
    view = rig.flow.reprint()
    assert view.kind is ViewKind.ISSUED and view.ticket and view.ticket.number == "C001"
    assert len(rig.core.commands) == 1
    assert b"C001" in rig.emu.tickets[0] and b"REPRINT" in rig.emu.tickets[0]


def test_core_not_answering_prints_no_number(rig: Rig) -> None:
    rig.core.silent = True
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.MESSAGE
    assert "无响应" in view.zh and "not answering" in view.en and "no ticket" in view.en
    assert rig.emu.printed == b""


def test_core_refusal_is_shown_in_both_languages(rig: Rig) -> None:
    rig.core.refuse = ErrorInfo(code="closed", zh="今日已停止取号", en="Ticketing has closed for today.")
    view = rig.flow.choose("corporate")
    assert (view.zh, view.en) == ("今日已停止取号", "Ticketing has closed for today.")
    assert rig.emu.printed == b""


def test_repeat_guard_stops_a_child_hammering_the_button(rig: Rig) -> None:
    for _ in range(5):
        rig.flow.choose("corporate")
        rig.clock.advance(0.5)
    assert len(rig.core.commands) == 1
    assert rig.flow.view.kind is ViewKind.MESSAGE and "稍候" in rig.flow.view.zh
    rig.clock.advance(3.0)
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED
    assert len(rig.core.commands) == 2


def test_a_different_card_holder_is_not_held_by_the_guard(rig: Rig) -> None:
    rig.flow.choose("corporate")
    rig.flow.present(swipe(VIP_CARD))
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED
    assert len(rig.core.commands) == 2


def test_priority_by_button_needs_lobby_staff_and_records_who(rig: Rig) -> None:
    view = rig.flow.request_priority()
    assert view.kind is ViewKind.STAFF_NEEDED
    assert rig.flow.staff_pin("1001", "1001").kind is ViewKind.STAFF_NEEDED  # a teller may not grant
    assert rig.flow.staff_pin("9999", "1234").kind is ViewKind.STAFF_NEEDED  # nobody's id
    assert rig.flow.staff_pin("2001", "2001").kind is ViewKind.STAFF_OK
    rig.flow.choose("cash")  # no self-service detour for a staff-granted ticket
    cmd = rig.core.commands[0]
    # the kiosk holds no PIN hashes: the PIN goes to the core with the ticket, which checks it
    assert (cmd.tier, cmd.granted_by, cmd.staff_pin, cmd.via) == ("priority", "2001", "2001", "staff")
    assert b"Priority granted by lobby staff" in rig.emu.tickets[0].replace(b"\n", b" ")
    rig.clock.advance(5)
    rig.flow.choose("corporate")
    assert rig.core.commands[1].tier == "normal" and rig.core.commands[1].granted_by == ""


def test_staff_card_grants_priority(rig: Rig) -> None:
    assert rig.flow.present(swipe(STAFF_CARD)).kind is ViewKind.STAFF_OK
    rig.flow.choose("corporate")
    assert rig.core.commands[0].granted_by == "2001" and rig.core.commands[0].customer == ""


def test_a_staff_pin_the_core_refuses_prints_nothing_and_asks_again(rig: Rig) -> None:
    rig.flow.request_priority()
    assert rig.flow.staff_pin("2001", "9999").kind is ViewKind.STAFF_OK
    rig.core.refuse = ErrorInfo(code="bad_pin", en="teller '2001': wrong id or PIN", zh="柜员号或密码错误")
    view = rig.flow.choose("cash")
    assert "密码错误" in view.zh and not rig.emu.tickets
    rig.core.refuse = None
    rig.clock.advance(5)
    rig.flow.choose("corporate")  # the grant is gone: a normal ticket, no PIN sent again
    assert rig.core.commands[-1].granted_by == "" and rig.core.commands[-1].staff_pin == ""


def test_identity_and_messages_expire(rig: Rig) -> None:
    rig.flow.present(swipe(VIP_CARD))
    rig.clock.advance(31)
    assert rig.flow.tick().kind is ViewKind.HOME
    rig.flow.choose("corporate")
    assert rig.core.commands[0].tier == "normal"
    rig.clock.advance(20)
    assert rig.flow.tick().kind is ViewKind.HOME


def test_message_returns_to_the_identified_customer(rig: Rig) -> None:
    rig.flow.present(swipe(VIP_CARD))
    rig.flow.reader_failed(UnreadableCard("x"))
    rig.clock.advance(9)
    assert rig.flow.tick().kind is ViewKind.IDENTIFIED


def test_unknown_business_is_a_message(rig: Rig) -> None:
    assert rig.flow.choose("loans").kind is ViewKind.MESSAGE
    assert rig.core.commands == []


def _hours(rig: Rig, **kiosk: object) -> None:
    cfg = msgspec.structs.replace(rig.cfg, kiosk=msgspec.structs.replace(rig.cfg.kiosk, **kiosk))
    rig.flow.cfg = cfg


@pytest.mark.parametrize(("offset_s", "ok"), [
    (-31 * 60, False),        # 08:59, before opening
    (-30 * 60, True),         # 09:00 sharp
    (7.5 * 3600 - 1, True),   # 16:59:59
    (7.5 * 3600, False),      # 17:00, closed
    (14 * 3600, False),       # 23:30, a kiosk left on at night
])
def test_tickets_only_within_opening_hours(rig: Rig, offset_s: float, ok: bool) -> None:
    rig.clock.advance(offset_s)
    view = rig.flow.choose("corporate")
    if ok:
        assert view.kind is ViewKind.ISSUED
    else:
        assert view.kind is ViewKind.MESSAGE
        assert "09:00–17:00" in view.zh and "from 09:00 to 17:00" in view.en
        assert rig.core.commands == [] and rig.emu.tickets == []


def test_last_ticket_before_closing_and_closed_weekdays(rig: Rig) -> None:
    _hours(rig, last_ticket_min=30)
    rig.clock.advance(7 * 3600)  # 16:30 on Monday 2024-05-06
    view = rig.flow.choose("corporate")
    assert view.kind is ViewKind.MESSAGE and "09:00–16:30" in view.zh
    rig.flow.cfg = msgspec.structs.replace(rig.cfg, hours=msgspec.structs.replace(rig.cfg.hours,
                                                                                  weekdays=[2, 3, 4, 5, 6]))
    rig.clock.now -= 7 * 3600  # Monday 09:30, but the branch is closed on Mondays
    assert rig.flow.choose("corporate").kind is ViewKind.MESSAGE
    assert rig.core.commands == []


def test_hours_check_can_be_turned_off(rig: Rig) -> None:
    _hours(rig, hours_only=False)
    rig.clock.advance(14 * 3600)  # 23:30
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED


def test_the_idle_screen_says_when_tickets_are_issued(rig: Rig) -> None:
    assert rig.flow.tick() is HOME  # 09:30
    rig.clock.advance(14 * 3600)  # 23:30: the idle screen changes by itself, nobody pressed anything
    closed = rig.flow.tick()
    assert closed.kind is ViewKind.MESSAGE and "09:00–17:00" in closed.zh and closed.until == 0
    assert rig.flow.choose("corporate").kind is ViewKind.MESSAGE and rig.core.commands == []
    rig.clock.advance(60)
    assert rig.flow.tick() is closed  # the press's message expired: back to the closed screen
    assert rig.flow.reset() is closed
    rig.clock.advance(9.5 * 3600)  # 09:00 the next morning
    assert rig.flow.tick() is HOME
    assert rig.flow.choose("corporate").kind is ViewKind.ISSUED
