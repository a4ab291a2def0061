"""Hostile inputs on the real Mosquitto and the real core service (issue 10, section 2): each one
gets a clear error reply, and the core keeps serving everybody else.

Branch time is injected (a BranchClock over a monotonic clock the test moves), so rate limits and
day roll-overs are deterministic: nothing here sleeps to wait for time to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.privacy import scan_paths
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, loads
from qbus.topics import Topics
from qserver.clock import BranchClock
from tests.bus_helpers import Inbox
from tests.conftest import CoreOn, MakeBus, with_topics
from tests.test_config import example_text

T0 = 1_772_416_800.0  # 2026-03-02 10:00 in Shanghai: business day 2026-03-02
NEXT_NIGHT = T0 + 17 * 3600 + 60  # 2026-03-03 03:01: past the daily reset


class HandClock:
    """Branch time that moves only when the test says so."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def branch(self) -> BranchClock:
        """Wall and monotonic clocks move together (an NTP-synchronised Pi): no clock step."""
        return BranchClock(wall=lambda: T0 + self.elapsed, mono=lambda: self.elapsed, synced=lambda: True)

    def to(self, t: float) -> None:
        self.elapsed = t - T0


def config(extra: str = "") -> BranchConfig:
    return loads(example_text() + extra)


CFG = config()
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def dev(make_bus: MakeBus) -> MakeBus:
    """Clients on the example branch's topics."""
    return with_topics(make_bus, TOPICS)


def listen(dev: MakeBus, broker: MosquittoBroker, device: str, topic: str,
           kind: Any) -> tuple[BusClient, Inbox]:
    inbox = Inbox()
    client = dev(broker, device, connect=False)
    client.subscribe(topic, kind, inbox)
    client.connect()
    return client, inbox


def error_code(reply: m.Reply) -> str:
    assert not reply.ok and reply.error is not None and reply.error.zh and reply.error.en, reply
    return reply.error.code


# ------------------------------------------------------------------------------ payload shape


def test_a_deeply_nested_command_is_refused_and_the_core_keeps_serving(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    runner = core_on(mosquitto)
    kiosk, replies = listen(dev, mosquitto, "kiosk1", TOPICS.reply("kiosk1"), m.Reply)
    depth = 20_000  # 40 kB: well under the broker's packet limit
    payloads = [
        b'{"v": 1, "id": "deep1", "cmd": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"v": 1, "id": "deep2", "cmd": {"op": "issue", "business": ' + b"[" * depth + b"]" * depth + b"}}",
        b'{"v": 1, "cmd": ' + b"[" * depth + b"]" * depth + b', "id": "deep3"}',
        b"[" * depth + b"]" * depth,
    ]
    for _ in range(3):  # re-sent, as an attacker would: no restart needed, nothing to defeat
        for payload in payloads:
            kiosk.publish_raw(TOPICS.cmd("kiosk1"), payload)
    assert replies.wait_count(3 * len(payloads))
    assert {error_code(r) for r in replies.values()} == {"bad_payload"}
    assert {"deep1", "deep2", "deep3"} <= {r.id for r in replies.values()}
    assert runner.failed is None
    assert kiosk.request(m.Issue(business="cash"), 10).ok


def test_a_65_kb_masked_name_is_refused_and_the_core_stays_connected(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    runner = core_on(mosquitto)
    _, presence = listen(dev, mosquitto, "manager1", TOPICS.presence("core"), m.Presence)
    kiosk, replies = listen(dev, mosquitto, "kiosk1", TOPICS.reply("kiosk1"), m.Reply)
    huge = m.Request(id="huge", cmd=m.Issue(business="cash", masked_name="张" + "x" * 65_000))
    kiosk.publish_raw(TOPICS.cmd("kiosk1"), m.encode(huge))
    assert replies.wait_count(1)
    reply: m.Reply = replies.values()[0]
    assert error_code(reply) == "bad_payload" and reply.error is not None and "masked_name" in reply.error.en
    assert kiosk.request(m.Issue(business="cash"), 10).number == "A001"  # nothing was issued for it
    assert runner.bus.online and all(p.online for p in presence.values())
    runner.stop()
    again = core_on(mosquitto)  # a clean restart: nothing oversized waits in the outbox
    assert kiosk.request(m.Issue(business="cash"), 10).number == "A002"
    assert again.failed is None and again.bus.online
    assert runner.bus.oversized == again.bus.oversized == 0  # nothing too big was ever attempted


# ------------------------------------------------------------------------------ days


def test_reset_day_needs_a_real_later_day_and_the_nightly_reset_still_runs(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus, clock: HandClock) -> None:
    core_on(mosquitto, clock=clock.branch())
    _, events = listen(dev, mosquitto, "display1", TOPICS.event("day_reset"), m.decode_event)
    kiosk, manager = dev(mosquitto, "kiosk1"), dev(mosquitto, "manager1")
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    for day in ("not-a-date", "2026-02-30", "2026-3-5", "9999-99-99", "2026-03-02", "2026-03-01"):
        assert error_code(manager.request(m.ResetDay(day=day), 10)) in ("bad_payload", "bad_day", "day_not_after")
    code = error_code(manager.request(m.ResetDay(day="2099-01-01"), 10))
    assert code == "bad_day"  # not yet that day: it would block every reset until 2099
    runner_state = manager.request(m.Issue(business="cash"), 10)
    assert runner_state.number == "A002"  # the waiting customer was not wiped
    clock.to(NEXT_NIGHT)
    # The first request after the reset time is served on the new day: numbers start again.
    assert kiosk.request(m.Issue(business="cash"), 10).number == "A001"
    # (the start-up reset to 2026-03-02 may come before the display subscribed)
    assert events.wait_for(lambda xs: [x.value.day for x in xs if x.value.day != "2026-03-02"] == ["2026-03-03"])


# ------------------------------------------------------------------------------ request ids


def test_request_ids_are_de_duplicated_per_device(mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    core_on(mosquitto)
    kiosk1, kiosk2 = dev(mosquitto, "kiosk1"), dev(mosquitto, "kiosk2")
    first = kiosk1.request(m.Issue(business="cash"), 10, request_id="shared-id")
    second = kiosk2.request(m.Issue(business="cash"), 10, request_id="shared-id")
    assert (first.number, second.number) == ("A001", "A002")  # B got its own answer, not A's
    assert kiosk1.request(m.Issue(business="cash"), 10, request_id="shared-id").number == "A001"


def test_a_kiosk_cannot_block_the_nightly_reset_with_the_cores_request_id(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus, clock: HandClock) -> None:
    runner = core_on(mosquitto, clock=clock.branch())
    _, events = listen(dev, mosquitto, "display1", TOPICS.event("day_reset"), m.decode_event)
    kiosk = dev(mosquitto, "kiosk1")
    for rid in ("core-reset-2026-03-03", "core-reset-2026-03-02", "core-tick-0"):
        kiosk.request(m.Cancel(number="A999"), 10, request_id=rid)
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    clock.to(NEXT_NIGHT)
    assert kiosk.request(m.Issue(business="cash"), 10).ok
    assert events.wait_for(lambda xs: [x.value.day for x in xs][-1:] == ["2026-03-03"])
    assert runner.store.core.day == "2026-03-03"


# ------------------------------------------------------------------------------ floods


def test_a_flooding_kiosk_gets_rate_limited_replies_and_others_are_served(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus, clock: HandClock) -> None:
    cfg = config("\n[limits]\ndevice_rate_per_s = 2.0\ndevice_burst = 5\n")
    core_on(mosquitto, cfg, clock=clock.branch())
    flood, replies = listen(dev, mosquitto, "kiosk1", TOPICS.reply("kiosk1"), m.Reply)
    _, issued = listen(dev, mosquitto, "display1", TOPICS.event("issued"), m.decode_event)
    n = 300
    for i in range(n):
        flood.publish_raw(TOPICS.cmd("kiosk1"), m.encode(m.Request(id=f"f{i}", cmd=m.Issue(business="cash"))))
    assert replies.wait_count(n, 20)  # every request gets a reply
    ok = [r for r in replies.values() if r.ok]
    limited = [r for r in replies.values() if not r.ok]
    assert len(ok) == 5 and {error_code(r) for r in limited} == {"rate_limited"}
    assert len({r.id for r in replies.values()}) == n
    other = dev(mosquitto, "kiosk2")
    assert other.request(m.Issue(business="cash"), 10).ok  # the limit is per device
    assert issued.wait_count(6)  # every committed issue's event arrives
    assert sorted(x.value.ticket.number for x in issued.items) == sorted([r.number for r in ok] + ["A006"])
    clock.to(T0 + 1.0)  # two more tokens a second later
    assert flood.request(m.Issue(business="cash"), 10).ok


def test_a_business_that_runs_out_of_numbers_refuses_clearly(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    cfg = loads(example_text().replace("number_width = 3", "number_width = 2")
                + "\n[limits]\ndevice_burst = 200\n")
    core_on(mosquitto, cfg)
    kiosk, replies = listen(dev, mosquitto, "kiosk1", TOPICS.reply("kiosk1"), m.Reply)
    for i in range(101):
        kiosk.publish_raw(TOPICS.cmd("kiosk1"), m.encode(m.Request(id=f"n{i}", cmd=m.Issue(business="cash"))))
    assert replies.wait_count(101)
    numbers = [r.number for r in replies.values() if r.ok]
    assert numbers == [f"A{i:02d}" for i in range(1, 100)]  # never past the configured width
    refused: list[m.Reply] = [r for r in replies.values() if not r.ok]
    assert [error_code(r) for r in refused] == ["numbers_exhausted"] * 2
    error = refused[0].error
    assert error is not None and "号" in error.zh and "number" in error.en.lower()
    assert kiosk.request(m.Issue(business="personal"), 10).number == "B01"  # other types still issue


# ------------------------------------------------------------------------------ roles


def test_a_kiosk_cannot_issue_a_staff_only_tier_without_a_real_grant(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    core_on(mosquitto)
    kiosk = dev(mosquitto, "kiosk1")
    for granted_by in ("", "nobody", "1001"):  # none, made up, a teller who may not grant
        reply = kiosk.request(m.Issue(business="cash", tier="priority", via="staff", granted_by=granted_by), 10)
        assert error_code(reply) == "staff_grant_required"
    granted = kiosk.request(m.Issue(business="cash", tier="priority", via="staff", granted_by="2001"), 10)
    assert granted.ok and granted.ticket is not None and granted.ticket.granted_by == "2001"
    # An elderly customer recognised from the ID card's birth date: what the kiosk itself allows.
    aged = kiosk.request(m.Issue(business="cash", tier="priority", via="id_card", customer="ab" * 32), 10)
    assert aged.ok


def test_free_text_holding_a_card_or_id_number_is_refused_by_the_core_before_the_journal(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus, tmp_path: Path) -> None:
    """The web refuses such a reason or notice on its form; any other sender (a script with a
    staff credential, a kiosk) is refused by the core, so the number never reaches the journal,
    the bus's events or the hall screen."""
    card, id_no = "6222021234567890123", "44030419800515203X"
    runner = core_on(mosquitto)
    kiosk, manager = dev(mosquitto, "kiosk1"), dev(mosquitto, "manager1")
    refused = [
        kiosk.request(m.Issue(business="cash", tier="priority", via="staff", granted_by="2001",
                              reason=f"客户 {id_no[:6]} {id_no[6:14]} {id_no[14:]}"), 10),  # spaced as typed
        manager.request(m.SetNotice(zh=f"请持卡 {card[:4]}-{card[4:8]}-{card[8:12]}-{card[12:]} 的客户", by="2001"), 10),
        kiosk.request(m.KioskNote(kind="unknown_card", detail=card), 10),
    ]
    assert [error_code(r) for r in refused] == ["raw_number"] * 3
    assert all(card not in r.error.en and id_no[:14] not in r.error.en for r in refused if r.error)
    # What staff really write passes: a reason, a notice with a phone number and a time.
    assert kiosk.request(m.Issue(business="cash", tier="priority", via="staff", granted_by="2001",
                                 reason="孕妇 pregnant"), 10).ok
    assert manager.request(m.SetNotice(zh="今日 17:00 停止外汇业务，咨询 0755-83661234", by="2001"), 10).ok
    runner.stop()
    assert scan_paths([tmp_path / "journal.db", tmp_path / "journal.db-wal"], [card, id_no]) == []


def test_a_kiosk_may_only_withdraw_its_own_fresh_tickets(
        mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus, clock: HandClock) -> None:
    core_on(mosquitto, clock=clock.branch())
    kiosk1, kiosk2, manager = dev(mosquitto, "kiosk1"), dev(mosquitto, "kiosk2"), dev(mosquitto, "manager1")
    a1 = kiosk1.request(m.Issue(business="cash", kiosk="kiosk2"), 10).number  # lies about who issued
    a2 = kiosk2.request(m.Issue(business="cash"), 10).number
    a3 = kiosk1.request(m.Issue(business="cash"), 10).number
    assert error_code(kiosk2.request(m.Cancel(number=a1), 10)) == "forbidden"  # not its ticket
    assert error_code(kiosk1.request(m.Cancel(number=a2), 10)) == "forbidden"
    assert kiosk1.request(m.Cancel(number=a1), 10).ok  # its own, moments ago: the printer failed
    clock.to(T0 + 600)
    assert error_code(kiosk1.request(m.Cancel(number=a3), 10)) == "forbidden"  # a customer now waits
    assert manager.request(m.Cancel(number=a3), 10).ok  # staff may


def test_ratings_come_only_from_the_customers_pad(mosquitto: MosquittoBroker, core_on: CoreOn, dev: MakeBus) -> None:
    core_on(mosquitto)
    _, rated = listen(dev, mosquitto, "display1", TOPICS.event("rated"), m.decode_event)
    kiosk, counter = dev(mosquitto, "kiosk1"), dev(mosquitto, "counter3")
    bridge = dev(mosquitto, "bridge1", act_as=("counter3", "pad3", "pad4"))
    kiosk.request(m.Issue(business="personal"), 10)
    assert counter.request(m.Login(counter=3, teller="1003", pin="1003"), 10).ok
    for cmd in (m.CallNext(counter=3), m.StartService(counter=3), m.FinishService(counter=3)):
        assert counter.request(cmd, 10).ok
    assert error_code(counter.request(m.Rate(counter=3, stars=5), 10)) == "forbidden"  # the teller
    assert error_code(bridge.request(m.Rate(counter=3, stars=5), 10, device="counter3")) == "forbidden"
    assert error_code(bridge.request(m.Rate(counter=3, stars=5), 10, device="pad4")) == "forbidden"
    assert bridge.request(m.Rate(counter=3, stars=4, source="forged"), 10, device="pad3").ok
    assert rated.wait_count(1)
    ev = rated.values()[0]
    assert (ev.number, ev.stars, ev.teller, ev.source) == ("B001", 4, "1003", "pad3")


def test_an_outgoing_message_over_the_broker_limit_is_never_sent(tmp_path: Path, make_bus: MakeBus) -> None:
    """A client never hands the broker a packet it would refuse (the broker would drop the link)."""
    from qbus.broker import MosquittoConf, free_port

    conf = MosquittoConf(port=free_port(), persistence_dir="", max_packet_size=2048)
    with MosquittoBroker(tmp_path / "small", conf=conf) as broker:
        sender = make_bus(broker, "manager1", topics=TOPICS, max_packet_size=2048)
        display, heard = listen(with_topics(make_bus, TOPICS), broker, "display1",
                                TOPICS.notice(), m.Notice)
        assert not sender.publish(TOPICS.notice(), m.Notice(zh="x" * 4000))
        assert sender.publish(TOPICS.notice(), m.Notice(zh="still connected"))
        assert heard.wait_for(lambda xs: any(x.value.zh == "still connected" for x in xs))
        assert sender.online and [x.value.zh for x in heard.items] == ["still connected"]
        sender.close()  # before the broker goes: no goodbye left waiting for it
        display.close()
