"""Every event names itself by (journal row, place in that row): head office de-duplicates on it, so
a replay after a restart must derive exactly the same numbers as the first run did."""

from __future__ import annotations

from pathlib import Path

from qbus import messages as m
from qbus.config import load
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
PINS = PinBook.example_for(CFG, CHEAP_COST)  # each teller's PIN is their id
T0 = 1_772_416_800.0  # 2026-03-02 10:00 in Shanghai: the branch is open


def _day(store: DurableCore) -> list[m.AnyEvent]:
    steps: list[tuple[str, m.Command]] = [
        ("kiosk1", m.Issue(business="cash")),
        ("kiosk1", m.Issue(business="cash")),
        ("counter1", m.Login(counter=1, teller="1001", pin="1001")),
        ("counter1", m.CallNext(counter=1)),
        ("counter1", m.StartService(counter=1)),
        ("counter1", m.FinishService(counter=1)),
        ("counter1", m.Rate(counter=1, stars=5)),
        ("counter1", m.CallNext(counter=1)),
    ]
    out: list[m.AnyEvent] = []
    for k, (device, cmd) in enumerate(steps):
        store.submit(f"r{k}", device, cmd, T0 + 60 * k)
        if k % 3 == 2:  # several rows per group commit, as the service does
            store.commit()
            out += store.core.drain()
    store.commit()
    return out + store.core.drain()


def test_events_carry_their_journal_row_and_a_replay_derives_the_same(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = DurableCore(CFG, path, outbox=True, pins=PINS)
    first = _day(store)
    store.close()
    keys = [(e.seq, e.n) for e in first]
    assert all(seq >= 1 for seq, _ in keys)
    assert len(set(keys)) == len(keys), "two events share a (seq, n)"
    assert keys == sorted(keys), "numbers follow the order the events were published in"
    # A row with two events (the call emits the counter change and the call) numbers them 0, 1.
    assert any(n == 1 for _, n in keys)

    again = DurableCore(CFG, path, outbox=True, pins=PINS)  # no published mark: the whole outbox is re-derived
    try:
        assert again.outbox == first  # same events, same (seq, n): stored once at head office
    finally:
        again.close()
