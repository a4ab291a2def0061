"""The web service's picture of the branch, fed real bus payloads: which alerts each role sees and
when they go away, what a malformed message does, and the fan-out to many event streams."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from qbus import messages as m
from qbus.config import load
from qbus.topics import Topics
from tests.web_helpers import EXAMPLE
from web.broadcast import QUEUE_MAX, Broadcaster
from web.live import LiveBranch

CFG = load(EXAMPLE)
T = Topics(CFG.bus.prefix, CFG.branch.id)
NOW = 1_780_000_000.0


def fed(*messages: tuple[str, msgspec.Struct]) -> LiveBranch:
    v = LiveBranch(CFG, clock=lambda: NOW)
    v.set_online(True)
    for topic, msg in messages:
        v.apply(topic, m.encode(msg))
    return v


def kinds(v: LiveBranch, manager: bool) -> list[str]:
    return sorted(a.kind for a in v.alerts(manager))


def test_the_advisors_low_rating_alerts_the_manager_only() -> None:
    advice = m.Advice(at=NOW, kind="low_rating", counter=3, number="A007", teller="1003", value=2.0,
                      zh="3号窗口客户A007评价2星，请大堂经理及时沟通", en="Counter 3: A007 rated 2 star(s)")
    v = fed((T.alert("advice"), advice))
    assert kinds(v, manager=True) == ["rating"] and "张伟" in v.alerts(True)[0].zh
    assert "A007评价2星" in v.alerts(True)[0].zh
    assert kinds(v, manager=False) == []


def test_a_rating_alone_raises_no_alert_the_advisor_is_the_one_source() -> None:
    v = fed((T.event("rated"), m.ServiceRated(at=NOW, number="A007", counter=3, stars=1, teller="1003")),
            (T.state_queues(), m.QueueState(waiting={"corporate": 6}, est_wait_s={"corporate": 72 * 60.0})))
    assert kinds(v, manager=True) == []


def test_a_wait_alert_lasts_until_the_customer_is_called() -> None:
    alert = m.WaitAlert(at=NOW, kind="tier", number="D004", business="wealth", tier="private", waited_s=200,
                        limit_s=180)
    v = fed((T.event("alert"), alert))
    assert [a.key for a in v.alerts(False)] == ["tier:D004"]
    assert "私人银行客户 D004（理财咨询）已等 3 分钟，超过目标 3 分钟" == v.alerts(False)[0].zh
    v.apply(T.event("called"), m.encode(m.TicketCalled(at=NOW + 5, number="D004", counter=6, business="wealth",
                                                        tier="private", waited_s=205)))
    assert v.alerts(False) == []


def test_the_advisors_open_counter_advice_lasts_until_a_named_counter_opens() -> None:
    queues = m.QueueState(waiting={"corporate": 6}, est_wait_s={"corporate": 72 * 60.0})
    advice = m.Advice(at=NOW, kind="open_counter", business="corporate", counters=[4], value=72 * 60.0,
                      target=600.0, zh="对公业务预计等候72分钟，超过目标10分钟：请开放4号窗口",
                      en="Corporate: estimated wait 72 min, over the 10 min target: open counter 4")
    v = fed((T.state_counter(4), m.CounterState(counter=4, status=m.CounterStatus.CLOSED)), (T.state_queues(), queues),
            (T.alert("advice"), advice))
    (a,) = v.alerts(False)
    assert a.kind == "open_counter" and "请开放4号窗口" in a.zh
    v.apply(T.event("advice"), m.encode(advice))  # the same advice on event/advice: still one alert
    assert len(v.alerts(False)) == 1
    v.apply(T.state_counter(4), m.encode(m.CounterState(counter=4, status=m.CounterStatus.IDLE, teller="1004")))
    assert v.alerts(False) == []


def test_open_counter_advice_goes_when_the_wait_is_back_under_target() -> None:
    advice = m.Advice(at=NOW, kind="open_counter", business="cash", counters=[4], value=900.0, target=600.0,
                      zh="请开放4号窗口", en="open counter 4")
    v = fed((T.alert("advice"), advice))
    assert kinds(v, manager=False) == ["open_counter"]
    v.apply(T.state_queues(), m.encode(m.QueueState(waiting={"cash": 1}, est_wait_s={"cash": 120.0})))
    assert v.alerts(False) == []


def test_an_offline_pad_and_an_empty_printer_are_alerts_an_unknown_device_is_not() -> None:
    v = fed((T.presence("core"), m.Presence(device="core", online=True)),
            (T.presence("kiosk1"), m.Presence(device="kiosk1", online=True, detail="printer:near_end")),
            (T.presence("display1"), m.Presence(device="display1", online=False, detail="lost")))
    assert kinds(v, False) == ["offline", "paper"]
    assert v.device_state("bridge1") == "unknown"


def test_a_malformed_message_is_dropped_and_nothing_else_changes() -> None:
    v = fed((T.state_queues(), m.QueueState(waiting={"cash": 3})))
    version = v.version
    v.apply(T.state_queues(), b'{"waiting": "many"}')
    v.apply(T.event("called"), b"\xff not json")
    assert v.queues.waiting == {"cash": 3} and v.version == version


def test_one_publish_reaches_every_follower_and_a_stalled_one_is_dropped() -> None:
    async def scenario() -> None:
        b = Broadcaster()
        fast = [b.follow("now:manager") for _ in range(1000)]
        stalled = b.follow("now:manager")
        for i in range(QUEUE_MAX):  # the fast ones take each message as it comes; one never reads
            assert b.publish("now:manager", b"x%d" % i) == 1001
            for f in fast:
                f.queue.get_nowait()
        assert b.publish("now:manager", b"one too many") == 1000
        assert stalled.closed and b.count("now:manager") == 1000 and b.dropped == 1
        assert b.publish("now:lobby", b"nobody") == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("manager", [True, False])
def test_the_lobby_sections_carry_no_ratings(manager: bool) -> None:
    from web.render import Renderer

    stats = {"by_counter": {"3": {"served": 4, "satisfaction_rate": 0.75}}, "satisfaction_rate": 0.8,
             "issued": 5, "wait_s": {"mean": 60, "p90": 90}}
    v = LiveBranch(CFG, clock=lambda: NOW)
    v.stats = stats
    html = "".join(Renderer(v, str).sections(manager).values())
    assert ("满意" in html) is manager and ("75%" in html) is manager


def test_losing_the_bus_says_the_page_may_be_out_of_date() -> None:
    v = fed()
    v.set_online(False)
    assert [a.key for a in v.alerts(False)] == ["bus:offline"]


def test_an_unconfirmed_branch_clock_is_an_alert_and_fails_the_opening_check(tmp_path: object) -> None:
    from pathlib import Path

    from web.checks import opening_checks

    v = fed((T.state_hall(), m.HallView(day="2026-12-01", clock_unconfirmed=True)))
    assert [a.key for a in v.alerts(False)] == ["clock:unconfirmed"]
    clock = next(c for c in opening_checks(v, now=NOW, disk_path=Path(".")) if c.key == "clock")
    assert clock.ok is False and "confirm-clock" in clock.fix
