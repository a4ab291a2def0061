"""Device roles: who a device id is and which command ops its role may send.

The broker ACL (qbus.provision) decides who may publish on which topic; it cannot read payloads,
so the core service checks the op with `allowed()` and, for a counter, that the command names the
device's own counter. The two layers are written from this one table so they cannot drift.

Roles, by device id: `kiosk*`, `bridge*`, `manager*`, `display*`, `core*`, `web_lobby*`, `web_poster*`, `web*`
by prefix, then `counter<N>` (N = 1..999: a teller's keypad or software panel) and `pad<N>`
(counter N's customer-facing rating pad: the serial bridge speaks for it, or a rating tablet has
its own credential); anything else is `unknown` and may do nothing. qserver.auth enforces this
same table on every payload. Only a pad may rate, and only its own counter: a teller never rates
their own service.
"""

from __future__ import annotations

import re
from typing import Literal

from qbus import messages as m

Role = Literal["kiosk", "bridge", "manager", "display", "core", "counter", "pad", "web", "web_lobby", "web_poster",
               "unknown"]

_COUNTER = re.compile(r"^counter([1-9]\d{0,2})$")
_PAD = re.compile(r"^pad([1-9]\d{0,2})$")
# Staff roles (the config's teller.role) that may grant a staff-only tier at the kiosk.
GRANTING_ROLES = ("lobby", "manager")
# `web_lobby` and `web_poster` before `web`: the web service's narrower identities.
_PREFIXED: tuple[Role, ...] = ("kiosk", "bridge", "manager", "display", "core", "web_lobby", "web_poster", "web")


def op_of(cls: type[m.Msg]) -> str:
    """The wire `op` of a command class (`m.CallNext` -> `call_next`)."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise ValueError(f"{cls.__name__} is not a command")
    return tag


ALL_OPS: frozenset[str] = frozenset(op_of(c) for c in m.Command.__args__)
COUNTER_OPS: frozenset[str] = frozenset(op_of(c) for c in m.COUNTER_COMMANDS)

OPS_BY_ROLE: dict[Role, frozenset[str]] = {
    # Only the core steps its own clock (qserver.clock); only a person confirms it. Nobody but a
    # customer's pad rates (a teller must not rate their own service).
    "core": ALL_OPS - {op_of(m.ConfirmClock), op_of(m.Rate)},
    "manager": ALL_OPS - {op_of(m.ClockStep), op_of(m.Rate)},
    "kiosk": frozenset({op_of(m.Issue), op_of(m.Cancel), op_of(m.KioskNote), op_of(m.CheckIn)}),
    "counter": COUNTER_OPS,
    "bridge": COUNTER_OPS,
    "pad": frozenset({op_of(m.Rate)}),
    "display": frozenset(),
    # The web service acts for people, so every command names them (`by` / `granted_by`). Its
    # manager identity may also run the counters from the office; its lobby identity may not.
    "web": frozenset(op_of(c) for c in (m.Issue, m.Cancel, m.Requeue, m.Move, m.AckAlert, m.SetNotice,
                                        m.OpenCounter, m.CloseCounter, m.Pause, m.Resume, m.Book,
                                        m.CancelBooking)),
    "web_lobby": frozenset(op_of(c) for c in (m.Issue, m.Cancel, m.Requeue, m.Move, m.AckAlert,
                                              m.SetNotice, m.Book, m.CancelBooking)),
    # The door poster's remote ticket (web.poster): a walk-in number for a customer's phone and
    # nothing else; the core also holds it to the walk-in tiers (qserver.auth).
    "web_poster": frozenset({op_of(m.Issue)}),
    "unknown": frozenset(),
}


def role_of(device: str) -> Role:
    """`kiosk1` -> kiosk, `counter3` -> counter, `pad3` -> pad, `bridge1` -> bridge, `zz` -> unknown."""
    for role in _PREFIXED:
        if device.startswith(role):
            return role
    if _COUNTER.match(device):
        return "counter"
    return "pad" if _PAD.match(device) else "unknown"


def counter_of(device: str) -> int:
    """The counter a `counter<N>` or `pad<N>` device speaks for; 0 for every other device."""
    match = _COUNTER.match(device) or _PAD.match(device)
    return int(match.group(1)) if match else 0


def allowed(role: Role, op: str) -> bool:
    """May a device of `role` send command `op`? (For a counter the core also checks the number.)"""
    return op in OPS_BY_ROLE.get(role, frozenset())


def may_send(device: str, cmd: m.Command) -> bool:
    """The whole payload check: role allows the op, and a counter only commands its own counter."""
    role = role_of(device)
    if not allowed(role, op_of(type(cmd))):
        return False
    if role in ("counter", "pad"):
        return getattr(cmd, "counter", 0) == counter_of(device)
    return True
