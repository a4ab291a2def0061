"""When numbers are handed out: within `[hours]` on its weekdays, from `open` to `close` minus
`[kiosk] last_ticket_min` (always, when `[kiosk] hours_only` is off).

One definition for the kiosk and the web's remote ticket from the door's poster, which must agree
(a phone must not get a number the kiosk beside it would refuse).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from qbus.config import BranchConfig


def last_ticket(cfg: BranchConfig) -> str:
    """The last minute a number is handed out, "HH:MM" (the closing time minus last_ticket_min)."""
    hh, mm = map(int, cfg.hours.close.split(":"))
    end = max(0, hh * 60 + mm - cfg.kiosk.last_ticket_min)
    return f"{end // 60:02d}:{end % 60:02d}"


def issuing_at(cfg: BranchConfig, now: float) -> bool:
    """Are numbers handed out at `now` (branch time, epoch seconds)?"""
    if not cfg.kiosk.hours_only:
        return True
    local = datetime.fromtimestamp(now, ZoneInfo(cfg.branch.timezone))
    if local.isoweekday() not in cfg.hours.weekdays:
        return False
    return cfg.hours.open <= f"{local.hour:02d}:{local.minute:02d}" < last_ticket(cfg)
