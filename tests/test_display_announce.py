"""The announcement queue: order, supersession and the bounded backlog, for bursts of calls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from display.announce import Announcement, AnnouncementQueue
from display.phrase import announcement, en_count, keys, spell, zh_count


def drain(q: AnnouncementQueue) -> list[tuple[str, int, int]]:
    out = []
    while (a := q.pop()) is not None:
        out.append((a.number, a.counter, a.recall))
    return out


def test_calls_at_different_counters_are_said_in_arrival_order() -> None:
    q = AnnouncementQueue(max_pending=4)
    for n, c in (("A001", 1), ("B001", 3), ("C001", 4)):
        q.push(Announcement(n, c))
    assert drain(q) == [("A001", 1, 0), ("B001", 3, 0), ("C001", 4, 0)]


def test_a_new_call_at_a_counter_replaces_its_unsaid_one_and_keeps_its_turn() -> None:
    q = AnnouncementQueue(max_pending=4)
    q.push(Announcement("A001", 1))
    q.push(Announcement("B001", 3))
    dropped = q.push(Announcement("A002", 1))  # A001 was skipped before it was even said
    assert dropped == [Announcement("A001", 1)]
    assert drain(q) == [("A002", 1, 0), ("B001", 3, 0)]


def test_recall_of_an_unsaid_call_is_said_once_not_twice() -> None:
    q = AnnouncementQueue(max_pending=4)
    q.push(Announcement("A001", 1))
    q.push(Announcement("B001", 3))
    assert q.push(Announcement("A001", 1, recall=1)) == []
    assert drain(q) == [("A001", 1, 1), ("B001", 3, 0)]


def test_recall_after_the_call_was_said_is_said_again() -> None:
    q = AnnouncementQueue(max_pending=4)
    q.push(Announcement("A001", 1))
    assert drain(q) == [("A001", 1, 0)]
    q.push(Announcement("A001", 1, recall=1))
    assert drain(q) == [("A001", 1, 1)]


def test_a_burst_keeps_the_newest_and_drops_the_oldest_past_the_bound() -> None:
    q = AnnouncementQueue(max_pending=3)
    dropped = []
    for c in range(1, 9):
        dropped += q.push(Announcement(f"A{c:03d}", c))
    assert [a.counter for a in dropped] == [1, 2, 3, 4, 5]
    assert drain(q) == [("A006", 6, 0), ("A007", 7, 0), ("A008", 8, 0)]


def test_repeats_collapse_while_others_wait() -> None:
    q = AnnouncementQueue()
    assert q.more_repeats(1, 2)
    assert not q.more_repeats(2, 2)
    q.push(Announcement("B001", 3))
    assert not q.more_repeats(1, 2)


@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers(1, 999), st.integers(1, 8),
                          st.integers(0, 3)), min_size=1, max_size=40),
       st.integers(1, 6))
def test_any_burst_keeps_the_newest_one_slot_per_counter_and_the_bound(
        pushes: list[tuple[str, int, int, int]], bound: int) -> None:
    q = AnnouncementQueue(max_pending=bound)
    for letter, n, counter, recall in pushes:
        a = Announcement(f"{letter}{n:03d}", counter, recall)
        q.push(a)
        assert a in q.pending, "the newest call must never be dropped"
        assert len(q) <= bound
        counters = [p.counter for p in q.pending]
        assert len(counters) == len(set(counters))
    latest = {}
    for letter, n, counter, recall in pushes:
        latest[counter] = Announcement(f"{letter}{n:03d}", counter, recall)
    assert all(latest[p.counter] == p for p in q.pending), "only the latest call per counter is said"


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AnnouncementQueue(0)


def test_what_is_said_for_a_call() -> None:
    parts = announcement("A001", 3)
    assert keys(parts) == [
        "zh-qing", "zh-A", "zh-0", "zh-0", "zh-1", "zh-hao", "zh-dao", "zh-3", "zh-hao",
        "zh-chuangkou",
        "en-number", "en-A", "en-0", "en-0", "en-1", "en-please", "en-go", "en-to", "en-counter",
        "en-3"]
    assert keys(announcement("a-12", 3, with_english=False))[:4] == ["zh-qing", "zh-A", "zh-1", "zh-2"]
    assert all(isinstance(p, float) for p in parts[1::2]), "words are separated by pauses"


@pytest.mark.parametrize(("n", "zh", "en"), [
    (3, ["3"], ["3"]), (10, ["10"], ["10"]), (12, ["10", "2"], ["12"]), (20, ["2", "10"], ["20"]),
    (35, ["3", "10", "5"], ["30", "5"]), (105, ["1", "0", "5"], ["1", "0", "5"]),
])
def test_counter_numbers_are_said_as_numbers(n: int, zh: list[str], en: list[str]) -> None:
    assert zh_count(n) == [f"zh-{x}" for x in zh]
    assert en_count(n) == [f"en-{x}" for x in en]


def test_ticket_numbers_are_spelt() -> None:
    assert spell("vip-07", "en") == ["en-V", "en-I", "en-P", "en-0", "en-7"]
