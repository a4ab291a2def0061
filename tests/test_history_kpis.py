"""The figures on a hand-built day with known answers (abandoned, no-show, cancel, transfer,
pause), the journal replay giving the same facts as the live events, and Erlang C against
published table values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qbus import messages as m
from qcall.history import archive_journal
from qcore.stats import counters_needed, erlang_c
from qhistory import figures as fg
from qhistory import period, report
from qhistory.store import open_store
from tests.coretools import DAY, MIN, T0
from tests.history_helpers import cfg_with, hand_day, hand_facts, same

CFG = cfg_with('[targets]\nreferral_businesses = ["loan"]\nstar_min_rated = 1\nstar_grade_min = 5\n')


def test_each_ticket_life_has_the_outcome_and_wait_a_person_would_count() -> None:
    f = hand_facts(CFG)
    t = {x.number: x for x in f.tickets}
    assert {n: x.outcome for n, x in t.items()} == {
        "A001": "served", "A002": "no_show", "B001": "served", "A003": "served", "A004": "cancelled",
        "A005": "abandoned"}
    assert t["A001"].wait_s == 2 * MIN and t["A001"].service_s == 4 * MIN and t["A001"].stars == 5
    assert t["A002"].wait_s == 6 * MIN
    assert t["B001"].granted_by == "lobby1" and t["B001"].tier == "vip" and t["B001"].stars == 2
    # The transfer: issued for cash, served at the loan counter, a referral (loan is configured so).
    a3 = t["A003"]
    assert (a3.first_business, a3.business, a3.transfers, a3.referral) == ("cash", "loan", 1, True)
    assert (a3.counter, a3.teller, a3.wait_s, a3.service_s) == (3, "t3", 4 * MIN, 10 * MIN)
    assert [s.kind for s in a3.life] == ["issued", "called", "started", "transferred", "called", "started",
                                         "finished", "rated"]
    assert a3.life[3].detail == "business:loan" and a3.rating_reason == "not_requested"
    # Still waiting at the close: abandoned, waiting until the last logout at 17:30.
    assert t["A005"].wait_s == (510 - 20) * MIN and t["A005"].life[-1].kind == "abandoned"
    pause = [s for s in f.spans if s.kind == "pause"]
    assert [(s.counter, s.teller, s.reason, s.end_at - s.start_at) for s in pause] == [(2, "t2", "lunch", 30 * MIN)]


def test_the_days_figures_count_the_abandoned_in_the_waits() -> None:
    rep = report.build_from(CFG, period.day(DAY), report.Loaded(days=[DAY], tickets=hand_facts(CFG).tickets,
                                                                 spans=hand_facts(CFG).spans), now=T0)
    t = rep.totals
    assert (t.arrivals, t.served, t.no_shows, t.cancelled, t.abandoned) == (6, 3, 1, 1, 1)
    assert (t.transfers, t.referrals) == (1, 1)
    waits = sorted([2, 6, 0, 4, 490])  # minutes: the cancelled ticket is not a wait, the abandoned is
    assert t.wait.n == 5 and t.wait.mean == pytest.approx(sum(waits) * 60 / 5, abs=0.1)
    assert t.wait.p50 == 4 * MIN and t.wait.max == 490 * MIN
    # Service level: normal within 20 min, vip within 5: A001, A002, B001, A003 made it, A005 did not.
    assert (t.service_level.ok, t.service_level.n, t.service_level.rate) == (4, 5, 0.8)
    assert rep.service_level_by_tier["vip"].rate == 1.0 and rep.service_level_by_tier["normal"].rate == 0.75
    # Two rated services, 5 and 2 stars: 50 % satisfied (below 85 %, flagged); A003 was not rated.
    assert (t.satisfaction.ok, t.satisfaction.n, t.satisfaction.breach) == (1, 2, True)
    assert t.unrated.rate == pytest.approx(1 / 3, abs=1e-4)
    assert t.abandoned_rate.rate == 0.2 and t.abandoned_rate.breach
    assert t.identification.ok == 2 and t.identification.n == 6  # bank card + ID card over those + 4 buttons
    assert rep.grants_by_staff == {"lobby1": 1}
    assert rep.pause_s_by_reason == {"lunch": 30 * MIN}
    tellers = {x.teller: x for x in rep.tellers}
    assert tellers["t1"].grade == 5 and tellers["t1"].star  # 1 of 1 rated satisfied
    assert tellers["t2"].grade == 0 and not tellers["t2"].star and tellers["t2"].pause_s == {"lunch": 1800.0}
    assert rep.star_tellers.ok == 1 and rep.star_tellers.n == 2 and rep.star_tellers.breach
    figures = {(b.figure, b.scope) for b in rep.breaches}
    assert {("satisfaction", "branch"), ("abandoned", "branch"), ("star_tellers", "branch"),
            ("service_level", "tier:normal")} <= figures
    assert ("service_level", "tier:vip") not in figures


def test_counters_open_per_hour_leave_out_pauses() -> None:
    f = hand_facts(CFG)
    hours = fg.HourOf(CFG.branch.timezone)
    open_s = fg.open_seconds_by_hour(f.spans, hours)
    assert open_s[9] == pytest.approx(3 * 3600 - 30 * MIN)  # counter 2 paused 09:30-10:00
    assert open_s[10] == pytest.approx(3 * 3600) and open_s[17] == pytest.approx(3 * 30 * MIN)
    assert open_s[18] == 0


def test_replaying_the_journal_gives_the_facts_of_the_live_day(tmp_path: Path) -> None:
    """The day's commands go through the durable core into a journal; archiving replays them."""
    core, live_events = hand_day(CFG)
    journal = tmp_path / "journal.db"
    from tests.history_helpers import journaled_hand_day

    store = journaled_hand_day(CFG, journal)
    store.submit("reset", "core", m.ResetDay(day="2026-03-03"), T0 + 18 * 3600)
    store.commit()
    hist = open_store(tmp_path / "history.db")
    assert archive_journal(CFG, store.journal, hist, now=T0 + 18 * 3600) == [DAY]
    assert archive_journal(CFG, store.journal, hist) == []  # closing a day twice changes nothing
    got = hist.tickets("hist", DAY, DAY)
    want = hand_facts(CFG).tickets
    assert [x.number for x in got] == [x.number for x in want]
    for a, b in zip(got, want, strict=True):
        assert same(a, b), a.number
    assert hist.complaints("hist")[0].number == "B001"  # the 2-star rating opened a complaint
    hist.close()
    store.close()


# Erlang C probability of waiting, from published tables (e.g. the ITU-T / Cooper tables as quoted in
# call-centre texts): (servers, offered load in Erlangs, P(wait)).
PUBLISHED = [
    (2, 1.0, 0.3333),   # M/M/2 at 50 % load: exactly 1/3
    (3, 2.0, 0.4444),   # M/M/3, A = 2: exactly 4/9
    (10, 6.0, 0.1013),  # "from the Erlang C curve ... about 0.10" (10 servers, 6 Erlangs)
    (11, 10.0, 0.6821),  # the classic 10 Erlang example: 11 agents -> 68.21 % wait
    (12, 10.0, 0.4494),
    (14, 10.0, 0.1741),
]


@pytest.mark.parametrize(("servers", "load", "published"), PUBLISHED)
def test_erlang_c_matches_published_table_values(servers: int, load: float, published: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(published, abs=5e-4)


def test_erlang_c_advice_is_the_fewest_counters_meeting_the_service_level() -> None:
    # 10 Erlangs (200 arrivals/h of 3-min services), 80 % to wait at most 20 s.
    n = counters_needed(200, 180, 20, 0.8)

    def sl(c: int) -> float:  # the share answered within 20 s with c counters
        return 1 - erlang_c(c, 10.0) * math.exp(-(c - 10.0) * 20 / 180)

    assert sl(n) >= 0.8 > sl(n - 1)
    assert counters_needed(0, 180, 20) == 0


def test_an_alert_raised_and_acknowledged_names_the_person() -> None:
    from qcore import BranchCore
    from qhistory.collect import collect

    core = BranchCore(CFG)
    core.reset_day(T0 - 3600, DAY)
    core.issue(T0, "loan", "vip")  # vip target 5 min
    core.tick(T0 + 6 * MIN)
    core.ack_alert(T0 + 7 * MIN, "B001", "lobby1")
    core.login(T0 + 8 * MIN, 2, "t2")
    core.call_next(T0 + 9 * MIN, 2)
    with pytest.raises(Exception, match="not in the branch config"):
        core.ack_alert(T0 + 9 * MIN, "B001", "stranger")
    f = collect(CFG, DAY, core.drain(), T0 - 3600, T0 + 12 * 3600, T0 + 12 * 3600)
    [tier_alert] = [a for a in f.alerts if a.kind == "tier"]
    assert (tier_alert.number, tier_alert.raised_at, tier_alert.limit_s) == ("B001", T0 + 6 * MIN, 5 * MIN)
    assert (tier_alert.acked_at, tier_alert.acked_by, tier_alert.resolved_at) == (T0 + 7 * MIN, "lobby1",
                                                                                   T0 + 9 * MIN)
