"""The Pi's clock (issue 16): a branch does not open the day on a clock it has not confirmed, and
every clock step is safe for the people being served. Real SQLite journal, injected wall and
monotonic clocks, an injected "is the system clock synchronised?" answer; the publisher records
what the service sends."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest

from display.hall import CLOCK_NOTICE, HallState
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qbus.topics import Topics
from qserver.clock import BranchClock
from qserver.journal import Journal
from qserver.pins import CHEAP_COST, PinBook
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.bus_helpers import RecordingBus
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
NOV30_0900 = 1_796_000_400.0  # 2026-11-30 09:00 in Shanghai
NOV30_1730 = NOV30_0900 + 8.5 * 3600
H = 3600.0
_IDS = itertools.count()  # request ids unique across restarts, as devices' random ids are


class Recorder(RecordingBus):
    def last(self, topic: str, kind: type) -> object:
        return msgspec.json.decode(self.on(topic)[-1], type=kind)

    def events(self, kind: str) -> list[m.AnyEvent]:
        return [m.decode_event(p) for p in self.on(TOPICS.event(kind))]
class Pi:
    """A machine's clocks: the wall clock (which NTP or a person may step) and the monotonic one."""

    def __init__(self, wall: float, synced: bool = True) -> None:
        self.w, self.m, self.synced = wall, 0.0, synced

    def advance(self, s: float) -> None:
        self.w += s
        self.m += s

    def clock(self, floor: float) -> BranchClock:
        return BranchClock(floor=floor, wall=lambda: self.w, mono=lambda: self.m,
                           synced=lambda: self.synced)


class Branch:
    def __init__(self, path: Path, pi: Pi) -> None:
        self.bus = Recorder()
        store = DurableCore(CFG, path, outbox=True, pins=PinBook.example_for(CFG, CHEAP_COST))
        self.svc = CoreService(CFG, store, self.bus, TOPICS, pi.clock(store.core.clock))

    def send(self, device: str, cmd: m.Command) -> m.Reply:
        rid = f"{device}-{next(_IDS)}"
        self.svc.on_message(TOPICS.cmd(device), m.encode(m.Request(id=rid, cmd=cmd)))
        self.svc.turn()
        reply = self.bus.last(TOPICS.reply(device), m.Reply)
        assert isinstance(reply, m.Reply) and reply.id == rid
        return reply

    def hall(self) -> m.HallView:
        view = self.bus.last(TOPICS.state_hall(), m.HallView)
        assert isinstance(view, m.HallView)
        return view

    def close(self) -> None:
        self.svc.store.close()


def login(b: Branch, counter: int) -> None:
    teller = CFG.teller[counter - 1].id
    assert b.send(f"counter{counter}", m.Login(counter=counter, teller=teller, pin=teller)).ok


def test_a_pi_booting_on_yesterdays_time_opens_nothing_until_the_clock_is_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    day1 = Branch(path, Pi(NOV30_0900))
    login(day1, 1)
    assert day1.send("kiosk1", m.Issue(business="cash")).ok  # left waiting at closing time
    day1.close()

    # Boot the next morning (08:30 on Dec 1): fake-hwclock restored last evening's 17:30, no NTP yet.
    pi = Pi(NOV30_1730, synced=False)
    b = Branch(path, pi)
    b.svc.publish_all_state()
    assert b.hall().clock_unconfirmed
    refused = b.send("kiosk1", m.Issue(business="cash"))
    assert not refused.ok and refused.error is not None and refused.error.code == "clock_unconfirmed"
    assert "时间" in refused.error.zh
    assert b.svc.store.core.day == "2026-11-30"  # no day opened on that clock
    screen = HallState.from_config(CFG)
    screen.apply(b.hall(), NOV30_1730)
    assert screen.notice == CLOCK_NOTICE  # the hall says 系统时间未确认

    pi.w += 15 * H  # NTP: +15 h, to Dec 1 08:30; the kernel now says synchronised
    pi.synced = True
    reply = b.send("kiosk1", m.Issue(business="cash"))
    assert reply.ok and reply.ticket is not None and reply.ticket.id == "20261201-A001"
    assert not b.hall().clock_unconfirmed
    screen.apply(b.hall(), pi.w)
    assert screen.notice != CLOCK_NOTICE
    assert b.svc.clock.now() == pi.w
    assert [t.number for t in b.svc.store.core.waiting_list()] == ["A001"]
    b.close()


def test_a_manager_can_confirm_the_clock_where_there_is_no_time_sync(tmp_path: Path) -> None:
    pi = Pi(NOV30_1730, synced=False)
    b = Branch(tmp_path / "journal.db", pi)
    kiosk_try = b.send("kiosk1", m.ConfirmClock(now=NOV30_0900 + 24 * H))
    assert not kiosk_try.ok and kiosk_try.error is not None and kiosk_try.error.code == "forbidden"
    # The manager's phone says Dec 1 09:00 (this Pi thinks it is Nov 30 17:30).
    assert b.send("manager1", m.ConfirmClock(now=NOV30_0900 + 24 * H)).ok
    reply = b.send("kiosk1", m.Issue(business="cash"))
    assert reply.ok and reply.ticket is not None and reply.ticket.id == "20261201-A001"
    assert abs(b.svc.clock.now() - (NOV30_0900 + 24 * H)) < 1
    b.close()


def test_a_three_hour_correction_during_service_waits_until_nobody_is_served(tmp_path: Path) -> None:
    pi = Pi(NOV30_0900)
    b = Branch(tmp_path / "journal.db", pi)
    login(b, 1)
    assert b.send("kiosk1", m.Issue(business="cash")).ok
    assert b.send("kiosk1", m.Issue(business="cash")).ok
    assert b.send("counter1", m.CallNext(counter=1)).ok
    assert b.send("counter1", m.StartService(counter=1)).ok
    est_before = b.svc.store.core.queue_state().est_wait_s["cash"]
    pi.advance(60)
    pi.w += 3 * H  # NTP steps the wall clock forward 3 h while A001 is at the counter
    b.svc.turn()
    assert b.svc.store.core.queue_state().est_wait_s["cash"] == est_before
    assert b.send("counter1", m.FinishService(counter=1, request_rating=False)).ok
    finished = b.bus.events("finished")[-1]
    assert isinstance(finished, m.ServiceFinished) and finished.service_s == 60.0  # not 10,860 s
    pi.advance(30)
    assert b.send("counter1", m.CallNext(counter=1)).ok  # A002 waited 90 s, not 3 h
    called = b.bus.events("called")[-1]
    assert isinstance(called, m.TicketCalled) and called.waited_s == 90.0
    assert b.svc.clock.now() < pi.w - 2 * H  # still on the old time: A002 is at the counter
    assert b.send("counter1", m.StartService(counter=1)).ok
    assert b.send("counter1", m.FinishService(counter=1, request_rating=False)).ok
    b.svc.turn()  # nobody waiting or served: now the step is taken
    assert b.svc.clock.now() == pi.w
    core = b.svc.store.core
    assert core.clock == pi.w
    assert core.counters[1].open_s < 10 * 60  # open time does not count the 3 h step
    b.close()


def test_branch_time_follows_the_wall_clock_back_after_a_wrong_step_restarts_included(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    pi = Pi(NOV30_0900)
    b = Branch(path, pi)
    login(b, 1)
    pi.advance(10)
    pi.w += 3 * H  # a wrong NTP server (or a person) puts the clock 3 h ahead
    b.svc.turn()
    assert b.svc.clock.now() == pi.w  # adopted: nobody was waiting
    assert b.send("kiosk1", m.Issue(business="cash")).ok
    assert b.send("counter1", m.CallNext(counter=1)).ok
    b.close()  # stopped (an update, a power cut) while 3 h ahead, with A001 called

    pi.advance(20)
    pi.w -= 3 * H  # the clock is put right while the core is down
    b = Branch(path, pi)
    assert b.svc.clock.now() > pi.w + 2 * H  # restarted from the journal's (wrong) last time
    assert b.send("counter1", m.StartService(counter=1)).ok
    pi.advance(40)
    assert b.send("counter1", m.FinishService(counter=1, request_rating=False)).ok
    finished = b.bus.events("finished")[-1]
    assert isinstance(finished, m.ServiceFinished) and finished.service_s == 40.0
    b.svc.turn()  # at rest: branch time goes back to the (right) wall clock
    assert b.svc.clock.now() == pi.w and b.svc.store.core.clock == pi.w
    pi.advance(5)
    reply = b.send("kiosk1", m.Issue(business="cash"))
    assert reply.ok and reply.ticket is not None and abs(reply.ticket.issued_at - pi.w) < 1e-6
    b.close()

    again = DurableCore(CFG, path)  # the step back is journaled: a replay lands on the same time
    assert abs(again.core.clock - pi.w) < 1e-6
    again.close()
    j = Journal(path)
    assert sum(msgspec.json.decode(r.cmd)["op"] == "clock_step" for r in j.rows()) == 2
    j.close()


def test_qcall_confirm_clock_opens_a_branch_waiting_for_its_clock(tmp_path: Path, mosquitto: MosquittoBroker,
                                                                  make_bus: MakeBus, capsys: pytest.CaptureFixture[str]) -> None:
    from qcall.cli import main
    from qserver.runner import CoreRunner

    clock = BranchClock(synced=lambda: False)  # no NTP on this Pi
    with CoreRunner(CFG, tmp_path / "journal.db", mosquitto.host, mosquitto.port, clock=clock):
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        refused = kiosk.request(m.Issue(business="cash"), 10)
        assert not refused.ok and refused.error is not None and refused.error.code == "clock_unconfirmed"
        assert main(["confirm-clock", "--config", str(EXAMPLE), "--host", mosquitto.host,
                     "--port", str(mosquitto.port)]) == 0
        assert "branch clock confirmed" in capsys.readouterr().out
        assert kiosk.request(m.Issue(business="cash"), 10).ok


def test_a_managers_correction_gives_way_to_time_sync_when_it_arrives(tmp_path: Path) -> None:
    pi = Pi(NOV30_1730, synced=False)
    b = Branch(tmp_path / "journal.db", pi)
    assert b.send("manager1", m.ConfirmClock(now=NOV30_0900 + 24 * H)).ok  # the phone: Dec 1 09:00
    assert abs(b.svc.clock.now() - (NOV30_0900 + 24 * H)) < 1
    pi.w = NOV30_0900 + 24 * H  # NTP steps the wall clock to the truth, agreeing with the manager
    pi.synced = True
    pi.advance(60)
    b.svc.turn()
    assert abs(b.svc.clock.drift()) < 1  # the wall clock is the truth again: no double correction
    b.close()
