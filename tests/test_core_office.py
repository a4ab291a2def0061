"""The core's office commands, which the web pages send for a named person: 分流 (move), alert
acknowledgements, the hall notice, and counters opened, paused and closed from the office."""

from __future__ import annotations

import pytest

from qbus import messages as m
from qcore import BranchCore, State
from qcore import errors as e
from tests.coretools import DAY, EXAMPLE_CFG, T0, staffed

CFG = EXAMPLE_CFG


def test_a_moved_ticket_keeps_its_number_and_its_place_by_wait_time() -> None:
    core = staffed(CFG, 1, 3)  # 1 serves cash + personal, 3 personal + forex
    early = core.issue(T0, "cash").number
    later = core.issue(T0 + 60, "personal").number
    core.drain()
    core.move(T0 + 120, early, "personal", by="zhao")
    assert core.drain() == [m.TicketMoved(at=T0 + 120, number=early, from_business="cash",
                                          to_business="personal", by="zhao")]
    assert [t.number for t in core.waiting_list("personal")] == [early, later]
    assert core.queue_state().waiting == {"cash": 0, "personal": 2, "corporate": 0, "wealth": 0, "forex": 0}
    assert core.call_next(T0 + 130, 3).number == early  # its place: it was there first


def test_a_move_is_refused_when_it_cannot_be_served_or_is_not_waiting() -> None:
    core = staffed(CFG, 1)
    a = core.issue(T0, "cash").number
    with pytest.raises(e.NotServed):
        core.move(T0, a, "corporate")  # counter 4 is closed
    with pytest.raises(e.UnknownBusiness):
        core.move(T0, a, "nope")
    with pytest.raises(e.WrongState):
        core.move(T0, a, "cash")
    with pytest.raises(e.UnknownTicket):
        core.move(T0, "A999", "personal")
    core.call_next(T0 + 1, 1)
    with pytest.raises(e.WrongState, match="only a waiting ticket"):
        core.move(T0 + 2, a, "personal")
    assert core.tickets[a].state == State.CALLED and core.tickets[a].business == "cash"


def test_an_alert_is_acknowledged_once_and_the_second_person_is_told_who() -> None:
    core = BranchCore(CFG, DAY)
    core.ack_alert(T0, "", "zhou", key="wait:A001")
    with pytest.raises(e.WrongState) as err:
        core.ack_alert(T0 + 1, "", "zhao", key="wait:A001")
    assert err.value.zh == "该提醒已由 zhou 确认"
    assert core.acks_state() == m.AcksState(day=DAY, acks={"wait:A001": m.AckView(by="zhou", at=T0)})
    core.reset_day(T0 + 86400, "2099-01-02")
    assert core.acks_state().acks == {}


def test_office_changes_to_a_counter_say_who_and_why_and_a_keypad_change_clears_it() -> None:
    core = staffed(CFG, 2)
    core.pause(T0 + 5, 2, reason="lunch", by="zhou")
    s = core.counter_state(2)
    assert (s.status, s.since, s.reason, s.by) == ("paused", T0 + 5, "lunch", "zhou")
    assert core.drain()[-1] == m.CounterChanged(at=T0 + 5, counter=2, status=m.CounterStatus.PAUSED, teller="1002",
                                                by="zhou", reason="lunch")
    core.resume(T0 + 9, 2)  # the teller's own key
    s = core.counter_state(2)
    assert (s.status, s.reason, s.by) == ("idle", "", "")
    core.close(T0 + 10, 2, by="zhou")
    assert core.counter_state(2).by == "zhou"


def test_the_notice_is_kept_across_days_and_cleared_by_empty_texts() -> None:
    core = BranchCore(CFG, DAY)
    core.set_notice(T0, "今日外汇暂停", "No forex today", by="zhou")
    assert core.drain() == [m.NoticeSet(at=T0, zh="今日外汇暂停", en="No forex today", by="zhou")]
    core.reset_day(T0 + 86400, "2099-01-02")
    assert core.notice == ("今日外汇暂停", "No forex today")
    core.set_notice(T0 + 86401, "", "")
    assert core.notice == ("", "")
