"""Lobby staff authorisation for priority tickets taken by button.

Buyers of queue systems complain that staff hand out priority tickets to favoured people, so the
priority button needs a lobby staff card or PIN (tellers with role lobby or manager), and each such
ticket records who granted it. The kiosk holds no PIN hashes (they live only on the branch server):
it checks that the id may grant, and the PIN typed travels inside the issue request (`staff_pin`),
where the core checks it, with the same lockout as the counters' logins.
"""

from __future__ import annotations

import logging

from qbus.config import BranchConfig
from qbus.errors import QcallError
from qbus.roles import GRANTING_ROLES

_LOG = logging.getLogger(__name__)


class StaffDenied(QcallError, PermissionError):
    """A staff id that may not grant priority (unknown, or a counter teller)."""

    code = "staff_denied"
    zh = "工号或密码错误"
    en_text = "Wrong staff ID or PIN."


class StaffAuth:
    """Which staff ids may grant priority, and the staff cards (keyed hash -> teller id)."""

    def __init__(self, cfg: BranchConfig) -> None:
        self._granting = {t.id for t in cfg.teller if t.role in GRANTING_ROLES}
        self._cards = {h: tid for h, tid in cfg.kiosk.staff_cards.items() if tid in self._granting}
        for tid in cfg.kiosk.staff_cards.values():
            if tid not in self._granting:
                _LOG.warning("kiosk.staff_cards: teller %s is not lobby staff or manager; card ignored", tid)

    def check_pin(self, teller_id: str, pin: str) -> str:
        """The teller id when that id may grant and the PIN has a PIN's shape; the core checks the
        PIN itself when the ticket is issued. StaffDenied otherwise (same words: ids stay private)."""
        if teller_id not in self._granting or not pin.isdigit():
            raise StaffDenied(f"staff id {teller_id!r} may not grant priority")
        return teller_id

    def by_card(self, card_hash: str) -> str | None:
        """The teller whose staff card has this keyed hash, or None."""
        return self._cards.get(card_hash)
