"""The calling rules (qcore.rules): who a counter calls next, in the order a branch would expect.

Tier order, VIP counters that prefer their tiers, the interleaving ratio, weighted round-robin
between business types, the aging bound, appointments and counters restricted to some tiers.
"""

from __future__ import annotations

import pytest

from qcore import BranchCore
from qcore import errors as e
from tests.coretools import EXAMPLE_CFG, MIN, T0, counter, serve_one, small_cfg, staffed


def calls(core: BranchCore, cid: int, n: int, now: float = T0 + 60) -> list[str]:
    """Numbers `cid` calls in turn (each one served at once), `n` times."""
    return [serve_one(core, cid, now) for _ in range(n)]


def issue(core: BranchCore, spec: str, now: float = T0, business: str = "cash") -> None:
    """Issue one ticket per letter: V = vip, P = prio, N = normal (small branch tiers)."""
    tier = {"V": "vip", "P": "prio", "N": "normal"}
    for i, ch in enumerate(spec.split()):
        core.issue(now + i, business, tier[ch])


def tiers_called(core: BranchCore, cid: int, n: int) -> str:
    out = []
    for _ in range(n):
        t = core.call_next(T0 + 60, cid)
        out.append(t.tier[0].upper())
        core.start(T0 + 60, cid)
        core.finish(T0 + 60, cid, request_rating=False)
    return " ".join(out)


# ---------------------------------------------------------------------------------- tier order


def test_example_branch_tier_order_with_interleaving() -> None:
    core = staffed(EXAMPLE_CFG, 1)
    for i, tier in enumerate(["normal", "priority", "vip", "wealth", "private"]):
        core.issue(T0 + i, "cash", tier)
    # private, wealth (2 priority calls) -> one normal -> vip, priority
    assert calls(core, 1, 5) == ["A005", "A004", "A001", "A003", "A002"]


def test_tier_order_by_rank_then_first_come() -> None:
    core = staffed(small_cfg(rules="interleave_priority = 50"), 1)
    issue(core, "N P V N P V")
    assert calls(core, 1, 6) == ["A003", "A006", "A002", "A005", "A001", "A004"]


# ---------------------------------------------------------------------------------- VIP counter


def test_vip_counter_serves_preferred_tiers_first_without_interleaving() -> None:
    core = staffed(EXAMPLE_CFG, 5)  # prefers private, wealth, vip
    for i, tier in enumerate(["normal", "normal", "vip", "vip", "vip", "wealth"]):
        core.issue(T0 + i, "cash", tier)
    assert calls(core, 5, 6) == ["A006", "A003", "A004", "A005", "A001", "A002"]


def test_vip_counter_serves_normal_when_no_vip_waits_and_vip_again_when_one_comes() -> None:
    core = staffed(EXAMPLE_CFG, 5)
    core.issue(T0, "cash")
    core.issue(T0 + 1, "cash")
    assert serve_one(core, 5, T0 + 2) == "A001"
    core.issue(T0 + 3, "personal", "vip")
    assert serve_one(core, 5, T0 + 4) == "B001"
    assert serve_one(core, 5, T0 + 5) == "A002"


def test_vip_counter_interleaves_a_non_preferred_priority_tier() -> None:
    core = staffed(EXAMPLE_CFG, 5)  # the 老弱病残孕 'priority' tier is not one it prefers
    for i, tier in enumerate(["priority", "priority", "priority", "normal"]):
        core.issue(T0 + i, "cash", tier)
    assert calls(core, 5, 4) == ["A001", "A002", "A004", "A003"]


def test_prefers_order_is_the_configured_one() -> None:
    cfg = small_cfg(counters=counter(1, "cash = 1, loan = 1", prefers='"prio", "vip"'))
    core = staffed(cfg, 1)
    issue(core, "V P N")
    assert tiers_called(core, 1, 3) == "P V N"


# ---------------------------------------------------------------------------------- interleaving


def test_two_priority_calls_then_one_normal_when_both_wait() -> None:
    core = staffed(small_cfg(), 1)  # interleave_priority = 2, interleave_normal = 1 (defaults)
    issue(core, " ".join(["N"] * 4 + ["V"] * 6))
    assert tiers_called(core, 1, 10) == "V V N V V N V V N N"


def test_interleave_normal_two() -> None:
    core = staffed(small_cfg(rules="interleave_priority = 2\ninterleave_normal = 2"), 1)
    issue(core, " ".join(["N"] * 5 + ["V"] * 5))
    assert tiers_called(core, 1, 10) == "V V N N V V N N V N"


def test_interleave_ratio_three_to_one() -> None:
    core = staffed(small_cfg(rules="interleave_priority = 3"), 1)
    issue(core, " ".join(["N"] * 3 + ["P"] * 7))
    assert tiers_called(core, 1, 10) == "P P P N P P P N P N"


def test_every_priority_tier_counts_towards_the_streak() -> None:
    core = staffed(small_cfg(), 1)
    issue(core, "N N V P V")
    assert tiers_called(core, 1, 5) == "V V N P N"


def test_no_normal_waiting_means_priority_calls_go_on() -> None:
    core = staffed(small_cfg(), 1)
    issue(core, "V V V V")
    assert tiers_called(core, 1, 4) == "V V V V"
    # The streak counts priority calls since the last normal call: a normal customer arriving
    # now is called next (the documented rule), then the priority tiers resume.
    issue(core, "V V N", now=T0 + 100)
    assert tiers_called(core, 1, 3) == "N V V"


def test_a_normal_call_from_an_empty_priority_queue_resets_the_streak() -> None:
    core = staffed(small_cfg(), 1)
    issue(core, "V")
    assert tiers_called(core, 1, 1) == "V"
    issue(core, "N", now=T0 + 10)
    assert tiers_called(core, 1, 1) == "N"  # streak back to 0
    issue(core, "N V V V", now=T0 + 20)
    assert tiers_called(core, 1, 4) == "V V N V"


# ---------------------------------------------------------------------------------- weights


def test_weights_three_to_one_give_the_smooth_round_robin_sequence() -> None:
    core = staffed(small_cfg(counters=counter(1, "cash = 3, loan = 1")), 1)
    for i in range(12):
        core.issue(T0 + i, "cash")
        core.issue(T0 + i, "loan")
    got = "".join(n[0] for n in calls(core, 1, 16))
    assert got == "AABA" * 4
    assert "".join(n[0] for n in calls(core, 1, 8)) == "BBBBBBBB"  # cash ran out: loan alone


def test_equal_weights_alternate() -> None:
    core = staffed(small_cfg(counters=counter(1, "cash = 2, loan = 2")), 1)
    for i in range(4):
        core.issue(T0 + i, "loan")
        core.issue(T0 + i, "cash")
    assert "".join(n[0] for n in calls(core, 1, 8)) == "ABABABAB"


def test_weights_only_choose_between_types_within_the_chosen_tier() -> None:
    core = staffed(small_cfg(counters=counter(1, "cash = 9, loan = 1")), 1)
    core.issue(T0, "cash")
    core.issue(T0 + 1, "loan", "vip")
    assert calls(core, 1, 2) == ["B001", "A001"]


def test_example_counter_weights() -> None:
    core = staffed(EXAMPLE_CFG, 3)  # personal = 3, forex = 1
    for i in range(8):
        core.issue(T0 + i, "forex")
        core.issue(T0 + i, "personal")
    assert "".join(n[0] for n in calls(core, 3, 8)) == "BBEBBBEB"


# ---------------------------------------------------------------------------------- aging


def test_a_normal_ticket_past_the_aging_bound_goes_before_fresh_vips() -> None:
    core = staffed(small_cfg(rules="aging_minutes = 30\ninterleave_priority = 50"), 1)
    core.issue(T0, "cash")
    for i in range(5):
        core.issue(T0 + 20 * MIN + i, "cash", "vip")
    assert serve_one(core, 1, T0 + 29 * MIN) == "A002"  # not yet aged: the VIP goes first
    assert serve_one(core, 1, T0 + 30 * MIN) == "A001"
    assert serve_one(core, 1, T0 + 31 * MIN) == "A003"


def test_aging_picks_the_oldest_over_aged_ticket_across_types() -> None:
    core = staffed(small_cfg(rules="aging_minutes = 10\ninterleave_priority = 50"), 1)
    core.issue(T0, "loan")
    core.issue(T0 + 60, "cash")
    core.issue(T0 + 120, "loan", "prio")
    core.issue(T0 + 40 * MIN, "cash", "vip")
    assert calls(core, 1, 4, T0 + 40 * MIN) == ["B001", "A001", "B002", "A002"]


def test_aging_at_a_vip_counter() -> None:
    core = staffed(EXAMPLE_CFG, 5)  # aging_minutes = 30
    core.issue(T0, "cash")
    for i in range(3):
        core.issue(T0 + 25 * MIN + i, "cash", "vip")
    assert serve_one(core, 5, T0 + 31 * MIN) == "A001"


def test_aging_does_not_pull_a_type_the_counter_does_not_serve() -> None:
    core = staffed(EXAMPLE_CFG, 4)  # corporate only
    core.issue(T0, "cash")
    core.issue(T0 + 40 * MIN, "corporate")
    assert serve_one(core, 4, T0 + 41 * MIN) == "C001"


def test_a_transfer_to_this_counter_comes_before_aged_tickets() -> None:
    core = staffed(EXAMPLE_CFG, 1, 2)
    core.issue(T0, "cash")
    core.issue(T0 + 1, "cash")
    core.call_next(T0 + 40 * MIN, 1)
    core.start(T0 + 40 * MIN, 1)
    core.transfer(T0 + 41 * MIN, 1, to_counter=2)
    core.issue(T0 + 41 * MIN, "cash")
    assert serve_one(core, 2, T0 + 42 * MIN) == "A001"
    assert serve_one(core, 2, T0 + 42 * MIN) == "A002"


# ---------------------------------------------------------------------------------- appointments


def test_a_due_appointment_goes_before_the_tier_order() -> None:
    core = staffed(small_cfg(), 1)
    core.issue(T0, "cash", appointment_at=T0 + 10 * MIN)
    issue(core, "V V", now=T0 + 60)
    assert serve_one(core, 1, T0 + 9 * MIN) == "A002"
    assert serve_one(core, 1, T0 + 10 * MIN) == "A001"
    assert serve_one(core, 1, T0 + 10 * MIN) == "A003"


def test_due_appointments_in_time_order_across_types() -> None:
    core = staffed(small_cfg(), 1)
    core.issue(T0, "loan", appointment_at=T0 + 20 * MIN)
    core.issue(T0, "cash", "vip", appointment_at=T0 + 10 * MIN)
    core.issue(T0, "cash", appointment_at=T0 + 15 * MIN)
    assert calls(core, 1, 3, T0 + 30 * MIN) == ["A001", "A002", "B001"]


# ---------------------------------------------------------------------------------- restricted counters


RESTRICTED = counter(1, "cash = 1", tiers='"vip"') + counter(2, "cash = 1, loan = 1")


def test_restricted_counter_calls_only_its_tiers() -> None:
    core = staffed(small_cfg(counters=RESTRICTED), 1, 2)
    issue(core, "N P V")
    assert serve_one(core, 1, T0 + 10) == "A003"
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 11, 1)
    assert calls(core, 2, 2) == ["A002", "A001"]


def test_restricted_counter_ages_only_its_tiers_appointments_included() -> None:
    core = staffed(small_cfg(counters=RESTRICTED, rules="aging_minutes = 5"), 1, 2)
    core.issue(T0, "cash")  # over-aged, but not a tier counter 1 takes
    core.issue(T0, "cash", "vip", appointment_at=T0 + 60)
    core.issue(T0 + 120, "cash", "vip")
    # Both VIPs are past the bound; the appointment has waited longer, so it goes first.
    assert calls(core, 1, 2, T0 + 10 * MIN) == ["A002", "A003"]
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 10 * MIN, 1)
    assert serve_one(core, 2, T0 + 10 * MIN) == "A001"


def test_restricted_counter_calls_only_its_tiers_appointments() -> None:
    """Regression: appointments of every tier shared one lane that restricted counters called from."""
    core = staffed(small_cfg(counters=RESTRICTED), 1, 2)
    core.issue(T0, "cash", appointment_at=T0 + 60)
    with pytest.raises(e.QueueEmpty):
        core.call_next(T0 + 120, 1)
    core.issue(T0 + 130, "cash", "vip", appointment_at=T0 + 180)
    core.issue(T0 + 131, "cash", "vip")
    assert serve_one(core, 1, T0 + 181) == "A002"
    assert serve_one(core, 1, T0 + 182) == "A003"
    assert serve_one(core, 2, T0 + 183) == "A001"
    assert core.queue_state().waiting["cash"] == 0


def test_restricted_and_preferring_counter() -> None:
    cfg = small_cfg(counters=counter(1, "cash = 1", prefers='"prio"', tiers='"prio", "normal"')
                    + counter(2, "cash = 1, loan = 1"))
    core = staffed(cfg, 1)
    issue(core, "N V P N P")
    assert calls(core, 1, 4) == ["A003", "A005", "A001", "A004"]


def test_transfer_to_a_type_only_other_tiers_counters_serve_is_refused() -> None:
    """Regression: the transfer was accepted and the customer waited where no open counter calls."""
    cfg = small_cfg(counters=counter(1, "loan = 1", tiers='"vip"') + counter(2, "cash = 1"))
    core = staffed(cfg, 1, 2)
    core.issue(T0, "cash")
    core.issue(T0, "cash", "vip")
    core.call_next(T0, 2)  # the VIP
    core.start(T0, 2)
    core.transfer(T0 + 60, 2, to_business="loan")
    assert serve_one(core, 1, T0 + 61) == "A002"
    core.call_next(T0 + 62, 2)  # the normal customer
    core.start(T0 + 62, 2)
    with pytest.raises(e.NotServed, match="normal"):
        core.transfer(T0 + 63, 2, to_business="loan")
    assert core.counters[2].status == "serving"
