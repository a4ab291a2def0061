"""Lobby staff authorisation for priority tickets taken by button.

Buyers of queue systems complain that staff hand out priority tickets to favoured people, so the
priority button needs a lobby staff card or PIN (tellers with role lobby or manager), and each such
ticket records who granted it. Wrong PINs lock a staff id out for a while: a 4-digit PIN must not be
guessable by trying at the kiosk.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from qbus.config import BranchConfig, pin_hash
from qbus.errors import QcallError

_LOG = logging.getLogger(__name__)
GRANTING_ROLES = ("lobby", "manager")


class StaffDenied(QcallError, PermissionError):
    """Wrong staff id or PIN, or a role that may not grant priority."""

    code = "staff_denied"
    zh = "工号或密码错误"
    en_text = "Wrong staff ID or PIN."


class StaffLocked(StaffDenied):
    """Too many wrong PINs for this staff id; wait before trying again."""

    code = "staff_locked"
    zh = "密码错误次数过多，请稍后再试"
    en_text = "Too many wrong PINs. Please try again later."


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class StaffAuth:
    """Checks staff PINs and staff cards against the branch config."""

    def __init__(self, cfg: BranchConfig, *, max_failures: int = 5, lockout_s: float = 300.0) -> None:
        self._pins = {t.id: t.pin_sha256 for t in cfg.teller if t.role in GRANTING_ROLES}
        self._cards = {h: tid for h, tid in cfg.kiosk.staff_cards.items() if tid in self._pins}
        for tid in cfg.kiosk.staff_cards.values():
            if tid not in self._pins:
                _LOG.warning("kiosk.staff_cards: teller %s is not lobby staff or manager; card ignored", tid)
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._failures: dict[str, _Failures] = {}

    def check_pin(self, teller_id: str, pin: str, now: float) -> str:
        """Return the teller id when the PIN is right and the role may grant; raise StaffDenied."""
        f = self._failures.setdefault(teller_id, _Failures())
        if now < f.locked_until:
            raise StaffLocked(f"staff {teller_id} locked out after {self.max_failures} wrong PINs")
        want = self._pins.get(teller_id)
        # compare against a dummy when the id is unknown, so timing does not tell ids apart
        ok = hmac.compare_digest(pin_hash(teller_id, pin), want or "0" * 64) and want is not None
        if not ok:
            f.count += 1
            if f.count >= self.max_failures:
                f.locked_until, f.count = now + self.lockout_s, 0
                _LOG.warning("staff %s locked out of the kiosk after repeated wrong PINs", teller_id)
            raise StaffDenied(f"wrong staff id or PIN for {teller_id!r}")
        self._failures.pop(teller_id, None)
        return teller_id

    def by_card(self, card_hash: str) -> str | None:
        """The teller whose staff card has this keyed hash, or None."""
        return self._cards.get(card_hash)
