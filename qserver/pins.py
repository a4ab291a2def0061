"""Teller PINs: argon2id hashes in a secrets file on the branch server, and lockout after wrong PINs.

Why argon2id (argon2-cffi) rather than scrypt: it is memory-hard like scrypt, is the password-hashing
competition's winner and RFC 9106's recommendation, and its encoded form
(`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) carries its own salt and cost, so a file can mix old and
new costs and the cost can be raised later without a format change.

A 4-6 digit PIN has at most a million values: no hash makes a stolen file safe for long, so the
hashes never leave the branch server (`[pins] file`, mode 0600, read only by `qcall serve`), and the
online attack (a counter credential trying every PIN) is stopped by the lockout, not by the hash.
The cost (64 MiB, 2 passes: ~85 ms on one core of the build machine, a few hundred on a Pi 4) runs on the core's
thread, which the lockout bounds to a few checks per window per device.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import ConfigError, QcallError

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cost:
    """argon2id parameters. Tests pass a cheap one; branches use DEFAULT_COST."""

    time_cost: int = 2
    memory_kib: int = 64 * 1024
    parallelism: int = 1

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_kib,
                              parallelism=self.parallelism)


DEFAULT_COST = Cost()
# For tests and benches, where PINs are made up and thousands of checks must stay fast. Hashes
# carry their cost, so a book made with it is only ever as weak as it says.
CHEAP_COST = Cost(time_cost=1, memory_kib=8, parallelism=1)
PIN_LENGTHS = range(4, 9)  # up to what a keypad takes (counter_panel.machine.MAX_ENTRY_DIGITS)
PIN_RULES = "v1"  # the weak-PIN rules below; a PIN set under them says so in the file


class BadPin(QcallError, PermissionError):
    code = "bad_pin"
    zh = "柜员号或密码错误"


class PinLocked(BadPin):
    code = "pin_locked"
    zh = "密码错误次数过多，已锁定，请稍后再试或联系主管"


class WeakPin(QcallError, ValueError):
    code = "weak_pin"
    zh = "密码过于简单"


# ---------------------------------------------------------------------------------- weak PINs


def weak_reason(teller_id: str, pin: str) -> str:
    """Why `pin` must not be a teller's PIN ("" when it may): too short, the demo's PIN (the teller
    id), one digit repeated, a run up or down (1234, 9876), or a famous one (0000, 1234, 123456)."""
    if not pin.isdigit() or pin != pin.strip() or not pin.isascii():
        return "a PIN is digits only (the keypads have no letters)"
    if len(pin) not in PIN_LENGTHS:
        return f"a PIN has {PIN_LENGTHS.start}-{PIN_LENGTHS.stop - 1} digits"
    if pin in teller_id:
        return "the PIN must not be (part of) the teller id: that is the demo's example PIN"
    if len(set(pin)) == 1:
        return "one digit repeated is the first thing anyone tries"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {9}):
        return "a run of digits (1234, 9876) is the second thing anyone tries"
    if pin in ("123123", "121212", "112233", "520520", "131420", "147258", "159753", "654321"):
        return "this PIN is on every list of common PINs"
    return ""


# ---------------------------------------------------------------------------------- the file


@dataclass
class PinBook:
    """Teller id -> argon2id hash. `example` marks the demo's book (refused by `qcall serve`).
    `ruled`: the ids whose PIN passed `weak_reason` when it was set (`rules = "v1"` in the file):
    the hash cannot say whether a PIN is 0000, so `qcall serve` trusts only PINs set through the
    rules, at no cost at start-up."""

    hashes: dict[str, str] = field(default_factory=dict)
    example: bool = False
    path: Path | None = None
    ruled: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: str | Path) -> PinBook:
        """Read a pins file. ConfigError (naming the file and how to make it) if missing or bad."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise ConfigError(f"{p}: no PIN file; set each teller's PIN on this server with "
                              f"`qcall pin set TELLER_ID --config BRANCH.toml`") from err
        except OSError as err:
            raise ConfigError(f"{p}: cannot read the PIN file: {err.strerror}") from err
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p}: not valid TOML: {err}") from err
        tellers = raw.get("teller", {})
        hashes: dict[str, str] = {}
        ruled: set[str] = set()
        if not isinstance(tellers, dict):
            raise ConfigError(f"{p}: [teller.<id>] tables expected")
        for tid, entry in tellers.items():
            h = entry.get("hash") if isinstance(entry, dict) else None
            if not isinstance(h, str) or not h.startswith("$argon2id$"):
                raise ConfigError(f"{p}: teller.{tid}.hash: an argon2id hash is expected "
                                  "(`qcall pin set` writes it)")
            hashes[str(tid)] = h
            if entry.get("rules") == PIN_RULES:
                ruled.add(str(tid))
        return cls(hashes, bool(raw.get("example", False)), p, ruled)

    @classmethod
    def from_pins(cls, pins: dict[str, str], cost: Cost = DEFAULT_COST, *, example: bool = False) -> PinBook:
        """A book made from plain PINs (the demo's example PINs, tests)."""
        ph = cost.hasher()
        return cls({tid: ph.hash(pin) for tid, pin in pins.items()}, example)

    @classmethod
    def example_for(cls, cfg: BranchConfig, cost: Cost = DEFAULT_COST) -> PinBook:
        """The demo's PINs: each teller's PIN is their id (1001 -> 1001). Marked as an example."""
        return cls.from_pins({t.id: t.id for t in cfg.teller}, cost, example=True)

    @classmethod
    def checked(cls, pins: dict[str, str], cost: Cost = DEFAULT_COST) -> PinBook:
        """A book of PINs that each pass the weak-PIN rules (WeakPin otherwise), as `pin set` makes."""
        book = cls()
        for tid, pin in pins.items():
            book.set(tid, pin, cost)
        return book

    def set(self, teller_id: str, pin: str, cost: Cost = DEFAULT_COST) -> None:
        """Store a teller's new PIN; WeakPin (saying why) when the rules refuse it."""
        why = weak_reason(teller_id, pin)
        if why:
            raise WeakPin(f"PIN refused: {why}")
        self.hashes[teller_id] = cost.hasher().hash(pin)
        self.ruled.add(teller_id)

    def save(self, path: str | Path) -> Path:
        """Write the file atomically with mode 0600 (a half-written file would lock everyone out)."""
        p = Path(path)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = ["# qcall teller PINs (argon2id). Read only by `qcall serve` on the branch server:",
                 "# never copy this file to a kiosk, a counter PC or the display. Written by `qcall pin set`.",
                 f"# Saved {now}."]
        if self.example:
            lines.append("example = true  # the demo's PINs: `qcall serve` refuses this file")
        for tid in sorted(self.hashes):
            lines += ["", f"[teller.{json.dumps(tid)}]", f"hash = {json.dumps(self.hashes[tid])}"]
            if tid in self.ruled:
                lines.append(f"rules = {json.dumps(PIN_RULES)}  # passed the weak-PIN rules when set")
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
        return p

    def verify(self, teller_id: str, pin: str) -> bool:
        """True when `pin` is the teller's. An unknown id costs the same time as a wrong PIN."""
        want = self.hashes.get(teller_id)
        try:
            return PasswordHasher().verify(want or _DUMMY.value(), pin) and want is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class _Dummy:
    """A hash to check unknown ids against, made once at the default cost (lazily: tests never pay)."""

    def __init__(self) -> None:
        self._hash = ""

    def value(self) -> str:
        if not self._hash:
            self._hash = DEFAULT_COST.hasher().hash("not-a-pin")
        return self._hash


_DUMMY = _Dummy()


def refuse_unsafe(book: PinBook, cfg: BranchConfig) -> None:
    """Outside the demo: no example file, a PIN for every teller, each set through the weak-PIN
    rules (they are applied when the PIN is known: `qcall pin set`), and none still the demo's."""
    where = book.path or "the PIN file"
    if book.example:
        raise ConfigError(f"{where}: holds the demo's example PINs; set real ones with `qcall pin set ID`")
    for t in cfg.teller:
        if t.id not in book.hashes:
            raise ConfigError(f"{where}: teller {t.id} ({t.name}) has no PIN; `qcall pin set {t.id}`")
        if t.id not in book.ruled:
            raise ConfigError(f"{where}: teller {t.id}'s PIN was not set through the weak-PIN rules "
                              f"(0000, 1234, the teller id ... are refused); `qcall pin set {t.id}`")
        if book.verify(t.id, t.id):
            raise ConfigError(f"{where}: teller {t.id}'s PIN is the demo's example PIN (the teller id); "
                              f"`qcall pin set {t.id}`")


def check_file_mode(path: Path) -> None:
    """The PIN file must not be readable by group or others (a hash of a short PIN is the PIN)."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from err
    if mode & 0o077:
        raise ConfigError(f"{path}: mode {mode:04o} lets others read the PIN hashes; `chmod 600 {path}`")


# ---------------------------------------------------------------------------------- lockout


@dataclass
class _Strikes:
    count: int = 0
    locked_until: float = 0.0
    lockouts: int = 0  # in a row, without a right PIN in between: each one lasts twice as long

    def any(self) -> bool:
        return bool(self.count or self.locked_until or self.lockouts)


MAX_LOCKOUT_S = 24 * 3600.0


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    """What survives a restart: per teller id and per device, [wrong PINs in a row, locked until
    (branch time), lockouts in a row]. Counts and times only: never a PIN, never a hash."""

    v: int = 1
    tellers: dict[str, tuple[int, float, int]] = {}
    devices: dict[str, tuple[int, float, int]] = {}


class PinGuard:
    """Checks PINs for the core service and locks out guessing.

    A teller id is locked for `lockout_s` after `max_failures` wrong PINs in a row; a device after
    `device_max_failures` wrong PINs for any ids (so trying every teller id gains nothing). Each
    further lockout without a right PIN in between lasts twice as long (at most a day), so waiting
    out the windows gives a guesser a handful of tries a day, not hundreds. While locked nothing
    is hashed, so a flood of attempts costs the core nothing. Each lockout is logged
    (naming the teller, the device and the counter) and queued in `alerts` for `alert/pin_lockout`.
    A changed PIN file is re-read at the next check, which also lifts that teller's lockout.

    The strikes survive a restart or a crash of the core service: `saved` is what `save` was last
    given (qserver.store keeps it in the journal's meta table, fsynced before the wrong PIN's reply
    goes out), so making the core restart gives a guesser no fresh tries. Only a change is saved:
    a wrong PIN, a lockout, a right PIN after wrong ones, an unlock (a few writes per window per
    device: a locked-out flood writes nothing).
    """

    def __init__(self, book: PinBook, cfg: BranchConfig, *, saved: str = "",
                 save: Callable[[str], None] | None = None) -> None:
        self.book = book
        self.roles = {t.id: t.role for t in cfg.teller}
        p = cfg.pins
        self.max_failures = p.max_failures
        self.device_max_failures = p.device_max_failures
        self.lockout_s = p.lockout_minutes * 60.0
        self.zone = ZoneInfo(cfg.branch.timezone)  # what a teller's "until" is read in
        self.alerts: list[m.PinLockout] = []
        self._tellers: dict[str, _Strikes] = {}
        self._devices: dict[str, _Strikes] = {}
        self._mtime = _mtime(book.path)
        self._save = save
        if saved:
            self._restore(saved)

    def _restore(self, saved: str) -> None:
        try:
            got = msgspec.json.decode(saved, type=_Saved)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            _LOG.error("saved PIN lockouts cannot be read (%s): starting without them", err)
            return
        self._tellers = {t: _Strikes(*v) for t, v in got.tellers.items() if t in self.roles}
        self._devices = {d: _Strikes(*v) for d, v in got.devices.items()}
        locked = [f"teller {t}" for t, s in self._tellers.items() if s.locked_until]
        locked += [f"device {d}" for d, s in self._devices.items() if s.locked_until]
        _LOG.warning("PIN strikes restored: %d teller ids, %d devices with wrong PINs; locked (until "
                     "their window ends): %s", len(self._tellers), len(self._devices), ", ".join(locked) or "none")

    def _persist(self) -> None:
        if self._save is None:
            return
        keep = _Saved(tellers={t: (s.count, s.locked_until, s.lockouts) for t, s in self._tellers.items() if s.any()},
                      devices={d: (s.count, s.locked_until, s.lockouts) for d, s in self._devices.items() if s.any()})
        self._save(msgspec.json.encode(keep).decode())

    def check(self, teller: str, pin: str, *, device: str, counter: int, now: float,
              roles: tuple[str, ...] = ()) -> None:
        """Return when `pin` is `teller`'s (and, with `roles`, the teller has one of them); raise
        PinLocked while the teller or device is locked out, BadPin otherwise."""
        self._reload()
        dev = self._devices.setdefault(device, _Strikes())
        known = teller in self.roles
        who = self._tellers.setdefault(teller, _Strikes()) if known else _Strikes()
        if now < dev.locked_until or now < who.locked_until:
            until = max(dev.locked_until, who.locked_until)
            raise PinLocked(f"teller {teller!r} at {device}: locked out after wrong PINs until "
                            f"{datetime.fromtimestamp(until, self.zone):%H:%M:%S} (branch time)")
        ok = self.book.verify(teller, pin) and (not roles or self.roles.get(teller) in roles)
        if ok:
            cleared = who.any() or dev.count or dev.lockouts
            self._tellers.pop(teller, None)
            dev.count = dev.lockouts = 0
            if cleared:
                self._persist()
            return
        dev.count += 1
        who.count += 1
        _LOG.warning("wrong PIN for teller %s at %s (counter %d): %d in a row for the teller, %d from "
                     "the device", teller if known else "(unknown id)", device, counter, who.count, dev.count)
        if known and who.count >= self.max_failures:
            self._lock(who, "teller", teller, device, counter, now)
        if dev.count >= self.device_max_failures:
            self._lock(dev, "device", teller if known else "", device, counter, now)
        self._persist()  # before the reply: a restart now must not forget this strike
        raise BadPin(f"teller {teller!r}: wrong id or PIN")

    def unlock(self, teller: str) -> bool:
        """A manager lifts the teller's lockout and that of every device locked guessing it."""
        self._tellers.pop(teller, None)
        freed = [d for d, s in self._devices.items() if s.locked_until]
        for d in freed:
            self._devices.pop(d)
        self._persist()
        _LOG.warning("PIN lockout of teller %s lifted by a manager (devices freed: %s)",
                     teller, ", ".join(freed) or "none")
        return True

    def _lock(self, s: _Strikes, kind: str, teller: str, device: str, counter: int, now: float) -> None:
        span = min(self.lockout_s * 2 ** s.lockouts, MAX_LOCKOUT_S)
        failures, s.count, s.locked_until, s.lockouts = s.count, 0, now + span, s.lockouts + 1
        _LOG.error("PIN LOCKOUT (%s): teller %s at %s (counter %d) after %d wrong PINs; locked for %.0f min",
                   kind, teller or "(unknown id)", device, counter, failures, span / 60)
        self.alerts.append(m.PinLockout(at=now, kind="teller" if kind == "teller" else "device",
                                        teller=teller, device=device, counter=counter,
                                        failures=failures, until=s.locked_until))

    def _reload(self) -> None:
        path = self.book.path
        mtime = _mtime(path)
        if path is None or mtime == self._mtime:
            return
        try:
            fresh = PinBook.load(path)
        except ConfigError as err:
            _LOG.error("PIN file changed but cannot be read (keeping the old PINs): %s", err)
            return
        changed = {t for t, h in fresh.hashes.items() if self.book.hashes.get(t) != h}
        for t in changed:
            self._tellers.pop(t, None)
        self.book, self._mtime = fresh, mtime
        if changed:
            self._persist()
        _LOG.info("PIN file %s re-read: %d tellers, new PINs for %s", path, len(fresh.hashes),
                  ", ".join(sorted(changed)) or "nobody")


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime_ns if path is not None else 0.0
    except OSError:
        return 0.0
