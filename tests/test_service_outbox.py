"""The core service's outbox: events of committed commands that the broker never acknowledged are
published again after a restart, and only those (the `published_seq` mark in the journal).

The publisher here stands in for paho at the one boundary this test is about: whether the broker
acknowledged (PUBACK) a message. The journal is a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qbus import messages as m
from qbus.config import load
from qbus.topics import Topics
from qserver.clock import BranchClock
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
T0 = 1_772_416_800.0  # 2026-03-02 10:00 in Shanghai: the branch is open


class Broker:
    """Records publishes; acknowledges them only while `acking` (a broker that went away does not)."""

    def __init__(self, acking: bool) -> None:
        self.acking = acking
        self.sent: list[tuple[str, bytes]] = []

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
                    on_sent: Callable[[], None] | None = None) -> bool:
        self.sent.append((topic, payload))
        if self.acking and on_sent is not None:
            on_sent()
        return True

    def events(self, kind: str) -> list[m.AnyEvent]:
        return [m.decode_event(p) for t, p in self.sent if t == TOPICS.event(kind)]

    def issued(self) -> list[str]:
        """The ticket numbers of the issued events sent (each event on that topic is a TicketIssued)."""
        numbers = []
        for ev in self.events("issued"):
            assert isinstance(ev, m.TicketIssued), ev
            numbers.append(ev.ticket.number)
        return numbers


def service(path: Path, broker: Broker) -> CoreService:
    clock = BranchClock(wall=lambda: T0, mono=lambda: 0.0)
    return CoreService(CFG, DurableCore(CFG, path, CFG.storage.snapshot_every, outbox=True), broker, TOPICS, clock)


def issue(svc: CoreService, rid: str) -> None:
    svc.on_message(TOPICS.cmd("kiosk1"), m.encode(m.Request(id=rid, cmd=m.Issue(business="cash"))))
    svc.turn()


def test_unacknowledged_events_are_published_again_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    gone = Broker(acking=False)
    svc = service(path, gone)
    issue(svc, "r1")
    assert gone.issued() == ["A001"]
    svc.store.close()  # killed: the broker never confirmed A001's event

    back = Broker(acking=True)
    svc = service(path, back)
    svc.publish_all_state()
    assert back.issued() == ["A001"]
    issue(svc, "r2")
    svc.turn()  # idle turn: the published mark is written
    svc.store.close()

    again = Broker(acking=True)
    svc = service(path, again)
    svc.publish_all_state()
    assert again.events("issued") == []  # both confirmed: nothing published twice
    svc.store.close()


def test_the_published_mark_rides_in_the_next_group_commit(tmp_path: Path) -> None:
    """The mark costs no fsync of its own while commands flow; a crash between commits only
    republishes (at least once), never loses an event."""
    path = tmp_path / "journal.db"
    svc = service(path, Broker(acking=True))
    issue(svc, "r1")
    assert svc.store.journal.meta("published_seq") in ("", "0")  # staged, not yet written
    issue(svc, "r2")
    assert int(svc.store.journal.meta("published_seq")) >= 1  # written with r2's rows
    svc.store.close()
