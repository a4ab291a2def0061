"""What the Reports page asks of the branch's history, and nothing of how it is kept.

The web component reaches the core only over the bus and never opens the core's journal; the
history store is a separate file (or PostgreSQL DSN) that the web only reads. `web/` may not
import the history package (tests/test_layers.py), so `qcall web` hands the context a
`ReportSource` (qcall.web_reports) that finds the store the way `qcall report` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

KINDS = ("day", "week", "month", "range")


@dataclass(frozen=True, slots=True)
class PeriodAsk:
    """The date picker's answer: a kind and a date in it (and the last day of a range)."""

    kind: str
    date: str
    to: str = ""


@dataclass(frozen=True, slots=True)
class ReportPage:
    label: str  # the period as the CLI names it: 2026-11, 2026-W48, 2026-11-03, a..b
    title: str  # 月报 Monthly report
    body: str  # the history report's HTML (charts inline), for this role


class BadAsk(ValueError):
    """A period the picker cannot mean (a malformed date, a range backwards): shown to the person."""


class ReportSource(Protocol):
    def page(self, ask: PeriodAsk, manager: bool) -> ReportPage:
        """The report of the period (BadAsk for a period that cannot be; an empty report for
        one with no archived day)."""
        ...

    def lives_csv(self, ask: PeriodAsk, manager: bool) -> tuple[str, str]:
        """(file name, CSV text): each ticket's life over the period, no personal data; the
        lobby's file has no ratings."""
        ...

    def archived(self, day: str) -> bool | None:
        """Is `day` in the history store? None: there is no store to ask."""
        ...


def ask_of(params: dict[str, str]) -> PeriodAsk | None:
    """The period a Reports URL names (`?kind=month&date=2026-11-05`), None for the live day."""
    kind, date = params.get("kind", ""), params.get("date", "").strip()
    if not kind and not date:
        return None
    if kind not in KINDS:
        raise BadAsk(f"报表类型 {kind!r} 不对 (choose day, week, month or range)")
    if not date:
        raise BadAsk("请选择日期 (pick a date)")
    to = params.get("to", "").strip()
    if kind == "range" and not to:
        raise BadAsk("期间报表需要结束日期 (a range needs its last day)")
    return PeriodAsk(kind, date[:10], to[:10])
