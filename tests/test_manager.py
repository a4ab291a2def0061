"""The manager's tools: the day's report from a journal, the hall notice, the live watch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qbus.topics import Topics
from qcall.cli import main
from qcall.manager import Watch, report, set_notice
from qserver.clock import BranchClock
from qserver.runner import CoreRunner
from qserver.store import DurableCore
from tests.bus_helpers import Inbox, Printed, start_child
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
T0 = 1_772_416_800.0  # 2026-03-02 10:00 Shanghai


def _day(path: Path) -> None:
    s = DurableCore(CFG, path)
    steps: list[tuple[str, m.Command]] = [
        ("counter1", m.Login(counter=1, teller="1001", pin="1001")),
        ("kiosk1", m.Issue(business="cash")),
        ("kiosk1", m.Issue(business="cash", tier="priority", granted_by="2001")),
        ("counter1", m.CallNext(counter=1)),
        ("counter1", m.StartService(counter=1)),
        ("counter1", m.FinishService(counter=1)),
        ("counter1", m.Rate(counter=1, stars=4)),
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
    assert main(["report", "--config", str(EXAMPLE), "--journal", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["served"] == 1


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
    set_notice(manager, "", "")
    assert notices.wait_count(2)
    assert notices.items[1].value == m.Notice(zh="", en="")


def test_watch_shows_a_dead_device_and_a_customer_waiting_too_long(
        mosquitto: MosquittoBroker, make_bus: MakeBus, tmp_path: Path) -> None:
    mono = [0.0]
    clock = BranchClock(wall=lambda: T0, mono=lambda: mono[0])
    out = Printed()
    wait_line = out.wait_line
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port, clock=clock):
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
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port):
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
