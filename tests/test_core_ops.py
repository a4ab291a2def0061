"""Every queue-core operation, every typed error, the events each emits and the queries.

Each test drives the pure core (qcore.BranchCore) with an explicit branch time, as the core
service does, and asserts what a customer, a teller or the hall display would notice.
"""

from __future__ import annotations

import math
from typing import TypedDict, TypeVar

import msgspec
import pytest

from qbus import messages as m
from qbus.errors import QcallError
from qcore import BranchCore, CoreError, State
from qcore import errors as e
from qcore.stats import counters_needed, erlang_c, kpis, summary
from tests.coretools import DAY, EXAMPLE_CFG, MIN, T0, counter, serve_one, small_cfg, staffed

CFG = EXAMPLE_CFG
Ev = TypeVar("Ev")


def types(events: list[object]) -> list[str]:
    return [type(x).__name__ for x in events]


def of(events: list[object], kind: type[Ev]) -> list[Ev]:
    return [x for x in events if isinstance(x, kind)]


# ---------------------------------------------------------------------------------- issuing


def test_numbers_are_prefix_plus_padded_count_per_business() -> None:
    core = BranchCore(CFG, DAY)
    got = [core.issue(T0 + i, b).number for i, b in enumerate(["cash", "cash", "personal", "cash", "forex"])]
    assert got == ["A001", "A002", "B001", "A003", "E001"]
    view = core.issue(T0 + 9, "wealth", "private")
    assert view.id == "20260302-D001"
    assert (view.business, view.tier, view.issued_at) == ("wealth", "private", T0 + 9)


def test_number_width_comes_from_the_rules() -> None:
    core = BranchCore(small_cfg(rules="number_width = 4"), DAY)
    assert core.issue(T0, "loan").number == "B0001"


def test_issue_emits_the_ticket_view() -> None:
    core = BranchCore(CFG, DAY)
    view = core.issue(T0, "cash", "vip", via="bank_card", customer="h" * 16, masked_name="张*", kiosk="k1")
    (ev,) = core.drain()
    assert isinstance(ev, m.TicketIssued)
    assert ev.ticket == view and ev.at == T0
    assert (view.via, view.masked_name) == ("bank_card", "张*")
    assert core.tickets["A001"].customer == "h" * 16


def test_unknown_business_or_tier_is_refused_and_uses_no_number() -> None:
    core = BranchCore(CFG, DAY)
    with pytest.raises(e.UnknownBusiness) as info:
        core.issue(T0, "mortgage")
    assert isinstance(info.value, ValueError) and isinstance(info.value, CoreError)
    assert info.value.code == "unknown_business" and info.value.zh
    with pytest.raises(e.UnknownTier):
        core.issue(T0, "cash", "gold")
    assert core.drain() == []
    assert core.issue(T0, "cash").number == "A001"


def test_people_ahead_count_own_and_higher_tiers_and_appointments() -> None:
    core = staffed(CFG, 1)  # cash is served by counters 1, 2 and 5; only 1 is open
    assert core.issue(T0, "cash").ahead == 0
    assert core.issue(T0 + 1, "cash").ahead == 1
    third = core.issue(T0 + 2, "cash")
    assert third.ahead == 2
    assert third.est_wait_s == 2 * 4 * MIN  # cash takes 4 minutes at one open counter
    assert core.issue(T0 + 3, "cash", "vip").ahead == 0  # normal tickets are not ahead of a VIP
    assert core.issue(T0 + 4, "cash", "private").ahead == 0
    assert core.issue(T0 + 5, "cash").ahead == 5
    assert core.issue(T0 + 6, "personal").ahead == 0  # other business types are other queues
    assert core.issue(T0 + 7, "cash", appointment_at=T0 + 3600).ahead == 6
    assert core.issue(T0 + 8, "cash").ahead == 7  # the appointment is counted as ahead


def test_waiting_state_lists_who_waits_where_oldest_first_and_says_when_it_is_cut() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0 + 1, "personal", "vip")
    core.issue(T0 + 2, "cash", appointment_at=T0 + 60)
    core.issue(T0 + 3, "cash")
    core.cancel(T0 + 4, "A001")
    state = core.waiting_state()
    assert state.day == DAY and state.complete
    assert [(x.number, x.business, x.tier, x.key, x.booked) for x in state.tickets] == [
        ("B001", "personal", "vip", T0 + 1, False), ("A003", "cash", "normal", T0 + 3, False),
        ("A002", "cash", "normal", T0 + 60, True)]  # the appointment waits from its time
    assert b'"A001"' not in m.encode(state)  # cancelled: not waiting
    cut = core.waiting_state(2)
    assert not cut.complete and [x.number for x in cut.tickets] == ["B001", "A003"]


def test_estimated_wait_divides_by_the_open_counters_serving_the_type() -> None:
    core = staffed(CFG, 1, 2)
    core.issue(T0, "cash")
    core.issue(T0, "cash")
    assert core.issue(T0, "cash").est_wait_s == 2 * 4 * MIN / 2
    core.logout(T0, 2)
    assert core.issue(T0, "cash").est_wait_s == 3 * 4 * MIN
    assert core.issue(T0, "corporate").est_wait_s == 0  # nobody ahead; no open counter is not /0


def test_appointment_is_only_callable_from_its_time() -> None:
    core = staffed(CFG, 1)
    view = core.issue(T0, "cash", appointment_at=T0 + 30 * MIN)
    assert view.appointment_at == T0 + 30 * MIN
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 29 * MIN, 1)
    core.issue(T0 + 29 * MIN, "cash")
    assert core.call_next(T0 + 30 * MIN, 1).number == "A001"  # its time has come: ahead of A002


def test_late_appointment_is_callable_at_once() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0 + 60, "cash", appointment_at=T0 - 10 * MIN)
    assert core.call_next(T0 + 61, 1).number == "A002"


@pytest.mark.parametrize("offset", [-2 * 86400, 2 * 86400, -T0 - 5])
def test_appointment_not_today_is_refused(offset: float) -> None:
    core = BranchCore(CFG, DAY)
    with pytest.raises(e.BadAppointment) as info:
        core.issue(T0, "cash", appointment_at=T0 + offset)
    assert isinstance(info.value, ValueError)
    assert core.tickets == {} and core.drain() == []


# ---------------------------------------------------------------------------------- calling


def test_call_next_calls_the_oldest_and_reports_the_wait() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0 + 5, "cash")
    core.drain()
    t = core.call_next(T0 + 65, 1)
    assert t.number == "A001" and t.state == State.CALLED and t.counter == 1 and t.teller == "1001"
    called, changed = core.drain()
    assert called == m.TicketCalled(at=T0 + 65, number="A001", counter=1, business="cash", tier="normal",
                                    waited_s=65.0, teller="1001")
    assert changed == m.CounterChanged(at=T0 + 65, counter=1, status=m.CounterStatus.CALLED, teller="1001", number="A001")


def test_call_at_closed_counter() -> None:
    core = BranchCore(CFG, DAY)
    core.issue(T0, "cash")
    with pytest.raises(e.CounterClosed) as info:
        core.call_next(T0, 1)
    assert info.value.code == "counter_closed" and "1" in info.value.zh
    assert core.tickets["A001"].state == State.WAITING


def test_call_at_paused_counter() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.pause(T0, 1)
    with pytest.raises(e.CounterPaused):
        core.call_next(T0, 1)
    assert core.tickets["A001"].state == State.WAITING


def test_call_without_a_teller() -> None:
    core = BranchCore(CFG, DAY)
    core.open(T0, 1)
    core.issue(T0, "cash")
    with pytest.raises(e.NotLoggedIn) as info:
        core.call_next(T0, 1)
    assert isinstance(info.value, PermissionError)


def test_call_while_a_customer_is_in_hand() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    with pytest.raises(e.CounterBusy):
        core.call_next(T0, 1)
    core.start(T0, 1)
    with pytest.raises(e.CounterBusy):
        core.call_next(T0, 1)
    assert core.tickets["A002"].state == State.WAITING


def test_call_with_nobody_waiting_changes_nothing() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "corporate")  # counter 1 does not serve it
    core.drain()
    with pytest.raises(e.QueueEmpty) as info:
        core.call_next(T0, 1)
    assert isinstance(info.value, LookupError)
    assert core.drain() == [] and core.counters[1].status == "idle"


def test_unknown_counter() -> None:
    core = BranchCore(CFG, DAY)
    for op in (core.call_next, core.recall, core.skip, core.start, core.pause, core.resume):
        with pytest.raises(e.UnknownCounter) as info:
            op(T0, 42)
        assert isinstance(info.value, KeyError)
        assert str(info.value) == "counter 42 does not exist"  # no KeyError quotes


def test_next_call_closes_a_pending_rating_as_unrated() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    serve_one(core, 1, T0 + 60)  # A001: finished without a rating request
    core.issue(T0 + 70, "cash")
    core.issue(T0 + 71, "cash")
    core.call_next(T0 + 80, 1)
    core.start(T0 + 90, 1)
    core.finish(T0 + 100, 1, request_rating=True)
    core.drain()
    t = core.call_next(T0 + 105, 1)
    assert t.number == "A003"
    evs = core.drain()
    assert types(evs) == ["ServiceRated", "CounterChanged", "TicketCalled", "CounterChanged"]
    assert evs[0] == m.ServiceRated(at=T0 + 105, number="A002", counter=1, stars=0, teller="1001",
                                    reason="next_call")
    assert core.tickets["A002"].rating == 0


def test_refused_next_call_keeps_the_pending_rating() -> None:
    """Regression: a call with nobody waiting used to close the rating, then refuse the call."""
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.start(T0, 1)
    core.finish(T0 + 60, 1)
    core.drain()
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 61, 1)
    assert core.drain() == []
    assert core.counters[1].status == "rating"
    core.rate(T0 + 62, 1, 5)
    assert core.tickets["A001"].rating == 5


# ---------------------------------------------------------------------------------- recall / skip / requeue


def test_recall_is_counted_and_limited() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.drain()
    for n in (1, 2, 3):
        assert core.recall(T0 + n, 1).recalls == n
    assert core.drain()[-1] == m.TicketRecalled(at=T0 + 3, number="A001", counter=1, recalls=3)
    with pytest.raises(e.RecallLimit) as info:
        core.recall(T0 + 4, 1)
    assert "A001" in info.value.zh
    assert core.drain() == []
    assert core.recent_calls()[0] == m.CallView(number="A001", counter=1, at=T0 + 3, business="cash", recall=3)
    assert core.counter_state(1).recalls == 3
    assert core.hall_view().calling[0].recall == 3


def test_recall_limit_zero_means_no_recalls() -> None:
    core = staffed(small_cfg(rules="max_recalls = 0"), 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    with pytest.raises(e.RecallLimit):
        core.recall(T0, 1)


def test_recall_or_skip_needs_a_called_customer() -> None:
    core = staffed(CFG, 1)
    for op in (core.recall, core.skip):
        with pytest.raises(e.WrongState):
            op(T0, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.start(T0, 1)
    for op in (core.recall, core.skip):  # the customer is already at the counter
        with pytest.raises(e.WrongState):
            op(T0, 1)


def test_skip_puts_the_ticket_in_the_missed_list() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.drain()
    t = core.skip(T0 + 30, 1)
    assert t.state == State.MISSED and t.missed_at == T0 + 30
    assert core.missed_list() == [t]
    assert core.counters[1].status == "idle" and core.counters[1].ticket is None
    assert core.drain() == [m.TicketSkipped(at=T0 + 30, number="A001", counter=1),
                            m.CounterChanged(at=T0 + 30, counter=1, status=m.CounterStatus.IDLE, teller="1001")]
    assert core.call_next(T0 + 31, 1).number == "A002"


def _missed(core: BranchCore, now: float) -> None:
    """A001 is called at counter 1 and does not come; A002 waits."""
    core.issue(now, "cash")
    core.issue(now + 1, "cash")
    core.call_next(now + 2, 1)
    core.skip(now + 3, 1)


def test_requeue_goes_to_the_back_by_default() -> None:
    core = staffed(CFG, 1)
    _missed(core, T0)
    core.issue(T0 + 4, "cash")
    core.drain()
    t = core.requeue(T0 + 5, "A001")
    assert t.state == State.WAITING and core.missed_list() == []
    assert core.drain() == [m.TicketRequeued(at=T0 + 5, number="A001")]
    core.issue(T0 + 6, "cash")
    assert [serve_one(core, 1, T0 + 10) for _ in range(4)] == ["A002", "A003", "A001", "A004"]


def test_requeue_to_the_front_keeps_the_issue_time() -> None:
    core = staffed(small_cfg(rules='requeue_position = "front"'), 1)
    _missed(core, T0)
    core.issue(T0 + 4, "cash")
    core.requeue(T0 + 5, "A001")
    assert [serve_one(core, 1, T0 + 10) for _ in range(3)] == ["A001", "A002", "A003"]


def test_requeue_window() -> None:
    core = staffed(CFG, 1)  # window: 30 minutes after the skip
    _missed(core, T0)
    core.requeue(T0 + 3 + 30 * MIN, "A001")  # exactly at the end of the window
    core.issue(T0 + 31 * MIN, "cash")
    assert serve_one(core, 1, T0 + 31 * MIN) == "A002"
    assert core.call_next(T0 + 31 * MIN, 1).number == "A001"
    core.skip(T0 + 31 * MIN, 1)
    core.drain()
    with pytest.raises(e.RequeueExpired) as info:
        core.requeue(T0 + 61 * MIN + 1, "A001")
    assert "30 min" in str(info.value)
    assert core.tickets["A001"].state == State.MISSED and core.drain() == []


def test_a_requeued_customer_called_again_gets_fresh_recalls() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    for i in range(3):
        core.recall(T0 + i, 1)
    core.skip(T0 + 5, 1)
    core.requeue(T0 + 60, "A001")
    t = core.call_next(T0 + 61, 1)
    assert t.recalls == 0 and core.hall_view().calling[0].recall == 0
    assert core.recall(T0 + 62, 1).recalls == 1


def test_requeue_needs_a_missed_ticket() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    with pytest.raises(e.WrongState):
        core.requeue(T0, "A001")
    with pytest.raises(e.UnknownTicket) as info:
        core.requeue(T0, "A999")
    assert str(info.value) == "ticket A999 was not issued today"


# ---------------------------------------------------------------------------------- transfer


def _serving(core: BranchCore, cid: int, business: str, now: float) -> str:
    core.issue(now, business)
    t = core.call_next(now + 1, cid)
    core.start(now + 2, cid)
    return t.number


def test_transfer_to_a_business_keeps_the_original_issue_time() -> None:
    core = staffed(CFG, 1, 3)
    assert _serving(core, 1, "cash", T0) == "A001"
    core.issue(T0 + 10, "personal")  # B001 came after A001 took its number
    core.drain()
    t = core.transfer(T0 + 300, 1, to_business="personal")
    assert t.state == State.WAITING and t.business == "personal" and t.transfers == 1
    assert t.issued_at == T0
    assert core.drain() == [
        m.TicketTransferred(at=T0 + 300, number="A001", from_counter=1, to_business="personal"),
        m.CounterChanged(at=T0 + 300, counter=1, status=m.CounterStatus.IDLE, teller="1001"),
    ]
    assert core.queue_state().waiting["personal"] == 2
    assert core.call_next(T0 + 301, 3).number == "A001"  # ahead of B001
    assert core.call_next(T0 + 301, 1).number == "B001"


def test_transfer_to_a_named_counter_is_called_there_first() -> None:
    core = staffed(CFG, 1, 2, 3)
    core.issue(T0, "personal")  # B001 is older than the transferred customer
    _serving(core, 1, "cash", T0 + 5)
    core.drain()
    t = core.transfer(T0 + 100, 1, to_business="personal", to_counter=3)
    assert t.state == State.WAITING and t.business == "personal"
    assert core.drain()[0] == m.TicketTransferred(at=T0 + 100, number="A001", from_counter=1,
                                                  to_business="personal", to_counter=3)
    assert [x.number for x in core.waiting_list()] == ["B001", "A001"]
    assert core.call_next(T0 + 101, 2).number == "B001"  # counter 2 does not take counter 3's customer
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 101, 1)
    assert core.call_next(T0 + 102, 3).number == "A001"


def test_transfer_to_a_counter_keeps_the_business_when_none_given() -> None:
    core = staffed(CFG, 1, 2)
    _serving(core, 1, "cash", T0)
    core.issue(T0 + 3, "cash")
    core.transfer(T0 + 100, 1, to_counter=2)
    assert core.call_next(T0 + 101, 2).number == "A001"


class TransferTo(TypedDict, total=False):
    """Where a transfer sends the customer (BranchCore.transfer's keyword arguments)."""

    to_business: str
    to_counter: int


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"to_business": "corporate"}, e.NotServed),  # counter 4 is closed
    ({"to_counter": 4}, e.NotServed),  # closed
    ({"to_counter": 1}, e.NotServed),  # this very counter
    ({"to_counter": 3}, e.NotServed),  # counter 3 does not serve cash
    ({"to_counter": 2, "to_business": "wealth"}, e.NotServed),
    ({"to_business": "mortgage"}, e.UnknownBusiness),
    ({"to_counter": 77}, e.UnknownCounter),
])
def test_transfer_refused_leaves_the_customer_at_the_counter(kwargs: TransferTo, error: type[CoreError]) -> None:
    core = staffed(CFG, 1, 2, 3)
    _serving(core, 1, "cash", T0)
    core.drain()
    with pytest.raises(error):
        core.transfer(T0 + 100, 1, **kwargs)
    assert core.drain() == []
    assert core.counters[1].status == "serving" and core.tickets["A001"].state == State.SERVING


def test_transfer_only_while_serving() -> None:
    core = staffed(CFG, 1, 2)
    with pytest.raises(e.WrongState):
        core.transfer(T0, 1, to_counter=2)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    with pytest.raises(e.WrongState):
        core.transfer(T0, 1, to_counter=2)


# ---------------------------------------------------------------------------------- serving and rating


def test_start_and_finish_with_a_rating_request() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    with pytest.raises(e.WrongState):
        core.start(T0, 1)  # nobody called
    core.call_next(T0 + 10, 1)
    with pytest.raises(e.WrongState):
        core.finish(T0 + 10, 1)  # not started
    core.drain()
    t = core.start(T0 + 20, 1)
    assert t.state == State.SERVING and t.started_at == T0 + 20
    assert core.counter_state(1).status == "serving"
    assert core.drain() == [m.ServiceStarted(at=T0 + 20, number="A001", counter=1, teller="1001"),
                            m.CounterChanged(at=T0 + 20, counter=1, status=m.CounterStatus.SERVING, teller="1001",
                                             number="A001")]
    with pytest.raises(e.WrongState):
        core.start(T0 + 21, 1)  # already started
    t = core.finish(T0 + 200, 1)
    assert t.state == State.SERVED and t.finished_at == T0 + 200 and t.rating == -1
    assert core.counters[1].status == "rating" and core.counters[1].ticket is None
    assert core.drain() == [m.ServiceFinished(at=T0 + 200, number="A001", counter=1, service_s=180.0,
                                              teller="1001", rating_requested=True),
                            m.CounterChanged(at=T0 + 200, counter=1, status=m.CounterStatus.RATING, teller="1001")]
    assert core.next_deadline() == T0 + 200 + CFG.rating.timeout_s


def test_finish_without_a_rating_request_counts_as_unrated() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.start(T0, 1)
    core.drain()
    t = core.finish(T0 + 60, 1, request_rating=False)
    assert t.rating == 0 and core.counters[1].status == "idle"
    assert types(core.drain()) == ["ServiceFinished", "ServiceRated", "CounterChanged"]
    assert core.counters[1].last_rated is t
    with pytest.raises(e.NoRatingPending):
        core.rate(T0 + 61, 1, 5)


def _rating_pending(core: BranchCore, now: float) -> None:
    core.issue(now, "cash")
    core.call_next(now, 1)
    core.start(now, 1)
    core.finish(now + 60, 1)
    core.drain()


def test_rate_records_the_stars() -> None:
    core = staffed(CFG, 1)
    _rating_pending(core, T0)
    t = core.rate(T0 + 70, 1, 4)
    assert t.rating == 4 and core.counters[1].status == "idle"
    assert core.drain() == [m.ServiceRated(at=T0 + 70, number="A001", counter=1, stars=4, teller="1001"),
                            m.CounterChanged(at=T0 + 70, counter=1, status=m.CounterStatus.IDLE, teller="1001")]


@pytest.mark.parametrize("stars", [0, 6, -1])
def test_rating_outside_the_scale_is_refused_and_the_pad_may_retry(stars: int) -> None:
    core = staffed(CFG, 1)
    _rating_pending(core, T0)
    with pytest.raises(e.BadRating) as info:
        core.rate(T0 + 70, 1, stars)
    assert "1..5" in str(info.value)
    assert core.counters[1].status == "rating"
    assert core.rate(T0 + 71, 1, 5).rating == 5


def test_rating_scale_comes_from_the_config() -> None:
    core = staffed(small_cfg(rating="scale = 3\nsatisfied_min = 2"), 1)
    _rating_pending(core, T0)
    with pytest.raises(e.BadRating):
        core.rate(T0 + 70, 1, 4)
    assert core.rate(T0 + 70, 1, 3).rating == 3


def test_rating_with_no_finished_service() -> None:
    core = staffed(CFG, 1)
    with pytest.raises(e.NoRatingPending):
        core.rate(T0, 1, 5)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.start(T0, 1)
    with pytest.raises(e.NoRatingPending):
        core.rate(T0, 1, 5)  # still being served


def test_rating_twice() -> None:
    core = staffed(CFG, 1)
    _rating_pending(core, T0)
    core.rate(T0 + 70, 1, 5)
    with pytest.raises(e.AlreadyRated) as info:
        core.rate(T0 + 71, 1, 1)
    assert info.value.code == "already_rated"
    assert core.tickets["A001"].rating == 5


def test_rating_times_out_as_unrated() -> None:
    core = staffed(CFG, 1)  # timeout 20 s
    _rating_pending(core, T0)  # finished at T0 + 60
    core.tick(T0 + 79)
    assert core.counters[1].status == "rating" and core.drain() == []
    core.tick(T0 + 80)
    assert core.drain() == [
        m.ServiceRated(at=T0 + 80, number="A001", counter=1, stars=0, teller="1001", reason="timeout"),
        m.CounterChanged(at=T0 + 80, counter=1, status=m.CounterStatus.IDLE, teller="1001"),
    ]
    assert core.tickets["A001"].rating == 0
    with pytest.raises(e.NoRatingPending):
        core.rate(T0 + 81, 1, 5)
    assert core.next_deadline() is None


# ---------------------------------------------------------------------------------- counters and tellers


def test_pause_and_resume() -> None:
    core = staffed(CFG, 1, 2)
    core.issue(T0, "cash")
    core.drain()
    core.pause(T0, 1)
    assert core.drain() == [m.CounterChanged(at=T0, counter=1, status=m.CounterStatus.PAUSED, teller="1001")]
    assert core.hall_view().paused == [1]
    with pytest.raises(e.CounterPaused):
        core.call_next(T0 + 1, 1)
    with pytest.raises(e.WrongState):
        core.pause(T0 + 1, 1)
    assert core.call_next(T0 + 2, 2).number == "A001"  # the open counter takes the customer
    core.issue(T0 + 3, "cash")
    core.resume(T0 + 4, 1)
    assert core.counters[1].status == "idle" and core.hall_view().paused == []
    with pytest.raises(e.WrongState):
        core.resume(T0 + 4, 1)
    assert core.call_next(T0 + 5, 1).number == "A002"


def test_pause_only_when_idle_or_rating() -> None:
    core = staffed(CFG, 1)
    with pytest.raises(e.WrongState):
        core.pause(T0, 2)  # closed
    _rating_pending(core, T0)
    core.pause(T0 + 70, 1)  # the rating is closed, unrated
    assert types(core.drain()) == ["ServiceRated", "CounterChanged", "CounterChanged"]
    assert core.tickets["A001"].rating == 0 and core.counters[1].status == "paused"
    core.resume(T0 + 71, 1)
    core.issue(T0 + 72, "cash")
    core.call_next(T0 + 72, 1)
    with pytest.raises(e.WrongState):
        core.pause(T0 + 73, 1)


def test_open_and_close() -> None:
    core = BranchCore(CFG, DAY)
    assert core.hall_view().closed == [1, 2, 3, 4, 5, 6]
    core.open(T0, 4)
    assert core.drain() == [m.CounterChanged(at=T0, counter=4, status=m.CounterStatus.IDLE)]
    with pytest.raises(e.WrongState):
        core.open(T0, 4)
    core.close(T0 + 1, 4)
    assert core.counters[4].status == "closed"
    with pytest.raises(e.WrongState):
        core.close(T0 + 2, 4)


def test_close_refused_with_a_customer_in_hand_and_ends_a_pending_rating() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    with pytest.raises(e.CounterBusy):
        core.close(T0, 1)
    core.start(T0, 1)
    with pytest.raises(e.CounterBusy):
        core.close(T0, 1)
    core.finish(T0 + 10, 1)
    core.drain()
    core.close(T0 + 11, 1)
    evs = core.drain()
    assert evs[0] == m.ServiceRated(at=T0 + 11, number="A001", counter=1, stars=0, teller="1001",
                                    reason="closed")
    assert core.counters[1].status == "closed"


def test_login_opens_the_counter_and_logout_closes_it() -> None:
    core = BranchCore(CFG, DAY)
    core.login(T0, 3, "1003")
    assert core.drain() == [m.CounterChanged(at=T0, counter=3, status=m.CounterStatus.IDLE, teller="1003")]
    assert core.counter_state(3) == m.CounterState(counter=3, status=m.CounterStatus.IDLE, teller="1003", teller_name="张伟",
                                                   since=T0)
    core.logout(T0 + 1, 3)
    assert core.counter_state(3) == m.CounterState(counter=3, status=m.CounterStatus.CLOSED, since=T0 + 1)


def test_login_errors() -> None:
    core = staffed(CFG, 1)
    with pytest.raises(e.UnknownTeller):
        core.login(T0, 2, "4242")
    with pytest.raises(e.CounterBusy) as info:
        core.login(T0, 2, "1001")  # already at counter 1
    assert "1" in info.value.zh
    with pytest.raises(e.UnknownCounter):
        core.login(T0, 9, "1002")
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    with pytest.raises(e.CounterBusy):
        core.login(T0, 1, "1002")  # a new teller cannot take over mid-call
    with pytest.raises(e.CounterBusy):
        core.logout(T0, 1)
    assert core.counters[1].teller == "1001" and core.counters[2].status == "closed"


def test_logout_ends_a_pending_rating() -> None:
    core = staffed(CFG, 1)
    _rating_pending(core, T0)
    core.logout(T0 + 61, 1)
    assert of(core.drain(), m.ServiceRated)[0].reason == "logout"
    assert core.counters[1].teller == "" and core.counters[1].status == "closed"


# ---------------------------------------------------------------------------------- cancel


def test_cancel_a_waiting_ticket() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.issue(T0, "cash")
    core.drain()
    core.cancel(T0 + 5, "A001")
    assert core.drain() == [m.TicketCancelled(at=T0 + 5, number="A001")]
    assert core.tickets["A001"].state == State.CANCELLED
    assert core.queue_state().waiting["cash"] == 1
    assert core.call_next(T0 + 6, 1).number == "A002"
    with pytest.raises(e.WrongState):
        core.cancel(T0 + 7, "A001")


def test_cancel_a_missed_ticket_but_not_a_called_one() -> None:
    core = staffed(CFG, 1)
    _missed(core, T0)
    core.cancel(T0 + 10, "A001")
    assert core.missed_list() == []
    core.call_next(T0 + 11, 1)
    with pytest.raises(e.WrongState):
        core.cancel(T0 + 12, "A002")
    with pytest.raises(e.UnknownTicket):
        core.cancel(T0, "Z001")


# ---------------------------------------------------------------------------------- days and time


def test_reset_day_restarts_numbers_and_closes_counters() -> None:
    core = staffed(CFG, 1, 2)
    core.issue(T0, "cash")
    core.issue(T0, "cash")
    core.call_next(T0, 1)
    core.drain()
    core.reset_day(T0 + 20 * 3600, "2026-03-03")
    evs = core.drain()
    assert evs[-1] == m.DayReset(at=T0 + 20 * 3600, day="2026-03-03")
    assert all(x.status == "closed" for x in of(evs, m.CounterChanged))
    assert core.tickets == {} and core.queue_state().waiting["cash"] == 0
    assert all(c.status == "closed" and c.teller == "" for c in core.counter_states())
    view = core.issue(T0 + 24 * 3600, "cash")
    assert (view.number, view.id) == ("A001", "20260303-A001")
    assert core.hall_view().day == "2026-03-03"


@pytest.mark.parametrize("day", [DAY, "2026-03-01"])
def test_reset_day_never_twice_never_back(day: str) -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash")
    core.drain()
    with pytest.raises(e.DayNotAfter):
        core.reset_day(T0, day)
    assert core.drain() == [] and core.day == DAY and "A001" in core.tickets


def test_first_reset_day_of_a_new_core() -> None:
    core = BranchCore(CFG)
    core.reset_day(T0, DAY)
    assert core.day == DAY and core.issue(T0, "cash").id == "20260302-A001"


def test_reset_day_ends_a_pending_rating() -> None:
    core = staffed(CFG, 1)
    _rating_pending(core, T0)
    core.reset_day(T0 + 3600, "2026-03-03")
    rated = of(core.drain(), m.ServiceRated)
    assert [(x.number, x.reason) for x in rated] == [("A001", "day_end")]


def test_reset_day_starts_the_counters_clean() -> None:
    """Regression: yesterday's last open stretch and calling memory leaked into the new day."""
    cfg = small_cfg(counters=counter(1, "cash = 3, loan = 1"))
    core = staffed(cfg, 1)
    for i in range(3):
        core.issue(T0 + i, "cash")
        core.issue(T0 + i, "loan")
    serve_one(core, 1, T0 + 10)  # weighted round-robin credit is now uneven
    core.reset_day(T0 + 18 * 3600, "2026-03-03")
    assert core.counters[1].open_s == 0 and core.counters[1].busy_s == 0
    fresh = BranchCore(cfg, "2026-03-03")
    day2 = T0 + 24 * 3600
    for k in (core, fresh):
        k.login(day2, 1, "t1")
        for i in range(4):
            k.issue(day2 + i, "cash")
            k.issue(day2 + i, "loan")
    got = [[serve_one(k, 1, day2 + 10) for _ in range(8)] for k in (core, fresh)]
    assert got[0] == got[1]
    assert kpis(core, day2 + 100)["counter_busy_share"] == kpis(fresh, day2 + 100)["counter_busy_share"]


def test_clock_running_backwards_never_gives_negative_waits() -> None:
    core = staffed(CFG, 1)
    core.issue(T0 + 600, "cash")
    core.drain()
    t = core.call_next(T0, 1)  # the wall clock jumped back ten minutes
    assert t.called_at == T0 + 600
    called = of(core.drain(), m.TicketCalled)[0]
    assert called.waited_s == 0 and called.at == T0 + 600
    core.start(T0 + 10, 1)
    core.finish(T0 + 20, 1, request_rating=False)
    finished = of(core.drain(), m.ServiceFinished)[0]
    assert finished.service_s == 0
    view = core.issue(T0 - 3600, "cash")
    assert view.issued_at == T0 + 600
    assert kpis(core, T0)["wait_s"]["max"] == 0


# ---------------------------------------------------------------------------------- queries


def test_queue_state_counts_per_type_and_tier() -> None:
    core = staffed(CFG, 1, 2)
    for tier in ("normal", "normal", "vip", "private"):
        core.issue(T0, "cash", tier)
    core.issue(T0, "cash", appointment_at=T0 + 3600)
    core.issue(T0, "forex")
    qs = core.queue_state()
    assert qs.waiting == {"cash": 5, "personal": 0, "corporate": 0, "wealth": 0, "forex": 1}
    assert qs.by_tier["cash"] == {"normal": 2, "vip": 1, "private": 1, "appointment": 1}
    assert qs.by_tier["personal"] == {}
    assert qs.est_wait_s["cash"] == 5 * 4 * MIN / 2
    assert qs.est_wait_s["forex"] == 1 * 10 * MIN  # no open counter serves it: divide by one
    msgspec.json.encode(qs)


def test_transferred_customers_are_counted_as_waiting() -> None:
    """Regression: a customer transferred to a named counter vanished from the queue counts."""
    core = staffed(CFG, 1, 3)
    _serving(core, 1, "cash", T0)
    core.transfer(T0 + 60, 1, to_business="personal", to_counter=3)
    assert core.queue_state().waiting["personal"] == 1
    assert core.queue_state().by_tier["personal"] == {"directed": 1}
    assert core.hall_view().waiting["personal"] == 1
    assert core.waiting_count("personal") == 1
    core.call_next(T0 + 61, 3)
    assert core.queue_state().waiting["personal"] == 0


def test_waiting_list_in_wait_order() -> None:
    core = staffed(CFG, 1)
    core.issue(T0 + 2, "cash", "vip")
    core.issue(T0 + 3, "personal")
    core.issue(T0 + 4, "cash")
    core.issue(T0 + 5, "cash", appointment_at=T0 + 100)
    assert [t.number for t in core.waiting_list()] == ["A001", "B001", "A002", "A003"]
    assert [t.number for t in core.waiting_list("personal")] == ["B001"]
    core.call_next(T0 + 6, 1)
    assert [t.number for t in core.waiting_list("cash")] == ["A002", "A003"]
    with pytest.raises(e.UnknownBusiness):
        core.waiting_list("nope")


def test_counter_states_show_who_is_where() -> None:
    core = staffed(CFG, 1, 5)
    core.issue(T0, "cash")
    core.call_next(T0, 5)
    core.recall(T0, 5)
    states = {s.counter: s for s in core.counter_states()}
    assert len(states) == 6
    assert states[5] == m.CounterState(counter=5, status=m.CounterStatus.CALLED, teller="1005", teller_name="陈静",
                                       number="A001", business="cash", recalls=1, tier="normal",
                                       since=T0)
    assert states[1].status == "idle" and states[4].status == "closed"


def test_a_counter_state_tells_the_teller_the_wait_and_who_else_waits_here() -> None:
    core = staffed(CFG, 1, 5)
    core.issue(T0, "cash", "vip")
    core.issue(T0 + 10, "cash")
    core.issue(T0 + 20, "wealth")  # counter 5 serves wealth, counter 1 does not
    core.issue(T0 + 30, "corporate")  # served at neither
    core.call_next(T0 + 300, 5)
    s5, s1 = core.counter_state(5), core.counter_state(1)
    assert (s5.number, s5.tier, s5.waited_s, s5.waiting) == ("A001", "vip", 300.0, 2)
    assert (s1.number, s1.waiting) == ("", 1)


def test_recent_calls_newest_first_and_bounded() -> None:
    core = staffed(CFG, 1, 2)
    for i in range(30):
        core.issue(T0 + i, "cash")
    for i in range(25):
        serve_one(core, 1 + i % 2, T0 + 100 + i)
    recent = core.recent_calls()
    assert len(recent) == 20
    assert recent[0] == m.CallView(number="A025", counter=1, at=T0 + 124, business="cash")
    assert [v.number for v in recent[:3]] == ["A025", "A024", "A023"]


def test_hall_view_redraws_from_nothing() -> None:
    core = staffed(CFG, 1, 2, 3)
    for b in ("cash", "cash", "cash", "personal"):
        core.issue(T0, b)
    core.call_next(T0 + 10, 1)
    core.call_next(T0 + 20, 2)
    core.start(T0 + 25, 2)
    core.pause(T0 + 30, 3)
    hv = core.hall_view()
    assert hv.day == DAY
    # Called and being served, newest call first: the hall sees which number is at each counter.
    assert hv.calling == [m.CallView(number="A002", counter=2, at=T0 + 20, business="cash"),
                          m.CallView(number="A001", counter=1, at=T0 + 10, business="cash")]
    core.finish(T0 + 40, 2)
    assert [v.number for v in core.hall_view().calling] == ["A001"]
    assert [v.number for v in hv.recent] == ["A002", "A001"]
    assert hv.waiting["cash"] == 1 and hv.waiting["personal"] == 1
    assert hv.paused == [3] and hv.closed == [4, 5, 6]
    m.decode(m.encode(hv), m.HallView)


def test_missed_list() -> None:
    core = staffed(CFG, 1)
    _missed(core, T0)
    core.call_next(T0 + 10, 1)
    core.skip(T0 + 11, 1)
    assert [t.number for t in core.missed_list()] == ["A001", "A002"]


# ---------------------------------------------------------------------------------- events and commands


def test_a_whole_visit_emits_the_events_in_order_and_they_travel_the_bus() -> None:
    core = BranchCore(CFG, DAY)
    core.login(T0, 1, "1001")
    core.issue(T0, "cash")
    core.call_next(T0 + 60, 1)
    core.recall(T0 + 70, 1)
    core.start(T0 + 80, 1)
    core.finish(T0 + 300, 1)
    core.rate(T0 + 305, 1, 5)
    evs = core.drain()
    assert types(evs) == ["CounterChanged", "TicketIssued", "TicketCalled", "CounterChanged",
                          "TicketRecalled", "ServiceStarted", "CounterChanged", "ServiceFinished",
                          "CounterChanged", "ServiceRated", "CounterChanged"]
    assert [x.status for x in of(evs, m.CounterChanged)] == [
        "idle", "called", "serving", "rating", "idle"]
    for ev in evs:
        assert m.decode_event(m.encode(ev)) == ev
    assert core.drain() == []


def test_execute_applies_bus_commands() -> None:
    core = BranchCore(CFG)
    core.execute(m.ResetDay(day=DAY), T0)
    core.execute(m.Login(counter=1, teller="1001", pin="1001"), T0)
    view = core.execute(m.Issue(business="cash", tier="vip"), T0)
    assert isinstance(view, m.TicketView) and view.number == "A001"
    assert core.execute(m.CallNext(counter=1), T0 + 1).number == "A001"
    core.execute(m.Recall(counter=1), T0 + 2)
    core.execute(m.StartService(counter=1), T0 + 3)
    core.execute(m.FinishService(counter=1, request_rating=True), T0 + 4)
    core.execute(m.Rate(counter=1, stars=3), T0 + 5)
    assert core.tickets["A001"].rating == 3
    core.execute(m.Pause(counter=1), T0 + 6)
    core.execute(m.Resume(counter=1), T0 + 7)
    core.execute(m.Issue(business="cash"), T0 + 8)
    core.execute(m.Cancel(number="A002"), T0 + 9)
    core.execute(m.Tick(), T0 + 10)
    core.execute(m.Logout(counter=1), T0 + 11)
    core.execute(m.OpenCounter(counter=2), T0 + 12)
    core.execute(m.CloseCounter(counter=2), T0 + 13)
    assert core.clock == T0 + 13
    with pytest.raises(e.CounterClosed):
        core.execute(m.CallNext(counter=1), T0 + 14)
    with pytest.raises(CoreError, match="does not handle"):
        core.execute(m.Notice(zh="x"), T0)


def test_every_error_is_a_qcall_error_with_a_code_and_chinese_text() -> None:
    classes = [c for c in vars(e).values() if isinstance(c, type) and issubclass(c, CoreError)]
    assert len(classes) >= 19
    codes = {c.code for c in classes}
    assert len(codes) == len(classes)
    for cls in classes:
        err = cls("x")
        assert isinstance(err, QcallError) and err.zh and err.en == "x"
        assert cls is CoreError or len(cls.__mro__) > 4  # also a builtin (ValueError, KeyError, ...)


# ---------------------------------------------------------------------------------- wait alerts


def test_wait_alert_for_anyone_past_the_branch_limit_once() -> None:
    core = staffed(CFG, 1)  # wait_alert_minutes = 10
    core.issue(T0, "cash")
    core.issue(T0 + 60, "personal")
    core.issue(T0 + 120, "cash")
    core.call_next(T0 + 130, 1)  # A001 has been called: no alert for it
    core.drain()
    assert core.next_deadline() == T0 + 60 + 10 * MIN
    core.tick(T0 + 10 * MIN + 59)
    assert core.drain() == []
    core.tick(T0 + 11 * MIN)
    assert core.drain() == [m.WaitAlert(at=T0 + 11 * MIN, kind="wait", number="B001", business="personal",
                                        tier="normal", waited_s=10 * MIN, limit_s=10 * MIN)]
    core.tick(T0 + 12 * MIN)
    assert [x.number for x in core.drain()] == ["A002"]
    core.tick(T0 + 60 * MIN)
    assert core.drain() == []  # each only once


def test_tier_alert_when_a_priority_customer_passes_the_tier_target() -> None:
    core = staffed(CFG, 1)  # private: 3 minutes; normal has no tier alert
    core.issue(T0, "cash", "private")
    core.issue(T0, "cash")
    core.drain()
    core.tick(T0 + 3 * MIN)
    assert core.drain() == [m.WaitAlert(at=T0 + 3 * MIN, kind="tier", number="A001", business="cash",
                                        tier="private", waited_s=3 * MIN, limit_s=3 * MIN)]
    core.tick(T0 + 10 * MIN)
    assert sorted((x.kind, x.number) for x in core.drain()) == [
        ("wait", "A001"), ("wait", "A002")]


def test_no_tier_alert_once_called() -> None:
    core = staffed(CFG, 1)
    core.issue(T0, "cash", "wealth")
    core.call_next(T0 + 60, 1)
    core.drain()
    core.tick(T0 + 30 * MIN)
    assert of(core.drain(), m.WaitAlert) == []
    assert core.next_deadline() is None


# ---------------------------------------------------------------------------------- stats


def _day() -> tuple[BranchCore, float]:
    """A short day with known waits, services, ratings, a no-show, a cancel and a late arrival."""
    cfg = small_cfg(counters=counter(1, "cash = 1, loan = 1") + counter(2, "cash = 1, loan = 5"))
    k = staffed(cfg, 1, 2)
    k.issue(T0, "cash")  # A001
    k.issue(T0 + 10, "cash", "vip")  # A002
    k.issue(T0 + 20, "loan")  # B001
    k.issue(T0 + 30, "cash")  # A003
    k.issue(T0 + 40, "cash")  # A004
    assert k.call_next(T0 + 70, 2).number == "A002"  # waited 60
    k.start(T0 + 80, 2)
    assert k.call_next(T0 + 100, 1).number == "A001"  # waited 100
    k.start(T0 + 100, 1)
    k.finish(T0 + 200, 2, request_rating=False)
    k.cancel(T0 + 250, "A004")
    assert k.call_next(T0 + 320, 2).number == "B001"  # waited 300
    k.start(T0 + 330, 2)
    k.finish(T0 + 400, 1)
    k.rate(T0 + 410, 1, 5)
    assert k.call_next(T0 + 410, 1).number == "A003"  # waited 380, then did not come
    k.skip(T0 + 470, 1)
    k.finish(T0 + 620, 2)
    k.rate(T0 + 630, 2, 2)
    k.issue(T0 + 3605, "cash")  # A005, still waiting
    return k, T0 + 4000


def test_kpis_of_a_day() -> None:
    core, now = _day()
    k = kpis(core, now, hour_of=lambda t: 9 + int((t - T0) // 3600))
    assert (k["day"], k["issued"], k["served"], k["no_shows"], k["cancelled"], k["still_waiting"]) == (
        DAY, 6, 3, 1, 1, 1)
    assert k["wait_s_by_tier"] == {"normal": {"n": 3, "mean": 260.0, "p90": 380.0, "max": 380.0},
                                   "vip": {"n": 1, "mean": 60.0, "p90": 60.0, "max": 60.0}}
    assert k["wait_s_by_type"]["cash"] == {"n": 3, "mean": 180.0, "p90": 380.0, "max": 380.0}
    assert k["wait_s_by_type"]["loan"]["mean"] == 300.0
    assert k["wait_s"]["n"] == 4
    assert k["service_s_by_type"]["cash"] == {"n": 2, "mean": 210.0, "p90": 300.0, "max": 300.0}
    assert k["satisfaction_rate"] == 0.5  # 5 stars and 2 stars
    assert k["unrated_rate"] == round(1 / 3, 4)  # the finish without a rating request
    assert k["tier_target_met"] == {"vip": 1.0, "normal": 1.0}
    assert k["counter_busy_share"] == {"1": round(360 / 4000, 4), "2": round(430 / 4000, 4)}
    assert k["arrivals_by_hour"] == {"09": 5, "10": 1}
    assert set(k["staffing_advice"]) == {"09", "10"}


def test_kpis_per_teller_attribute_every_service_and_star() -> None:
    """星级柜员: the manager reads stars and rates per teller, not only for the branch."""
    core, now = _day()
    k = kpis(core, now)
    assert k["by_teller"] == {
        "t1": {"served": 1, "service_s_mean": 300.0, "rated": 1, "stars_mean": 5.0,
               "satisfaction_rate": 1.0, "unrated_rate": 0.0},
        "t2": {"served": 2, "service_s_mean": 205.0, "rated": 1, "stars_mean": 2.0,
               "satisfaction_rate": 0.0, "unrated_rate": 0.5},
    }
    assert sum(v["served"] for v in k["by_teller"].values()) == k["served"]


def test_priority_tickets_granted_by_staff_are_reported_per_staff_member() -> None:
    core = BranchCore(CFG, DAY)
    core.issue(T0, "cash", "priority", granted_by="2001")
    core.issue(T0 + 1, "cash", "priority", granted_by="2001")
    core.issue(T0 + 2, "personal", "priority", granted_by="9001")
    core.issue(T0 + 3, "cash", "priority", via="id_card")  # from the ID's birth date: nobody granted it
    assert kpis(core, T0 + 10)["priority_grants_by_staff"] == {"2001": 2, "9001": 1}


def test_kpis_without_hours_or_ratings() -> None:
    k = kpis(BranchCore(CFG, DAY), T0)
    assert k["wait_s"] == {"n": 0, "mean": 0.0, "p90": 0.0, "max": 0.0}
    assert k["satisfaction_rate"] is None and k["unrated_rate"] is None
    assert k["counter_busy_share"] == {} and "arrivals_by_hour" not in k


def test_p90_is_the_nearest_rank() -> None:
    assert summary(range(1, 11)) == {"n": 10, "mean": 5.5, "p90": 9, "max": 10}
    assert summary([7.0])["p90"] == 7.0


def test_staffing_advice_grows_with_arrivals() -> None:
    advice = []
    for per_hour in (5, 20, 60):
        core = staffed(CFG, 1)
        for i in range(per_hour):
            core.issue(T0 + i * 3600 / per_hour, "cash")
        advice.append(kpis(core, T0 + 3600, hour_of=lambda t: 9)["staffing_advice"]["09"])
    assert 1 <= advice[0] <= advice[1] < advice[2]
    # 60 cash customers an hour at 4 minutes each is 4 Erlangs: more than four counters needed.
    assert advice[2] >= 5


def _erlang_c_by_erlang_b(servers: int, load: float) -> float:
    """Erlang C from the Erlang B recursion, an independent textbook route."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def test_erlang_c_textbook_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2: 2 rho^2 / (1 + rho), rho = 1/2
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    for servers, load in [(5, 3.5), (10, 8.0), (20, 17.0), (50, 45.0)]:
        assert erlang_c(servers, load) == pytest.approx(_erlang_c_by_erlang_b(servers, load))
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    assert erlang_c(2, 2.0) == 1.0 and erlang_c(2, 3.0) == 1.0  # overloaded: everyone waits


def test_counters_needed_is_the_fewest_meeting_the_service_level() -> None:
    def level(c: int, lam: float, mu: float, t: float) -> float:
        return 1 - erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)

    assert counters_needed(0, 300, 600) == 0
    for per_hour, service_s in [(10, 300), (60, 240), (200, 600)]:
        c = counters_needed(per_hour, service_s, 600)
        lam, mu = per_hour / 3600, 1 / service_s
        assert c > lam / mu and level(c, lam, mu, 600) >= 0.8
        assert c - 1 <= lam / mu or level(c - 1, lam, mu, 600) < 0.8
