"""Branch time on a Raspberry Pi: clock jumps at boot must not make waits negative or huge,
and the daily reset must not fire twice."""

from __future__ import annotations

from qbus import messages as m
from qbus.config import load
from qcore import BranchCore
from qserver.clock import BranchClock, business_day
from tests.test_config import EXAMPLE


class FakeTime:
    def __init__(self, wall: float) -> None:
        self.w = wall
        self.m = 1000.0

    def wall(self) -> float:
        return self.w

    def mono(self) -> float:
        return self.m

    def advance(self, s: float) -> None:
        self.w += s
        self.m += s


def test_branch_time_ignores_wall_jumps_until_safe() -> None:
    ft = FakeTime(1_000_000.0)
    clock = BranchClock(wall=ft.wall, mono=ft.mono)
    t0 = clock.now()
    ft.advance(60)
    ft.w -= 3600  # NTP (or a person) sets the wall clock back an hour
    assert clock.now() == t0 + 60
    ft.w += 7200  # ...and then an hour ahead of the truth
    assert clock.now() == t0 + 60
    assert clock.resync(safe=False) == 0.0
    assert clock.now() == t0 + 60
    jump = clock.resync(safe=True)
    assert jump == 3600
    assert clock.now() == t0 + 60 + 3600


def test_start_never_before_journal() -> None:
    ft = FakeTime(500.0)  # fake-hwclock restored an old time at boot
    clock = BranchClock(floor=10_000.0, wall=ft.wall, mono=ft.mono)
    assert clock.now() == 10_000.0


def test_wait_never_negative_when_time_goes_back() -> None:
    core = BranchCore(load(EXAMPLE))
    core.reset_day(0, "2026-11-23")
    core.login(100, 1, "1001")
    core.issue(1000.0, "cash")
    t = core.call_next(400.0, 1)  # the clock went back 600 s
    assert t.first_wait_s == 0.0
    ev = [e for e in core.drain() if isinstance(e, m.TicketCalled)][0]
    assert ev.waited_s == 0.0 and ev.at == 1000.0


def test_business_day_turns_at_reset_time_and_never_twice() -> None:
    tz = "Asia/Shanghai"
    before = 1_795_363_200.0 + 2 * 3600  # 2026-11-23 02:00 local
    after = 1_795_363_200.0 + 4 * 3600  # 2026-11-23 04:00 local
    assert business_day(before, tz, "03:00") == "2026-11-22"
    assert business_day(after, tz, "03:00") == "2026-11-23"
    core = BranchCore(load(EXAMPLE))
    core.reset_day(before, business_day(before, tz, "03:00"))
    core.reset_day(after, business_day(after, tz, "03:00"))
    core.issue(after, "cash")
    import pytest

    from qcore.errors import DayNotAfter

    with pytest.raises(DayNotAfter):
        core.reset_day(after + 10, business_day(after + 10, tz, "03:00"))
    with pytest.raises(DayNotAfter):  # the clock jumped back to yesterday
        core.reset_day(before, business_day(before, tz, "03:00"))
    assert "A001" in core.tickets  # today's numbers survived both refused resets
