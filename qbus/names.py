"""The masked name (张*): the most of a customer's name that may leave the place it was read.

One rule for every producer: the kiosk masks what it reads from an ID card, the web masks what the
lobby types for a booking, `qcall book-import` masks the bank's booking export. So a customer's
booking, ticket, hall screen and phone page all show the same form.
"""

from __future__ import annotations

from qbus.messages import MAX_NAME


def mask_name(name: str, limit: int = MAX_NAME) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***, John Smith -> J*** S****; empty stays empty. The first
    character only (no compound-surname list: one character reveals least). At most `limit`
    characters (messages.MAX_NAME on a ticket, MAX_MASKED_NAME on a booking: the bus refuses
    longer), however long the name given."""
    name = " ".join(name.split())
    if not name:
        return ""
    if any(ord(c) > 0x2E7F for c in name) and " " not in name:
        return (name[0] + "*" * (len(name) - 1))[:limit]
    return " ".join(w[0] + "*" * (len(w) - 1) for w in name.split(" "))[:limit]
