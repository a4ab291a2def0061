"""The history issue's store and reports at head office: every branch's archived days in
head office's PostgreSQL (`qhistory.store.PgStore`, the same tables a branch's own store has),
and the history's day / week / month report of one branch built exactly as the branch builds it.

The archives arrive by the bridge (`archive/<day>/<part>`, qhistory.parts) and the ingest hands
each whole day to `PgStore.archive` (idempotent per branch and day: a replay stores nothing twice).
A report needs the branch's own config (its businesses, tiers, tellers, targets): head office
keeps each branch's TOML (it provisions the branches and pushes their config offers), named by
`config = "..."` in the branch's `[[branch]]` entry of the head-office config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from qbus.config import BranchConfig
from qbus.config import load as load_branch
from qhistory.period import Period
from qhistory.store import HistoryStore, PgStore
from qhq.config import HqConfig

if TYPE_CHECKING:
    from qhistory.report import Report

APP_NAME = "qcall-hq-history"


def history_dsn(cfg: HqConfig, dsn: str | None = None, app: str = APP_NAME) -> str:
    """Head office's database with the search path on the head-office schema, so the history's
    tables sit beside hq_event & co. (and a test's schema sees only its own rows)."""
    base = conninfo_to_dict(dsn or cfg.database.dsn)
    options = f"{base.get('options', '')} -c search_path={cfg.database.schema}".strip()
    return make_conninfo(dsn or cfg.database.dsn, options=options, application_name=app)


def open_history(cfg: HqConfig, dsn: str | None = None, app: str = APP_NAME) -> PgStore:
    return PgStore(history_dsn(cfg, dsn, app))


class BranchConfigs:
    """Each branch's own config, loaded once from the path its `[[branch]]` entry names."""

    def __init__(self, cfg: HqConfig) -> None:
        self.cfg = cfg
        self._loaded: dict[str, BranchConfig] = {}

    def get(self, branch: str) -> BranchConfig | None:
        """The branch's config; None when head office has none for it (no report then)."""
        if branch in self._loaded:
            return self._loaded[branch]
        entry = next((b for b in self.cfg.branch if b.id == branch), None)
        if entry is None or not entry.config:
            return None
        got = self._loaded[branch] = load_branch(entry.config)
        return got


def report(store: HistoryStore, cfg: BranchConfig, p: Period, now: float) -> Report:
    """The history's report of one branch over `p`, as `qcall report` builds it at the branch."""
    from qhistory import report as rp

    return rp.build(store, cfg, p, now=now)
