"""`qcall book-import FILE`: a bank booking system's export (CSV) into the core's bookings.

Columns (header row required, UTF-8, with or without BOM):

    code,date,time,business,tier,name,id_number
    K7Q2M9,2026-12-02,10:30,cash,normal,李小龙,440301199001011234

`code` what the customer types at the kiosk (4–12 letters/digits); `date` YYYY-MM-DD and `time`
HH:MM (a slot start, branch time); `business` a business code of the config; `tier` optional
(default normal); `name` optional, kept only as 李*; `id_number` optional — the ID card, bank card
or phone number that booked, turned into the kiosk's keyed hash here (the branch's privacy key)
and never sent, stored or printed. Every row is checked before anything is sent: one bad row
refuses the file with each problem named by line, so a half-imported file never happens. Rows
the core refuses (slot full, code taken) are reported by line; the others are booked.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from qbus import messages as m
from qbus.client import BusClient
from qbus.config import BranchConfig
from qbus.errors import ConfigError
from qbus.pii import mask_name

COLUMNS = ("code", "date", "time", "business", "tier", "name", "id_number")
CODE = re.compile(r"^[A-Za-z0-9]{4,12}$")
NUMBER = re.compile(r"^[0-9]{11,19}[0-9Xx]?$")
SHOWABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")  # a code as configs spell them: never a name or number


def not_configured(column: str, value: str) -> str:
    """The refusal of a business or tier the config lacks. The value is quoted only when it looks
    like a code: a row that lost a field has the customer's name or ID number in that column, and
    the refusal goes to a terminal and its logs, where neither may be."""
    if SHOWABLE.match(value):
        return f"{column}: {value!r} is not in the config"
    return f"{column}: not a {column} code of the config (not repeated here: a field missing before it?)"


def read_bookings(cfg: BranchConfig, text: str, hasher: Callable[[str], str] | None,
                  by: str = "") -> list[tuple[int, m.Book]]:
    """(line, Book) for every row; ConfigError listing every bad row (nothing partial)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("code", "date", "time", "business") if c not in (rows.fieldnames or [])]
    if missing:
        raise ConfigError(f"bookings CSV: missing column(s) {', '.join(missing)} (columns: {','.join(COLUMNS)})")
    tz = ZoneInfo(cfg.branch.timezone)
    businesses = {b.code for b in cfg.business}
    tiers = {t.code for t in cfg.tier}
    out: list[tuple[int, m.Book]] = []
    problems: list[str] = []
    for line, row in enumerate(rows, start=2):
        get = {k: (row.get(k) or "").strip() for k in COLUMNS}
        bad = []
        if not CODE.match(get["code"]):
            bad.append("code: 4-12 letters or digits")
        try:
            d = date.fromisoformat(get["date"])
            hh, mm = map(int, get["time"].split(":"))
            at = datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz).timestamp()
        except ValueError:
            bad.append("date/time: YYYY-MM-DD and HH:MM")
            at = 0.0
        if get["business"] not in businesses:
            bad.append(not_configured("business", get["business"]))
        tier = get["tier"] or "normal"
        if tier not in tiers:
            bad.append(not_configured("tier", tier))
        ident = re.sub(r"[\s-]", "", get["id_number"])
        if ident and not NUMBER.match(ident):
            bad.append("id_number: an ID card, bank card or phone number")
        if ident and hasher is None:
            bad.append("id_number: no privacy key on this machine to hash it (leave it empty: check-in by code)")
        if bad:
            problems.append(f"line {line}: " + "; ".join(bad))
            continue
        name = get["name"]
        out.append((line, m.Book(code=get["code"].upper(), at=at, business=get["business"], tier=tier,
                                 customer=hasher(ident) if ident and hasher else "",
                                 masked_name=mask_name(name, m.MAX_MASKED_NAME), source="csv", by=by)))
    if problems:
        raise ConfigError("bookings CSV refused, nothing was sent:\n  " + "\n  ".join(problems))
    return out


def send_bookings(bus: BusClient, books: list[tuple[int, m.Book]]) -> list[str]:
    """Book each row; returns the core's refusals by line."""
    refused = []
    for line, cmd in books:
        reply = bus.request(cmd)
        if not reply.ok:
            err = reply.error
            refused.append(f"line {line} ({cmd.code}): {err.en if err else 'refused'}")
    return refused


def import_file(cfg: BranchConfig, path: Path, bus: BusClient, hasher: Callable[[str], str] | None,
                by: str = "") -> tuple[int, list[str]]:
    books = read_bookings(cfg, path.read_text(encoding="utf-8"), hasher, by)
    refused = send_bookings(bus, books)
    return len(books) - len(refused), refused
