"""Where each phone's ticket stands (web.phone.PhoneLine) when the service missed events: started
mid-day, or away while the bus link was down. The real core makes the events and the retained
state/waiting; the line must end up where it would have been had it seen everything."""

from __future__ import annotations

from typing import Any

from qbus import messages as m
from qcore import BranchCore
from tests.coretools import DAY, EXAMPLE_CFG, T0, staffed
from web.phone import PhoneLine


def seqd(events: list[Any], start: int) -> list[Any]:
    """Number the events as the journal does (the core alone leaves seq 0)."""
    for i, ev in enumerate(events):
        ev.seq = start + i
    return events


def ahead(line: PhoneLine, number: str, core: BranchCore) -> tuple[str, int]:
    q = core.queue_state()
    v = line.view(number, q.est_wait_s, q.waiting)
    return v.state, v.ahead


def test_a_line_started_mid_day_and_one_that_missed_events_agree_with_the_core() -> None:
    core = staffed(EXAMPLE_CFG, 1)
    for i in range(4):
        core.issue(T0 + i, "cash")
    heard = seqd(core.drain(), 1)
    late = PhoneLine(EXAMPLE_CFG, b"k" * 32)  # started now: has heard none of it
    late.rebuild(msgspec_copy(core.waiting_state(), seq=len(heard)))
    assert [ahead(late, n, core) for n in ("A001", "A002", "A003", "A004")] == [
        ("near", 0), ("near", 1), ("near", 2), ("near", 3)]  # (phone_near = 3)

    away = PhoneLine(EXAMPLE_CFG, b"k" * 32)  # heard the issues, then lost the link
    for ev in heard:
        away.apply(ev)
    core.execute(m.CallNext(counter=1), T0 + 10)  # A001 called, A003 cancelled: both missed
    core.execute(m.Cancel(number="A003"), T0 + 11)
    missed = seqd(core.drain(), len(heard) + 1)
    last = missed[-1].seq
    away.rebuild(msgspec_copy(core.waiting_state(), seq=last))
    for c in core.counter_states():
        away.seen_counter(c)
    assert ahead(away, "A002", core) == ("near", 0)
    assert ahead(away, "A004", core) == ("near", 1)
    assert away.view("A001", {}, {}).state == "called" and away.view("A001", {}, {}).zh.startswith("请到")
    assert away.view("A003", {}, {}).state == "unknown"  # not waiting any more; why was missed
    # An event newer than the state is kept: the state cannot undo it.
    core.execute(m.Cancel(number="A004"), T0 + 12)
    newer = seqd(core.drain(), last + 1)
    for ev in newer:
        away.apply(ev)
    away.rebuild(msgspec_copy(core.waiting_state(), seq=last))  # an older copy arriving late
    assert away.view("A004", {}, {}).state == "cancelled"


def test_a_cut_state_adds_what_it_lists_and_removes_nothing() -> None:
    """Three issued within ten milliseconds: the state lists two of them; the order the events
    gave stays (a state that changed the keys it lists, by rounding them, would reorder them)."""
    core = BranchCore(EXAMPLE_CFG, DAY)
    for at in (T0 + 0.004, T0 + 0.006, T0 + 0.008):
        core.issue(at, "cash")
    line = PhoneLine(EXAMPLE_CFG, b"k" * 32)
    for ev in seqd(core.drain(), 1):
        line.apply(ev)
    cut = msgspec_copy(core.waiting_state(2), seq=99)
    assert not cut.complete
    line.rebuild(cut)
    assert [line.view(n, {}, {}).ahead for n in ("A001", "A002", "A003")] == [0, 1, 2]


def msgspec_copy(state: m.WaitingState, *, seq: int) -> m.WaitingState:
    import msgspec

    return msgspec.structs.replace(state, seq=seq)
