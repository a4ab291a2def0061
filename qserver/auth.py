"""Who may send which command. The broker's ACL fixes who may publish on which topic; this
checks what the payload asks for, which an ACL cannot see (a kiosk may only issue tickets,
counter 3 may only command counter 3), and verifies teller PINs."""

from __future__ import annotations

import hmac
import re

from qbus import messages as m
from qbus.config import BranchConfig, pin_hash
from qbus.errors import QcallError


class Forbidden(QcallError, PermissionError):
    code = "forbidden"
    zh = "无权进行此操作"


class BadPin(QcallError, PermissionError):
    code = "bad_pin"
    zh = "柜员号或密码错误"


_COUNTER = re.compile(r"^counter(\d+)$")
MANAGER_OPS = (m.Cancel, m.Requeue, m.OpenCounter, m.CloseCounter, m.ResetDay, m.Tick, m.Pause, m.Resume)


def role_of(device: str) -> str:
    """kiosk* / counter<N> / bridge* / manager* / core / display* / anything else."""
    for role in ("kiosk", "bridge", "manager", "display", "core"):
        if device.startswith(role):
            return role
    return "counter" if _COUNTER.match(device) else "unknown"


def check(device: str, cmd: m.Command) -> None:
    """Raise Forbidden unless `device` may send `cmd`."""
    role = role_of(device)
    if isinstance(cmd, m.ClockStep) and role != "core":
        raise Forbidden(f"{device} may not step the branch clock (only the core service does)")
    if isinstance(cmd, m.ConfirmClock) and role != "manager":
        raise Forbidden(f"{device} ({role}) may not confirm the branch clock")
    if role in ("core", "manager"):
        return
    if role == "kiosk" and isinstance(cmd, m.Issue | m.Cancel):
        return
    if role == "bridge" and isinstance(cmd, m.COUNTER_COMMANDS):
        return
    if role == "counter" and isinstance(cmd, m.COUNTER_COMMANDS):
        match = _COUNTER.match(device)
        if match and int(match.group(1)) == getattr(cmd, "counter", -1):
            return
        raise Forbidden(f"{device} may only command its own counter")
    raise Forbidden(f"{device} ({role}) may not send {type(cmd).__name__}")


def verify_pin(cfg: BranchConfig, teller: str, pin: str) -> None:
    """Constant-time check of a teller PIN against the config's salted hash."""
    for t in cfg.teller:
        if t.id == teller and hmac.compare_digest(t.pin_sha256, pin_hash(teller, pin)):
            return
    raise BadPin(f"teller {teller!r}: wrong id or PIN")
