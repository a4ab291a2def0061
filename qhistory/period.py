"""Report periods: a day, an ISO week (2026-W49), a month (2026-12), a quarter (2026-Q4), a range.

Banks read 每日监测, 周报, 月度通报 and 季度考评; every period is a closed range of business days.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import msgspec

from qbus.errors import QcallError

Kind = Literal["day", "week", "month", "quarter", "range"]


class BadPeriod(QcallError, ValueError):
    code = "bad_period"
    zh = "报表期间格式错误"


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """A closed range of business days, `first` .. `last` (YYYY-MM-DD)."""

    kind: Kind
    label: str
    first: str
    last: str

    def days(self) -> list[str]:
        a, b = dt.date.fromisoformat(self.first), dt.date.fromisoformat(self.last)
        return [(a + dt.timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]

    @property
    def title_zh(self) -> str:
        return {"day": "日报", "week": "周报", "month": "月报", "quarter": "季报", "range": "期间报表"}[self.kind]

    @property
    def title_en(self) -> str:
        return {"day": "Daily report", "week": "Weekly report", "month": "Monthly report",
                "quarter": "Quarterly report", "range": "Report"}[self.kind]


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def day(text: str) -> Period:
    d = _date(text, "--day")
    return Period(kind="day", label=d.isoformat(), first=d.isoformat(), last=d.isoformat())


def week(text: str) -> Period:
    """ISO week `2026-W49` (Monday to Sunday)."""
    match = re.fullmatch(r"(\d{4})-?W(\d{1,2})", text.strip().upper())
    if not match:
        raise BadPeriod(f"--week: {text!r} is not an ISO week like 2026-W49")
    year, num = int(match.group(1)), int(match.group(2))
    try:
        monday = dt.date.fromisocalendar(year, num, 1)
    except ValueError:
        raise BadPeriod(f"--week: {year} has no week {num}") from None
    return Period(kind="week", label=f"{year}-W{num:02d}", first=monday.isoformat(),
                  last=(monday + dt.timedelta(days=6)).isoformat())


def month(text: str) -> Period:
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadPeriod(f"--month: {text!r} is not a month like 2026-12")
    year, mon = int(match.group(1)), int(match.group(2))
    first = dt.date(year, mon, 1)
    nxt = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    return Period(kind="month", label=f"{year}-{mon:02d}", first=first.isoformat(),
                  last=(nxt - dt.timedelta(days=1)).isoformat())


def quarter(text: str) -> Period:
    match = re.fullmatch(r"(\d{4})-?Q([1-4])", text.strip().upper())
    if not match:
        raise BadPeriod(f"--quarter: {text!r} is not a quarter like 2026-Q4")
    year, q = int(match.group(1)), int(match.group(2))
    first = dt.date(year, 3 * q - 2, 1)
    last_month = month(f"{year}-{3 * q}")
    return Period(kind="quarter", label=f"{year}-Q{q}", first=first.isoformat(), last=last_month.last)


def span(first: str, last: str) -> Period:
    a, b = _date(first, "--from"), _date(last, "--to")
    if b < a:
        raise BadPeriod(f"--to {b} is before --from {a}")
    if (b - a).days > 3660:
        raise BadPeriod("a report covers at most ten years")
    return Period(kind="range", label=f"{a}..{b}", first=a.isoformat(), last=b.isoformat())


def parse(*, day_: str = "", week_: str = "", month_: str = "", quarter_: str = "", first: str = "",
          last: str = "") -> Period | None:
    """The one period the options name; None when none is given (the live day). Two is an error."""
    given = [x for x in (day_, week_, month_, quarter_) if x]
    if first or last:
        if not (first and last):
            raise BadPeriod("--from and --to go together")
        given.append("range")
    if len(given) > 1:
        raise BadPeriod("give one period: --day, --week, --month, --quarter or --from/--to")
    if day_:
        return day(day_)
    if week_:
        return week(week_)
    if month_:
        return month(month_)
    if quarter_:
        return quarter(quarter_)
    if first:
        return span(first, last)
    return None
