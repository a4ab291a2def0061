"""意见簿 / 投诉: opening complaints with their deadlines, and moving them along.

Deadlines (from `[complaints]`): contact the customer within 24 h, reply within 3 days, close within
30 days of opening. A 1-2 star rating opens one automatically when its day is archived, naming the
ticket, counter and teller; its `ref` ("rating:<day>:<number>") makes that happen once however
often the day is archived. A closed complaint keeps its outcome.
"""

from __future__ import annotations

import msgspec

from qbus.config import BranchConfig
from qbus.errors import QcallError
from qhistory.facts import Complaint, DayFacts
from qhistory.store import HistoryStore

LOW_STARS = 2
HOUR, DAY = 3600.0, 86400.0


class ComplaintError(QcallError, ValueError):
    code = "complaint"
    zh = "投诉操作无效"


def new(cfg: BranchConfig, *, source: str, opened_at: float, text: str, contact: str = "", handler: str = "",
        day: str = "", number: str = "", counter: int = 0, teller: str = "", ref: str = "") -> Complaint:
    """A complaint with its deadlines; refuses an empty text or an unknown source."""
    text = text.strip()
    if not text:
        raise ComplaintError("a complaint needs its text (what the customer said)")
    if len(text) > 2000:
        raise ComplaintError("a complaint's text is at most 2000 characters")
    c = cfg.complaints
    try:
        return msgspec.convert(dict(
            branch=cfg.branch.id, ref=ref, source=source, opened_at=opened_at, text=text, contact=contact.strip(),
            handler=handler, day=day, number=number, counter=counter, teller=teller,
            contact_due=opened_at + c.contact_hours * HOUR, reply_due=opened_at + c.reply_days * DAY,
            close_due=opened_at + c.close_days * DAY), Complaint)
    except msgspec.ValidationError as err:
        raise ComplaintError(f"complaint: {err}") from err


def from_ratings(cfg: BranchConfig, facts: DayFacts) -> list[Complaint]:
    """One complaint per 1-2 star rating of the day, with the ticket, counter and teller."""
    out = []
    for t in facts.tickets:
        if 1 <= t.stars <= LOW_STARS:
            rated_at = next((s.at for s in reversed(t.life) if s.kind == "rated"), t.finished_at)
            out.append(new(cfg, source="rating", opened_at=rated_at, day=t.day, number=t.number,
                           counter=t.counter, teller=t.teller, ref=f"rating:{t.day}:{t.number}",
                           text=f"客户评价{t.stars}星 / rated {t.stars} star{'s' if t.stars > 1 else ''}"))
    return out


def advance(store: HistoryStore, cid: int, at: float, *, contacted: bool = False, replied: bool = False,
            handler: str = "") -> Complaint:
    """Record that the customer was contacted and/or replied to (and who handles it)."""
    c = store.complaint(cid)
    if c.closed_at:
        raise ComplaintError(f"complaint {cid} is closed ({c.outcome})")
    c = msgspec.structs.replace(
        c, handler=handler or c.handler, contacted_at=c.contacted_at or (at if contacted or replied else 0.0),
        replied_at=c.replied_at or (at if replied else 0.0))
    store.update_complaint(c)
    return c


def close(store: HistoryStore, cid: int, at: float, outcome: str, by: str) -> Complaint:
    """Close a complaint with its outcome and the person who closed it (both required)."""
    if not outcome.strip():
        raise ComplaintError("closing a complaint needs its outcome (--outcome)")
    if not by.strip():
        raise ComplaintError("closing a complaint needs the person who closes it (--by)")
    c = store.complaint(cid)
    if c.closed_at:
        raise ComplaintError(f"complaint {cid} is already closed ({c.outcome})")
    c = msgspec.structs.replace(c, closed_at=at, closed_by=by.strip(), outcome=outcome.strip(),
                                handler=c.handler or by.strip(), contacted_at=c.contacted_at or at,
                                replied_at=c.replied_at or at)
    store.update_complaint(c)
    return c
