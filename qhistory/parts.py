"""A closed day as it travels to head office: `public(DayFacts)` split into parts that each fit
one MQTT packet, and joined again at head office.

Why split: the branch broker and the central broker refuse any packet over their
`max_packet_size` (64 KiB by default: a flood of big packets must not exhaust a branch Pi), and a
busy day's facts are megabytes (about 0.8 KB per ticket with its life). Raising the bound for
everybody to fit one rare message would weaken it for every client, so a day goes out as parts
`archive/<day>/<k>` (k = 1..n), each a valid `DayFacts` of the same day (the same record, a slice
of the lists) with its place `part` of `parts`. Head office keeps the parts it has and archives
the day into its history once all n are there; a part sent again (a replay, a bridge resend) is
the same part and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from qhistory.facts import DayFacts, public

LISTS = ("tickets", "spans", "alerts", "kiosk", "bookings")
MAX_PARTS = 10_000  # 10,000 parts of 60 KB: 600 MB, far past any day a branch can have


class ArchivePart(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One part of a day's archive (the payload of `archive/<day>/<part>`)."""

    branch: str
    day: str
    part: int
    parts: int
    facts: DayFacts


class PartError(ValueError):
    """Parts that do not make one day (a missing part, two days mixed, a fact of another branch)."""


_enc = msgspec.json.Encoder()


def split(facts: DayFacts, max_bytes: int) -> list[bytes]:
    """The day's public facts as encoded `ArchivePart`s of at most `max_bytes` each.

    Greedy over the encoded size of each fact: a part gets facts until the next would not fit.
    PartError when a single fact cannot fit in a part at all (it is never silently dropped)."""
    facts = public(facts)
    rec = facts.record
    empty = ArchivePart(branch=rec.branch, day=rec.day, part=MAX_PARTS, parts=MAX_PARTS,
                        facts=DayFacts(record=rec))
    overhead = len(_enc.encode(empty)) + len(LISTS)  # the envelope, and a comma per list's first item
    budget = max_bytes - overhead
    buckets: list[dict[str, list[msgspec.Struct]]] = [{name: [] for name in LISTS}]
    used = 0
    for name in LISTS:
        for item in getattr(facts, name):
            size = len(_enc.encode(item)) + 1
            if size > budget:
                raise PartError(f"{rec.branch} {rec.day}: one {name[:-1]} fact is {size} bytes, over the "
                                f"{max_bytes}-byte part (the broker's max_packet_size)")
            if used + size > budget:
                buckets.append({n: [] for n in LISTS})
                used = 0
            buckets[-1][name].append(item)
            used += size
    n = len(buckets)
    if n > MAX_PARTS:
        raise PartError(f"{rec.branch} {rec.day}: {n} parts, over {MAX_PARTS}")
    out = []
    for k, b in enumerate(buckets, 1):
        part = ArchivePart(branch=rec.branch, day=rec.day, part=k, parts=n,
                           facts=DayFacts(record=rec, **b))  # type: ignore[arg-type]
        out.append(_enc.encode(part))
    return out


def decode(payload: bytes, branch: str, day: str) -> ArchivePart:
    """One part as head office receives it on `<branch>/archive/<day>/<k>`: every fact must be
    of that branch and day (a branch cannot write another's history through a payload), and the
    customer hash is blanked whatever the sender did."""
    p = msgspec.json.decode(payload, type=ArchivePart)
    if p.branch != branch or p.day != day or p.facts.record.branch != branch or p.facts.record.day != day:
        raise PartError(f"the archive part names {p.branch}/{p.day}, sent on {branch}/{day}")
    if not 1 <= p.part <= p.parts <= MAX_PARTS:
        raise PartError(f"part {p.part} of {p.parts}: not a part")
    for name in LISTS:
        for item in getattr(p.facts, name):
            if item.branch != branch or item.day != day:
                raise PartError(f"a {name[:-1]} fact of {item.branch}/{item.day} in {branch}/{day}'s archive")
    return msgspec.structs.replace(p, facts=public(p.facts))


def join(parts: Iterable[ArchivePart]) -> DayFacts:
    """The whole day from all its parts (any order); PartError if one is missing or they differ."""
    got = sorted(parts, key=lambda p: p.part)
    if not got:
        raise PartError("no parts")
    n = got[0].parts
    if [p.part for p in got] != list(range(1, n + 1)) or any(p.parts != n for p in got):
        raise PartError(f"{got[0].branch} {got[0].day}: parts {[p.part for p in got]} of {n}")
    rec = got[0].facts.record
    if any(p.facts.record != rec for p in got):
        raise PartError(f"{rec.branch} {rec.day}: the parts carry different day records")
    lists: dict[str, list[msgspec.Struct]] = {name: [] for name in LISTS}
    for p in got:
        for name in LISTS:
            lists[name].extend(getattr(p.facts, name))
    return DayFacts(record=rec, **lists)  # type: ignore[arg-type]


def complete(parts: Sequence[ArchivePart]) -> bool:
    """Are all of the day's parts here (by their own count)?"""
    return bool(parts) and {p.part for p in parts} == set(range(1, parts[0].parts + 1))
