"""The web's Reports page wired to the history store, found the way `qcall report` finds it.

The web service only reads the store (a SQLite file beside the journal, or `[history] store`);
it never opens the journal. A store that does not exist yet is not created here: the page says
no day has been archived, and the opening check says how to archive one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING

from qbus.config import BranchConfig
from qcall.history import store_target
from qhistory import period as pd
from qhistory.store import SqlStore, open_store
from web.reports import BadAsk, PeriodAsk, ReportPage

if TYPE_CHECKING:
    from qhistory.report import Loaded

RATING_COLUMNS = frozenset({"stars", "rating_reason", "rating_source"})


class HistoryReports:
    """`web.reports.ReportSource` over the branch's history store. The report builders (and
    matplotlib, ~55 MB) are imported on the first report asked for, not at the web's start: most
    web processes serve live pages all day and never draw a chart."""

    def __init__(self, cfg: BranchConfig, target: str = "") -> None:
        self.cfg = cfg
        self.target = target or store_target(cfg, cfg.storage.journal)

    def _exists(self) -> bool:
        t = self.target
        return t.startswith(("postgres", "host=")) or " dbname=" in t or Path(t).is_file()

    def _open(self) -> SqlStore | None:
        return open_store(self.target) if self._exists() else None

    def _load(self, ask: PeriodAsk) -> tuple[pd.Period, Loaded]:
        from qhistory import report

        p = period_of(ask)
        store = self._open()
        if store is None:
            return p, report.Loaded(days=[])
        try:
            return p, report.load(store, self.cfg.branch.id, p)
        finally:
            store.close()

    def page(self, ask: PeriodAsk, manager: bool) -> ReportPage:
        from qhistory import render, report

        p, data = self._load(ask)
        rep = report.build_from(self.cfg, p, data)
        return ReportPage(p.label, f"{p.title_zh} {p.title_en}", render.body(rep, tellers=manager))

    def lives_csv(self, ask: PeriodAsk, manager: bool) -> tuple[str, str]:
        from qhistory import render

        p, data = self._load(ask)
        text = render.csv_lives(data.tickets, self.cfg.branch.timezone)
        if not manager:
            text = without_columns(text, RATING_COLUMNS)
        return f"qcall-{self.cfg.branch.id}-{p.label.replace('..', '_')}.csv", text

    def archived(self, day: str) -> bool | None:
        store = self._open()
        if store is None:  # no store yet: nothing was ever archived
            return False
        try:
            return bool(store.days(self.cfg.branch.id, day, day))
        finally:
            store.close()


def period_of(ask: PeriodAsk) -> pd.Period:
    """The history's period for the picker's answer: the week or month that holds the date."""
    try:
        d = dt.date.fromisoformat(ask.date)
        if ask.kind == "day":
            return pd.day(ask.date)
        if ask.kind == "week":
            year, week, _ = d.isocalendar()
            return pd.week(f"{year}-W{week:02d}")
        if ask.kind == "month":
            return pd.month(f"{d.year}-{d.month:02d}")
        return pd.span(ask.date, ask.to)
    except ValueError as err:  # BadPeriod is a ValueError too
        raise BadAsk(f"日期不对 (bad date): {err}") from None


def without_columns(text: str, drop: frozenset[str]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return buf.getvalue()
