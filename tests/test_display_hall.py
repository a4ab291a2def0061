"""HallState: what the screen will show, folded from bus messages only."""

from __future__ import annotations

import pytest

from display.hall import BusLink, HallState
from qbus import messages as m
from qbus.config import BranchConfig
from tests.display_helpers import T0, branch


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    return branch()


def called(number: str, counter: int, at: float = T0) -> m.TicketCalled:
    return m.TicketCalled(at=at, number=number, counter=counter, business="cash", tier="normal",
                          waited_s=60.0)


def test_a_call_goes_to_the_top_and_blinks_for_the_configured_time(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(called("A001", 1), T0)
    s.apply(called("B002", 3), T0 + 1)
    assert [(c.number, c.counter) for c in s.calling] == [("B002", 3), ("A001", 1)]
    assert [c.number for c in s.recent] == ["B002", "A001"]
    h = s.highlighted(T0 + 1 + cfg.display.highlight_s - 0.01)
    assert h is not None and (h.number, h.counter) == ("B002", 3)
    assert s.highlighted(T0 + 1 + cfg.display.highlight_s) is None


def test_a_new_call_at_the_same_counter_replaces_the_old_number(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(called("A001", 1), T0)
    s.apply(called("A002", 1), T0 + 5)
    assert [c.number for c in s.calling] == ["A002"]
    assert [c.number for c in s.recent] == ["A002", "A001"]


def test_recall_moves_the_number_up_blinks_again_and_is_listed_once(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(called("A001", 1), T0)
    s.apply(called("B002", 3), T0 + 1)
    s.apply(m.TicketRecalled(at=T0 + 30, number="A001", counter=1, recalls=1), T0 + 30)
    assert [c.number for c in s.calling] == ["A001", "B002"]
    assert s.calling[0].recall == 1 and s.calling[0].business == "cash"
    assert [c.number for c in s.recent] == ["A001", "B002"]
    h = s.highlighted(T0 + 31)
    assert h is not None and h.number == "A001"


def test_service_start_and_pause_take_the_counter_off_the_calling_list(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(called("A001", 1), T0)
    s.apply(called("C001", 4), T0)
    s.apply(m.CounterChanged(at=T0 + 20, counter=1, status=m.CounterStatus.SERVING, number="A001"), T0 + 20)
    s.apply(m.CounterChanged(at=T0 + 21, counter=4, status=m.CounterStatus.PAUSED), T0 + 21)
    assert s.calling == []
    assert s.highlighted(T0 + 21) is None
    assert s.paused == [4]
    assert [c.number for c in s.recent] == ["C001", "A001"]
    s.apply(m.CounterState(counter=4, status=m.CounterStatus.IDLE), T0 + 22)
    assert s.paused == []


def test_retained_hall_view_resyncs_a_restarted_screen_without_blinking(cfg: BranchConfig) -> None:
    view = m.HallView(
        day="2027-01-15",
        calling=[m.CallView(number="A007", counter=2, at=T0 - 5),
                 m.CallView(number="B003", counter=3, at=T0 - 1)],
        recent=[m.CallView(number="B003", counter=3, at=T0 - 1),
                m.CallView(number="A007", counter=2, at=T0 - 5, recall=1),
                m.CallView(number="A007", counter=2, at=T0 - 50)],
        waiting={"cash": 4, "personal": 2}, paused=[5], notice_zh="今日系统维护", notice_en="Maintenance")
    s = HallState.from_config(cfg)
    s.apply(view, T0)
    assert [c.number for c in s.calling] == ["B003", "A007"]  # newest first
    assert [c.number for c in s.recent] == ["B003", "A007"]
    assert s.waiting == {"cash": 4, "personal": 2}
    assert s.paused == [5]
    assert s.notice == ("今日系统维护", "Maintenance")
    assert s.online
    assert s.highlighted(T0) is None


def test_bus_loss_keeps_everything_and_any_message_means_back_online(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(BusLink(online=True), T0)
    s.apply(called("A001", 1), T0)
    s.apply(m.QueueState(waiting={"cash": 3}), T0)
    s.apply(BusLink(online=False), T0 + 1)
    assert not s.online
    assert [c.number for c in s.calling] == ["A001"] and s.waiting == {"cash": 3}
    s.apply(m.QueueState(waiting={"cash": 2}), T0 + 2)
    assert s.online and s.waiting == {"cash": 2}


def test_notice_from_bus_wins_over_config_and_clearing_it_restores_config(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    assert s.notice == (cfg.display.notice_zh, cfg.display.notice_en)
    s.apply(m.HallView(notice_zh="核心配置公告", notice_en="From the core"), T0)
    assert s.notice == ("核心配置公告", "From the core")
    s.apply(m.Notice(zh="暂停营业", en="Closed today"), T0)
    s.apply(m.HallView(notice_zh="核心配置公告", notice_en="From the core"), T0 + 1)
    assert s.notice == ("暂停营业", "Closed today"), "a later HallView must not hide the notice"
    s.apply(m.Notice(), T0 + 2)
    assert s.notice == ("核心配置公告", "From the core")
    s.apply(m.HallView(), T0 + 3)
    assert s.notice == (cfg.display.notice_zh, cfg.display.notice_en)


def test_regions_are_marked_changed_only_when_their_content_changes(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(m.QueueState(waiting={"cash": 3}), T0)
    s.apply(m.QueueState(waiting={"cash": 3}, est_wait_s={"cash": 60.0}), T0)  # the wait is shown too
    before = dict(s.rev)
    s.apply(m.QueueState(waiting={"cash": 3}, est_wait_s={"cash": 60.0}), T0)
    s.apply(m.CounterChanged(at=T0, counter=2, status=m.CounterStatus.IDLE), T0)
    s.apply(m.TicketIssued(at=T0, ticket=m.TicketView(id="x", number="A009", business="cash",
                                                          tier="normal", issued_at=T0)), T0)
    assert s.rev == before
    s.apply(m.QueueState(waiting={"cash": 4}, est_wait_s={"cash": 60.0}), T0)
    assert s.rev["waiting"] == before["waiting"] + 1
    assert {k: v for k, v in s.rev.items() if k != "waiting"} == \
        {k: v for k, v in before.items() if k != "waiting"}


def test_recent_list_is_bounded_by_config(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    for i in range(20):
        s.apply(called(f"A{i:03d}", 1 + i % 6), T0 + i)
    assert len(s.recent) == cfg.display.recent_calls
    assert s.recent[0].number == "A019"


def test_day_reset_clears_calls_and_counts(cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    s.apply(called("A001", 1), T0)
    s.apply(m.QueueState(waiting={"cash": 3}), T0)
    s.apply(m.DayReset(at=T0 + 3600, day="2027-01-16"), T0 + 3600)
    assert s.calling == [] and s.recent == [] and s.waiting == {"cash": 0}


def test_a_call_only_in_the_retained_view_is_announced_once_and_a_fresh_screen_announces_none(
        cfg: BranchConfig) -> None:
    s = HallState.from_config(cfg)
    old = m.CallView(number="A001", counter=1, at=T0)
    s.apply(m.HallView(day="2027-01-15", calling=[old], recent=[old]), T0)
    assert s.take_missed() == []  # a screen that just started: old calls are not news
    s.apply(called("A002", 2, T0 + 10), T0 + 10)  # heard live
    s.apply(BusLink(online=False), T0 + 20)
    missed = m.CallView(number="A003", counter=1, at=T0 + 30)  # called while the broker was dead
    view = m.HallView(day="2027-01-15", calling=[missed], recent=[missed, m.CallView(number="A002", counter=2,
                                                                                     at=T0 + 10), old])
    s.apply(view, T0 + 40)
    assert [c.number for c in s.take_missed()] == ["A003"]
    assert s.highlight is not None and s.highlight.number == "A003"
    s.apply(view, T0 + 41)  # the same view again (retained + republished): not twice
    assert s.take_missed() == []
    nextday = m.CallView(number="A001", counter=3, at=T0 + 86400)  # a reset this screen never saw
    s.apply(m.HallView(day="2027-01-16", calling=[nextday], recent=[nextday]), T0 + 86400)
    assert [(c.number, c.counter) for c in s.take_missed()] == [("A001", 3)]


def test_the_hall_says_when_the_branch_clock_is_not_confirmed(cfg: BranchConfig) -> None:
    from display.hall import CLOCK_NOTICE

    s = HallState.from_config(cfg)
    s.apply(m.HallView(clock_unconfirmed=True, notice_zh="公告"), T0)
    assert s.notice == CLOCK_NOTICE and "系统时间未确认" in s.notice[0]
    s.apply(m.HallView(clock_unconfirmed=False, notice_zh="公告"), T0 + 1)
    assert s.notice[0] == "公告"
