"""The manager's tools: the day's report from a journal, the hall notice, the live watch."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import msgspec
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qbus.errors import PayloadError
from qbus.topics import Topics
from qcall.cli import main
from qcall.manager import Watch, report, set_notice
from qserver.clock import BranchClock
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from qserver.store import DurableCore
from tests.bus_helpers import Inbox, Printed, start_child
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
T0 = 1_772_416_800.0  # 2026-03-02 10:00 Shanghai


def _day(path: Path) -> None:
    s = DurableCore(CFG, path, pins=PinBook.example_for(CFG, CHEAP_COST))
    steps: list[tuple[str, m.Command]] = [
        ("counter1", m.Login(counter=1, teller="1001", pin="1001")),
        ("kiosk1", m.Issue(business="cash")),
        ("kiosk1", m.Issue(business="cash", tier="priority", granted_by="2001")),
        ("counter1", m.CallNext(counter=1)),
        ("counter1", m.StartService(counter=1)),
        ("counter1", m.FinishService(counter=1)),
        ("pad1", m.Rate(counter=1, stars=4)),  # the customer's rating pad
    ]
    for i, (device, cmd) in enumerate(steps):
        assert s.submit(f"r{i}", device, cmd, T0 + 60 * i).ok
    s.commit()
    s.close()


def test_report_rebuilds_the_day_from_the_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.db"
    _day(path)
    k = report(CFG, path)
    assert (k["issued"], k["served"], k["still_waiting"]) == (2, 1, 1)
    assert k["by_teller"]["1001"]["stars_mean"] == 4.0
    assert k["priority_grants_by_staff"] == {"2001": 1}
    assert k["arrivals_by_hour"] == {"10": 2}
    assert main(["report", "--config", str(EXAMPLE), "--journal", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["served"] == 1  # --json: the figures for scripts


def test_report_is_a_table_a_manager_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.db"
    _day(path)
    assert main(["report", "--config", str(EXAMPLE), "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "示范银行深圳福田支行 日报 daily report"
    assert "取号 issued 2" in out and "办结 served 1" in out and "仍在等候 still waiting 1" in out
    # names, not codes; minutes, not seconds (the priority customer, called first, waited 60 s)
    row = next(x for x in lines if x.startswith("个人现金业务 Cash deposit & withdrawal"))
    assert row.split()[-4:] == ["1", "1.0", "1.0", "1.0"]
    assert any(x.startswith("1001 王芳") and x.split()[-2:] == ["4.0", "100.0%"] for x in lines)
    assert any(x.startswith("2001 赵敏") for x in lines)  # who granted the priority ticket, by name
    # staff see the internal category of the priority tier
    assert any(x.startswith("优先（老弱病残孕） Priority (elderly, disabled, pregnant)") for x in lines)
    head = next(x for x in lines if "建议开窗数 counters to open" in x)
    advice = lines[lines.index(head) + 2]
    assert advice.split()[:2] == ["10:00–11:00", "2"] and advice.split()[-1].isdigit()
    assert any(x.startswith("Counters to open: enough for 80% of customers") for x in lines)
    # columns line up (Chinese counts two columns): every row of a table is as wide as its rule
    rule = lines[lines.index(head) + 1]
    assert len(advice) <= len(rule)


def test_report_without_a_journal_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", str(EXAMPLE), "--journal", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert "no journal here" in err and "Traceback" not in err
    assert not (tmp_path / "none.db").exists()  # looking does not create an empty journal


def test_the_notice_reaches_the_display_and_can_be_cleared(mosquitto: MosquittoBroker,
                                                           make_bus: MakeBus) -> None:
    manager = make_bus(mosquitto, "manager1", topics=TOPICS)
    set_notice(manager, "今日外汇业务暂停", "No foreign exchange today")
    screen = make_bus(mosquitto, "display1", topics=TOPICS, connect=False)
    notices = Inbox()
    screen.subscribe(TOPICS.notice(), m.Notice, notices)
    screen.connect(10)
    assert notices.wait_count(1)
    assert notices.items[0].retained and notices.items[0].value.zh == "今日外汇业务暂停"
    with pytest.raises(PayloadError, match="at most 300"):  # the display would refuse it whole
        set_notice(manager, "长" * 301, "")
    set_notice(manager, "", "")
    assert notices.wait_count(2)
    assert notices.items[1].value == m.Notice(zh="", en="")


def test_watch_shows_a_dead_device_and_a_customer_waiting_too_long(
        mosquitto: MosquittoBroker, make_bus: MakeBus, tmp_path: Path) -> None:
    mono = [0.0]
    clock = BranchClock(wall=lambda: T0, mono=lambda: mono[0])
    out = Printed()
    wait_line = out.wait_line
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port, clock=clock,
                    pins=PinBook.example_for(CFG, CHEAP_COST)):
        manager = make_bus(mosquitto, "manager1", topics=TOPICS, connect=False)
        Watch(manager, out, clock=lambda: T0)
        manager.connect(10)
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        assert kiosk.request(m.Issue(business="wealth", tier="private"), 10).ok
        child = start_child(mosquitto.host, mosquitto.port, TOPICS.prefix, TOPICS.branch, "bridge1")
        try:
            assert wait_line("在线 online: bridge1")
            pads = m.Presence(device="pad3", online=True, kind="pads", detail="counter 3: pads online",
                              via="bridge1")  # what the bridge reports for counter 3's pads
            kiosk.publish(TOPICS.presence("pad3"), pads, retain=True)
            assert wait_line("在线 online: pad3")
            child.kill()
            child.wait(5)
            assert wait_line("离线 offline: bridge1 (lost)")
            assert wait_line("状态未知 unknown: pad3 (reported by bridge1, now offline)")
        finally:
            child.kill()
            child.wait(5)
        mono[0] = 11 * 60.0  # eleven minutes pass; the private-banking target is shorter
        assert kiosk.request(m.Issue(business="cash"), 10).ok  # wakes the service
        assert wait_line("贵宾超时 VIP over target: D001")
        assert wait_line("等待超时 waiting too long: D001")


def test_lobby_requeues_a_missed_customer_and_cancels_a_ticket(
        mosquitto: MosquittoBroker, make_bus: MakeBus, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--config", str(EXAMPLE), "--host", mosquitto.host, "--port", str(mosquitto.port)]
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port, pins=PinBook.example_for(CFG, CHEAP_COST)):
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        counter = make_bus(mosquitto, "counter1", topics=TOPICS)
        for _ in range(3):
            assert kiosk.request(m.Issue(business="cash"), 10).ok
        assert counter.request(m.Login(counter=1, teller="1001", pin="1001"), 10).ok
        assert counter.request(m.CallNext(counter=1), 10).number == "A001"
        assert counter.request(m.Skip(counter=1), 10).ok  # A001 did not come
        assert main(["requeue", "a001", *where]) == 0
        assert "A001: back in the queue" in capsys.readouterr().out
        assert main(["cancel", "A003", *where]) == 0
        assert "A003: cancelled" in capsys.readouterr().out
        assert main(["requeue", "A002", *where]) == 2  # waiting, not missed: the core says why
        err = capsys.readouterr().err
        assert err.startswith("qcall: A002: ") and "Traceback" not in err
        assert counter.request(m.CallNext(counter=1), 10).number == "A002"
        assert counter.request(m.Skip(counter=1), 10).ok
        assert counter.request(m.CallNext(counter=1), 10).number == "A001"  # A003 was cancelled
        assert main(["ack", "a002", "--by", "2001", *where]) == 0  # the lobby manager has seen A002
        assert "A002: alerts acknowledged by 2001" in capsys.readouterr().out
        assert main(["ack", "A002", "--by", "nobody", *where]) == 2
        assert "nobody" in capsys.readouterr().err


def test_watch_speaks_branch_time_labels_old_figures_and_says_the_broker_went_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The watch's lines as a manager reads them: branch-time stamps, old retained KPIs labelled
    "as of", and the broker going away and coming back said once each."""
    from zoneinfo import ZoneInfo

    from qbus.client import BusClient

    lines: list[str] = []
    seen = threading.Condition()

    def out(line: str) -> None:
        with seen:
            lines.append(line)
            seen.notify_all()

    def wait_line(text: str, timeout: float = 20) -> bool:
        with seen:
            return seen.wait_for(lambda: any(text in x for x in lines), timeout)

    now = [T0]
    broker = MosquittoBroker(tmp_path / "mqtt").start()
    port = broker.port
    stats = m.StatsState(day="2026-03-02", at=T0 - 3600, issued=7, served=5, no_shows=0, cancelled=0,
                         still_waiting=2, wait_s=m.WaitSummary(n=5, mean=200.0, p90=300.0, max=320.0),
                         satisfaction_rate=0.8, unrated_rate=0.2)
    pub = BusClient(host=broker.host, port=port, topics=TOPICS, device="core")
    pub.connect(10)
    sent = threading.Event()
    pub.publish_raw(TOPICS.state_stats(), m.encode(stats), retain=True, on_sent=sent.set)
    assert sent.wait(5)
    pub.close()
    manager = BusClient(host=broker.host, port=port, topics=TOPICS, device="manager1", reconnect_max_s=1)
    Watch(manager, out, clock=lambda: now[0], tz=ZoneInfo("Asia/Shanghai"))
    try:
        manager.connect(10)
        assert wait_line("已取号 issued 7")
        first = next(x for x in lines if "issued 7" in x)
        assert first.startswith("10:00:00  = (截至 as of 03-02 09:00)")  # Shanghai time, and how old
        fresh = msgspec.structs.replace(stats, at=T0)  # the core publishes again: same figures, now current
        pub = BusClient(host=broker.host, port=port, topics=TOPICS, device="core")
        pub.connect(10)
        pub.publish_raw(TOPICS.state_stats(), m.encode(fresh), retain=True)
        assert wait_line("10:00:00  = 已取号 issued 7")
        pub.close()
        broker.stop()
        assert wait_line("broker away")
        with seen:  # reconnect attempts fail for a while: nothing more is said
            seen.wait_for(lambda: False, 1.0)
        assert sum("broker away" in x for x in lines) == 1
        broker = MosquittoBroker(tmp_path / "mqtt", port=port).start()
        assert wait_line("broker back")
        assert sum("broker back" in x for x in lines) == 1
    finally:
        manager.close()
        broker.stop()


def test_watch_shows_a_pin_lockout_naming_teller_and_counter(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                           tmp_path: Path) -> None:
    out = Printed()
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port,
                    pins=PinBook.from_pins({"1004": "480261"}, CHEAP_COST)):
        manager = make_bus(mosquitto, "manager1", topics=TOPICS, connect=False)
        Watch(manager, out, clock=lambda: T0)
        manager.connect(10)
        counter = make_bus(mosquitto, "counter4", topics=TOPICS)
        for n in range(CFG.pins.max_failures):
            assert not counter.request(m.Login(counter=4, teller="1004", pin=f"{n:04d}"), 10).ok
        assert out.wait_line("PIN lockout")
        said = next(x for x in out.lines if "PIN lockout" in x)
        assert "teller 1004" in said and "counter 4" in said and "qcall pin unlock" in said
