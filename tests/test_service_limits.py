"""The core service's own bounds, at the boundary this test is about (what the broker acknowledged):
a full inbox is answered at once, an unacknowledged outbox holds the service back without dropping
anything, and a message the broker would refuse is never handed to it, even one re-derived from a
journal written before the schema had bounds. The journal is a real SQLite file; the publisher
stands in for paho, as in tests/test_service_outbox.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from qbus import messages as m
from qbus.client import packet_size
from qbus.config import BranchConfig, loads
from qbus.topics import Topics
from qserver.clock import BranchClock
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.test_config import example_text

T0 = 1_772_416_800.0  # 2026-03-02 10:00 in Shanghai


def config(limits: str) -> BranchConfig:
    return loads(example_text() + "\n[limits]\n" + limits)


class Broker:
    """Records publishes; holds back acknowledgements while `acking` is off (a slow broker)."""

    def __init__(self, acking: bool = True) -> None:
        self.acking = acking
        self.sent: list[tuple[str, bytes, int]] = []
        self.waiting: list[Callable[[], None]] = []
        self.cond = threading.Condition()

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
                    on_sent: Callable[[], None] | None = None) -> bool:
        with self.cond:
            self.sent.append((topic, payload, qos))
            if on_sent is not None:
                if self.acking:
                    on_sent()
                else:
                    self.waiting.append(on_sent)
            self.cond.notify_all()
        return True

    def ack_all(self) -> None:
        with self.cond:
            self.acking = True
            waiting, self.waiting = self.waiting, []
        for ack in waiting:
            ack()

    def replies(self, topics: Topics, device: str) -> list[m.Reply]:
        with self.cond:
            return [msgspec.json.decode(p, type=m.Reply) for t, p, _ in self.sent if t == topics.reply(device)]


def service(cfg: BranchConfig, path: Path, broker: Broker) -> CoreService:
    clock = BranchClock(wall=lambda: T0, mono=lambda: 0.0, synced=lambda: True)
    store = DurableCore(cfg, path, cfg.storage.snapshot_every, outbox=True)
    return CoreService(cfg, store, broker, Topics(cfg.bus.prefix, cfg.branch.id), clock)


def issue(svc: CoreService, rid: str, device: str = "kiosk1") -> None:
    svc.on_message(svc.topics.cmd(device), m.encode(m.Request(id=rid, cmd=m.Issue(business="cash"))))


def test_a_full_inbox_answers_rate_limited_at_once(tmp_path: Path) -> None:
    cfg = config("inbox_max = 100\ndevice_burst = 1000\n")
    broker = Broker()
    svc = service(cfg, tmp_path / "j.db", broker)
    for i in range(150):
        issue(svc, f"r{i}")
    early = broker.replies(svc.topics, "kiosk1")
    assert len(early) == 50 and {r.error.code for r in early if r.error} == {"rate_limited"}
    assert svc.inbox.qsize() == 100  # bounded: the rest waits for the core
    svc.turn()
    replies = broker.replies(svc.topics, "kiosk1")
    assert len(replies) == 150 and len({r.id for r in replies}) == 150  # one reply each
    assert sum(r.ok for r in replies) == 100
    svc.store.close()


def test_a_slow_broker_holds_the_service_back_and_nothing_is_dropped(tmp_path: Path) -> None:
    cfg = config("outbox_max = 100\ndevice_burst = 1000\n")
    broker = Broker(acking=False)
    svc = service(cfg, tmp_path / "j.db", broker)
    for i in range(60):  # queued before the service starts: its first turn takes them all
        issue(svc, f"a{i}")
    runner = threading.Thread(target=svc.run)
    runner.start()
    try:
        with broker.cond:  # 60 replies + 60 events + state: past outbox_max, none acknowledged
            assert broker.cond.wait_for(lambda: sum(1 for t, _, _ in broker.sent if "/reply/" in t) == 60, 10)
        assert svc.unacked.count >= 100
        for i in range(40):
            issue(svc, f"b{i}")
        assert not svc.unacked.wait_below(100, 0.3)  # the service is held back...
        assert svc.inbox.qsize() == 40  # ...and the new requests wait, none refused, none dropped
        broker.ack_all()
        def issued() -> int:
            return sum(1 for t, _, _ in broker.sent if t == svc.topics.event("issued"))

        with broker.cond:  # a batch's replies go out before its events: wait for both
            assert broker.cond.wait_for(
                lambda: len(broker.replies(svc.topics, "kiosk1")) == 100 and issued() >= 100, 10)
        assert issued() == 100 and all(r.ok for r in broker.replies(svc.topics, "kiosk1"))
    finally:
        svc.stop()
        runner.join(10)
        svc.store.close()


def test_an_oversized_event_from_an_old_journal_is_not_published_and_does_not_wedge_the_outbox(
        tmp_path: Path) -> None:
    """Before field bounds a 65 kB masked_name was journaled; its event cannot go to the broker."""
    cfg = config("")
    path = tmp_path / "j.db"
    old = DurableCore(cfg, path)
    huge = m.Issue(business="cash", masked_name="张" + "x" * 65_000)  # constructors check no bounds
    assert old.submit("old-1", "kiosk1", huge, T0).ok
    old.commit()
    old.close()
    for _ in range(2):  # restart twice: the second start has nothing left to republish
        broker = Broker()
        svc = service(cfg, path, broker)
        svc.publish_all_state()
        assert all(packet_size(t, p) <= cfg.bus.max_packet_size for t, p, _ in broker.sent)
        issue(svc, "new")
        svc.turn()
        svc.turn()  # idle: the published mark is written
        assert svc.published_seq == svc.store.journal.last_seq
        assert broker.replies(svc.topics, "kiosk1")[-1].ok
        svc.store.close()
    assert not [p for t, p, _ in broker.sent if t == svc.topics.event("issued") and b"xxxx" in p]
