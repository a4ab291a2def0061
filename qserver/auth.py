"""Who may send which command. The broker's ACL fixes who may publish on which topic; this checks
what the payload asks for, which an ACL cannot see. The roles and what each may send are
qbus.roles' table, the one the broker ACL is written from, so the two layers cannot drift. Teller
PINs are checked by qserver.pins (argon2id hashes, lockout).

The device is the last level of the `cmd/<device>` topic the request came on (the broker ties the
topic to the device's credential), never anything the payload claims. Beyond the op table (a
kiosk may only issue and cancel, counter 3 may only command counter 3, only a pad may rate), the
core enforces what the kiosk's own screen enforces:

- a staff-only tier needs `granted_by` naming a real lobby or manager member of staff, except an
  ID card's holder the kiosk recognised as elderly (`via="id_card"` with a customer hash);
- a kiosk may withdraw only a ticket it issued itself within `KIOSK_WITHDRAW_S` that is still
  waiting (its printer failed, or the reply came too late); any other cancel is staff's;
- a `reset_day` from a device must name a day the branch clock has reached;
- a `granted_by` on any tier names real lobby staff or a manager;
- a `book` past m.MAX_BOOKINGS held, a dashboard `ack_alert` past m.MAX_ACKS in a day, is refused
  (the retained state lists them all in one message, which must fit the broker);
- a command from the web service names the person acting (the web service signs its staff in
  itself, so a staff-only tier it issues is granted by that person);
- the door poster's identity (`web_poster*`, [web] poster) issues only walk-in tickets: no
  priority or staff-only tier, no customer, grant or appointment; stamped `via="poster"`.

`admit()` also stamps what the core knows better than the payload: the kiosk of an issue and the
source of a rating are the sending device.
"""

from __future__ import annotations

from typing import Any

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import QcallError
from qbus.pii import NO_RAW_NUMBER, has_raw_number
from qbus.roles import GRANTING_ROLES, allowed, may_send, op_of, role_of
from qcore import BranchCore, errors
from qcore.ticket import State
from qserver.clock import business_day
from qserver.pins import BadPin, PinLocked

__all__ = ["BadPin", "Forbidden", "PinLocked", "StaffGrantRequired", "admit"]

KIOSK_WITHDRAW_S = 120.0


class Forbidden(QcallError, PermissionError):
    code = "forbidden"
    zh = "无权进行此操作"


class RawNumberInText(QcallError, ValueError):
    """Free text (a desk ticket's reason, the hall notice, a kiosk's note) holding what looks like
    an ID card or bank card number: refused before the journal, whoever sent it (qbus.pii)."""

    code = "raw_number"
    zh = NO_RAW_NUMBER[0]


class StaffGrantRequired(Forbidden):
    """A staff-only tier without a valid grant by lobby staff or a manager."""

    code = "staff_grant_required"
    zh = "该客户级别需大堂工作人员授权"


def _free_text(cmd: m.Command) -> tuple[str, ...]:
    """What a person or a device wrote in words in this command (no other command has any)."""
    if isinstance(cmd, m.Issue):
        return (cmd.reason,)
    if isinstance(cmd, m.SetNotice):
        return (cmd.zh, cmd.en)
    if isinstance(cmd, m.KioskNote):
        return (cmd.detail,)
    return ()


def _check_free_text(cmd: m.Command) -> None:
    if has_raw_number(*_free_text(cmd)):
        raise RawNumberInText(f"{type(cmd).__name__}: free text may not hold an ID card or bank card number")


def admit(cfg: BranchConfig, core: BranchCore, device: str, cmd: m.Command, now: float) -> m.Command:
    """The command as it will be applied and journaled, or Forbidden / BadDay saying why not."""
    role, op = role_of(device), op_of(type(cmd))
    if not allowed(role, op):
        raise Forbidden(f"{device} ({role}) may not send {op}{_WHY.get(type(cmd), '')}")
    if not may_send(device, cmd):
        raise Forbidden(f"{device} may only command its own counter")
    _check_free_text(cmd)
    if role in ("web", "web_lobby") and not (cmd.granted_by if isinstance(cmd, m.Issue)
                                             else getattr(cmd, "by", "")):
        raise Forbidden(f"{device}: a command from the web service must name the person acting")
    if isinstance(cmd, m.Issue) and role == "web_poster":
        _check_poster(cfg, cmd)
        cmd = msgspec.structs.replace(cmd, kiosk=device, via="poster")
    elif isinstance(cmd, m.Issue) and role not in ("web", "web_lobby"):
        # (the web service signs its staff in itself and names them: checked just above)
        _check_grant(cfg, cmd)
        if role == "kiosk":
            cmd = msgspec.structs.replace(cmd, kiosk=device)
    elif isinstance(cmd, m.Cancel) and role == "kiosk":
        _check_withdraw(core, device, cmd.number, now)
    elif isinstance(cmd, m.Rate):
        cmd = msgspec.structs.replace(cmd, source=device)
    elif isinstance(cmd, m.Book | m.AckAlert):
        _check_room(core, cmd)
    elif isinstance(cmd, m.ResetDay) and role != "core":
        today = business_day(now, cfg.branch.timezone, cfg.hours.daily_reset)
        if cmd.day > today:  # both are YYYY-MM-DD here (the schema's pattern): text order is date order
            raise errors.BadDay(f"business day {cmd.day} has not begun (today is {today})",
                                zh="营业日尚未开始")
    return cmd


_WHY: dict[type, str] = {
    m.Rate: ": ratings come from the customer's rating pad",
    m.ClockStep: ": only the core service steps the branch clock",
    m.ConfirmClock: ": only a manager confirms the branch clock",
}


def _check_grant(cfg: BranchConfig, cmd: m.Issue) -> None:
    """A staff-only tier needs a real grant; a `granted_by` given on any tier must be a real one
    (the history and state/stats count grants per member of staff: a made-up name is none)."""
    tier = next((t for t in cfg.tier if t.code == cmd.tier), None)
    staff_only = tier is not None and tier.by_staff_only
    if not cmd.granted_by:
        if not staff_only:
            return
        if cmd.via == "id_card" and cmd.customer:
            return  # the kiosk read the holder's age from the ID card itself
    staff = next((t for t in cfg.teller if t.id == cmd.granted_by), None)
    if staff is None or staff.role not in GRANTING_ROLES:
        raise StaffGrantRequired(f"tier {cmd.tier}: granted_by must name lobby staff or a manager of the branch "
                                 f"(got {cmd.granted_by!r})")


def _check_room(core: BranchCore, cmd: m.Book | m.AckAlert) -> None:
    """What the retained state lists in one message stays within the schema's bound: a booking
    past m.MAX_BOOKINGS held, a dashboard acknowledgement past m.MAX_ACKS in a day, is refused
    here, before the journal (so a journal never holds one that a replay would have to refuse)."""
    if isinstance(cmd, m.Book):
        held = core.bookings
        if len(held) >= m.MAX_BOOKINGS and cmd.code.upper() not in held:
            raise errors.BookingsFull(f"the branch holds {m.MAX_BOOKINGS} bookings already (cancelled "
                                      "ones count until the day ends); book another day")
    elif cmd.key and len(core.acks) >= m.MAX_ACKS and cmd.key not in core.acks:
        raise errors.AcksFull(f"{m.MAX_ACKS} alerts were acknowledged today already; this one is not recorded")


def _check_poster(cfg: BranchConfig, cmd: m.Issue) -> None:
    """A remote ticket from the door's poster is a plain walk-in one: nobody was recognised and
    nobody granted anything, so no priority or staff-only tier, no customer, no appointment."""
    if not cfg.web.poster:
        raise Forbidden("remote tickets from the door's poster are off ([web] poster)")
    tier = next((t for t in cfg.tier if t.code == cmd.tier), None)
    if tier is not None and (tier.priority or tier.by_staff_only):
        raise Forbidden(f"the poster's remote ticket is a walk-in one: tier {cmd.tier} needs the kiosk or staff",
                        zh="远程取号只能取普通号")
    if cmd.granted_by or cmd.staff_pin or cmd.customer or cmd.masked_name or cmd.appointment_at:
        raise Forbidden("the poster's remote ticket names no customer, grant or appointment",
                        zh="远程取号只能取普通号")


def _check_withdraw(core: BranchCore, device: str, number: str, now: float) -> None:
    ticket: Any = core.tickets.get(number)
    if ticket is None:
        return  # the core answers unknown_ticket itself
    if ticket.kiosk != device or ticket.state != State.WAITING or now - ticket.issued_at > KIOSK_WITHDRAW_S:
        raise Forbidden(f"{device} may withdraw only a waiting ticket it issued in the last "
                        f"{KIOSK_WITHDRAW_S:g} s; {number} is for staff to cancel",
                        zh="取号机只能撤回自己刚发出的号码，请大堂工作人员处理")
