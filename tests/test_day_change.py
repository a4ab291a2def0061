"""The day change: the new business day's reset comes before any request handled after the day
changed, so nothing acknowledged is undone by it (issue 16: an issue at 04:53 after a 03:00 reset
was answered with yesterday's ticket, then erased by the reset in the same commit).

The publisher records what the service sends (the broker is not what this is about); the journal
is a real SQLite file and the clock is injected."""

from __future__ import annotations

from pathlib import Path

import msgspec

from qbus import messages as m
from qbus.config import load
from qbus.topics import Topics
from qserver.clock import BranchClock
from qserver.journal import Journal
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.bus_helpers import RecordingBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
NOV30_0900 = 1_796_000_400.0  # 2026-11-30 09:00 in Shanghai
DEC01_0453 = 1_796_071_980.0  # 2026-12-01 04:53: after the 03:00 reset


class Recorder(RecordingBus):
    def replies(self, device: str) -> list[m.Reply]:
        return [msgspec.json.decode(p, type=m.Reply) for p in self.on(TOPICS.reply(device))]
class Time:
    def __init__(self, wall: float) -> None:
        self.w, self.m = wall, 0.0

    def advance(self, s: float) -> None:
        self.w += s
        self.m += s


def test_first_request_after_the_day_changed_is_served_on_the_new_day(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    t = Time(NOV30_0900)
    clock = BranchClock(wall=lambda: t.w, mono=lambda: t.m, synced=lambda: True)
    bus = Recorder()
    svc = CoreService(CFG, DurableCore(CFG, path, outbox=True), bus, TOPICS, clock)
    svc.turn()  # the service opens 2026-11-30
    assert svc.store.core.day == "2026-11-30"
    svc.on_message(TOPICS.cmd("kiosk1"), m.encode(m.Request(id="y1", cmd=m.Issue(business="cash"))))
    svc.turn()
    t.advance(DEC01_0453 - NOV30_0900)  # the night passes with no traffic until a kiosk's issue
    svc.on_message(TOPICS.cmd("kiosk1"), m.encode(m.Request(id="r1", cmd=m.Issue(business="cash"))))
    svc.turn()
    reply = bus.replies("kiosk1")[-1]
    assert reply.ok and reply.ticket is not None
    assert reply.ticket.id == "20261201-A001"  # today's first number, not yesterday's A002
    core = svc.store.core
    assert core.day == "2026-12-01"
    assert [x.number for x in core.waiting_list()] == ["A001"]  # what was acknowledged still stands
    svc.store.close()

    j = Journal(path)
    ops = [msgspec.json.decode(r.cmd)["op"] for r in j.rows()]
    j.close()
    assert ops == ["reset_day", "issue", "reset_day", "issue"]
    again = DurableCore(CFG, path)  # a restart sees the same: the ticket was not undone
    assert [x.number for x in again.core.waiting_list()] == ["A001"] and again.core.day == "2026-12-01"
    again.close()
