"""What of a customer may travel: the masked name (张*), and free text with no card or ID number.

One masking rule for every producer: the kiosk masks what it reads from an ID card, the web masks
what the lobby types for a booking, `qcall book-import` masks the bank's booking export. So a
customer's booking, ticket, hall screen and phone page all show the same form.

Free text a person types (a desk ticket's reason, the hall notice) or a device sends (a kiosk's
note) must not carry an ID card or bank card number: the web refuses it on the form, and the core
refuses it again before the journal (qserver.auth), whoever sent it.
"""

from __future__ import annotations

import re

from qbus.messages import MAX_NAME

# 15 digits or more, spaces or dashes between them allowed: a bank card (16-19), an ID card (18,
# the last maybe X), a passbook account. A phone number (11) or a ticket number is not caught.
RAW_NUMBER = re.compile(r"\d(?:[\s-]?\d){14,}")
NO_RAW_NUMBER = ("请勿填写证件号或卡号", "no ID card or bank card numbers here")


def has_raw_number(*texts: str) -> bool:
    """Whether any of `texts` holds what looks like a card or ID number."""
    return any(RAW_NUMBER.search(t) for t in texts if t)


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
