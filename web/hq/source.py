"""What head office's pages ask of head office's database, and nothing of how it is kept.

The pages get plain rows (dicts, as qhq.report returns them) and HTML already rendered by the
history's report; `qcall hq web` hands the context an implementation (qcall.hq_web). Every call
takes `now` from the caller: tests run the pages in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Row = dict[str, Any]


class SourceDown(RuntimeError):
    """Head office's database cannot be reached now (the page says so; nothing is lost)."""


@dataclass(frozen=True, slots=True)
class Board:
    """Branches over target now (most over first) and branches whose link is down."""

    over: list[Row]
    links_down: list[Row]


@dataclass(frozen=True, slots=True)
class BranchPage:
    """One branch drilled down: its figures from head office's tables and the history's report."""

    info: Row  # branch, name, region, link, days (of the month), waiting_now
    period: str  # the history report's period label (2026-03, 2026-03-02)
    history_html: str = ""  # qhistory.render.body of the period ("" when there is none)
    history_note: str = ""  # why there is no history report
    days: list[str] = field(default_factory=list)  # archived days of the month (the day picker)


class HeadOffice(Protocol):
    def month(self, now: float, month: str) -> str:
        """The month label (YYYY-MM) asked for, or this month's; ValueError for a bad one."""
        ...

    def targets(self) -> dict[str, float]: ...

    def board(self, now: float) -> Board: ...

    def ranking(self, now: float, month: str) -> list[Row]: ...

    def regions(self, now: float, month: str) -> list[Row]: ...

    def branches(self) -> list[Row]:
        """Every branch of the head-office config: id, name, region."""
        ...

    def branch(self, branch: str, now: float, month: str, day: str, tellers: bool) -> BranchPage:
        """KeyError for a branch head office does not know; ValueError for a bad day."""
        ...

    def wait_change(self, timeout: float) -> bool:
        """Block up to `timeout` s for the database to say something new was stored (True)."""
        ...

    def close(self) -> None: ...
