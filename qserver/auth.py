"""Who may send which command. The broker's ACL fixes who may publish on which topic; this
checks what the payload asks for, which an ACL cannot see (a kiosk may only issue tickets,
counter 3 may only command counter 3). The roles and what each may send are qbus.roles' table,
the one the broker ACL is written from, so the two layers cannot drift. Teller PINs are checked
by qserver.pins (argon2id hashes, lockout)."""

from __future__ import annotations

from qbus import messages as m
from qbus.errors import QcallError
from qbus.roles import may_send, role_of
from qserver.pins import BadPin, PinLocked

__all__ = ["BadPin", "Forbidden", "PinLocked", "check"]


class Forbidden(QcallError, PermissionError):
    code = "forbidden"
    zh = "无权进行此操作"


def check(device: str, cmd: m.Command) -> None:
    """Raise Forbidden unless `device` may send `cmd` (qbus.roles.may_send)."""
    role = role_of(device)
    if may_send(device, cmd):
        if role in ("web", "web_lobby") and not (cmd.granted_by if isinstance(cmd, m.Issue)
                                                 else getattr(cmd, "by", "")):
            raise Forbidden(f"{device}: a command from the web service must name the person acting")
        return
    if role == "counter" and isinstance(cmd, m.COUNTER_COMMANDS):
        raise Forbidden(f"{device} may only command its own counter")
    raise Forbidden(f"{device} ({role}) may not send {type(cmd).__name__}")
