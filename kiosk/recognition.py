"""Customer recognition: a keyed hash of the card / passbook / ID number, a tier roster, age lanes.

The raw number is hashed the moment it arrives (HMAC-SHA256 with the branch's secret key, so a leaked
roster or journal cannot be reversed by hashing every possible card number) and then wiped. The key
lives in `[privacy] hash_key_file` (mode 0600, made once per branch with `qcall hash-key`; a kiosk
without it refuses to start), and is never logged or sent.
The bank exports its tier list as a CSV of card numbers; `build_roster` turns it into `hash,tier`
lines, so the kiosk never holds a raw number at all. Unknown media get the normal tier: recognition
never turns into an error the customer sees.

Name masking: the first character is kept and every other character becomes `*` (张三 -> 张*,
欧阳娜娜 -> 欧***). Compound surnames are not special-cased: keeping one character reveals the least
and needs no surname list. Latin names keep each word's initial (John Smith -> J*** S****).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hw.identity import Kind, Presented, Secret
from qbus.config import BranchConfig
from qbus.errors import QcallError
from qbus.messages import Via
from qbus.pii import mask_name

_LOG = logging.getLogger(__name__)

KEY_BYTES = 32
_HASH = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[0-9]{8,32}|[0-9]{17}[0-9X]")
ROSTER_HEADER = ["hash", "tier"]
_NUMBER_COLUMNS = ("number", "card", "card_no", "card_number", "account", "id_number", "卡号", "账号", "证件号")
_TIER_COLUMNS = ("tier", "level", "等级", "客户等级")


class PrivacyError(QcallError, PermissionError):
    """The hash key file is missing, unreadable or not private."""

    code = "privacy"
    zh = "密钥文件错误"


class RosterError(QcallError, ValueError):
    """The tier roster (or the bank CSV it is built from) is malformed; the message names the line."""

    code = "roster"
    zh = "客户名单格式错误"


# -- the key --------------------------------------------------------------------------------------
def load_key(path: str | Path, *, create: bool = False) -> bytes:
    """Read the hash key. A missing key is an error, not a new key: every kiosk and the roster must
    share one key (a kiosk that made its own would recognise nobody). `create=True` is for a
    throw-away key (tests); the branch's key is made once with `qcall hash-key`.

    Refuses a key file that group or others may read: the key is what keeps the hashes irreversible.
    """
    p = Path(path)
    if not p.exists():
        if not create:
            raise PrivacyError(f"{p}: hash key file does not exist; make the branch's key once with "
                               f"`qcall hash-key --out {p}` and copy that same file to every kiosk")
        make_key(p)
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise PrivacyError(f"{p}: cannot read hash key file") from err
    if mode & 0o077:
        raise PrivacyError(f"{p}: hash key file must not be readable by others (chmod 600)")
    try:
        key = bytes.fromhex(text)
    except ValueError as err:
        raise PrivacyError(f"{p}: hash key file is not hex") from err
    if len(key) < 16:
        raise PrivacyError(f"{p}: hash key is shorter than 16 bytes")
    return key


def make_key(p: Path) -> bool:
    """Write 32 random bytes as hex (mode 0600, directory 0700). False if the file already exists:
    a key is never replaced (every hash made with it would stop matching)."""
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return False
    except OSError as err:
        raise PrivacyError(f"{p}: cannot create hash key file") from err
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(KEY_BYTES) + "\n")
    _LOG.info("created a new hash key file %s", p)
    return True


def normalize_number(raw: str) -> str:
    """Digits (and a final X for ID numbers), spaces and dashes removed, upper case."""
    return re.sub(r"[\s-]", "", raw).upper()


class KeyedHasher:
    """HMAC-SHA256 of a number under the branch key. repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise PrivacyError("hash key is shorter than 16 bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "KeyedHasher(<key hidden>)"

    def hash_secret(self, secret: Secret) -> str:
        """Hash a Secret; the caller wipes it after (Recognizer does)."""
        return hmac.new(self._key, secret.view(), hashlib.sha256).hexdigest()

    def hash_number(self, number: str) -> str:
        """Hash a number from a file (roster building, staff cards)."""
        return hmac.new(self._key, normalize_number(number).encode("ascii"), hashlib.sha256).hexdigest()


# -- the roster ------------------------------------------------------------------------------------
class Roster:
    """Keyed hash -> tier code, loaded from the `hash,tier` CSV that build_roster writes."""

    def __init__(self, tiers: dict[str, str] | None = None) -> None:
        self._tiers: dict[str, str] = dict(tiers or {})

    @classmethod
    def load(cls, path: str | Path, *, known_tiers: set[str] | None = None) -> Roster:
        p = Path(path)
        try:
            with p.open(encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError) as err:
            raise RosterError(f"{p}: cannot read roster: {err}") from err
        out: dict[str, str] = {}
        for line, row in enumerate(rows, start=1):
            if not row or row == ROSTER_HEADER or row[0].startswith("#"):
                continue
            if len(row) != 2 or not _HASH.fullmatch(row[0]):
                raise RosterError(f"{p} line {line}: expected 'hash,tier' with a 64-hex hash")
            tier = row[1].strip()
            if known_tiers is not None and tier not in known_tiers:
                raise RosterError(f"{p} line {line}: no such tier {tier!r}")
            if out.get(row[0], tier) != tier:
                raise RosterError(f"{p} line {line}: this customer is listed twice with different tiers")
            out[row[0]] = tier
        _LOG.info("roster %s: %d customers", p, len(out))
        return cls(out)

    def tier_of(self, customer: str) -> str | None:
        return self._tiers.get(customer)

    def __len__(self) -> int:
        return len(self._tiers)


def build_roster(csv_in: str | Path, out: str | Path, key: bytes, *, tiers: set[str] | None = None) -> int:
    """Bank CSV (card / account / ID numbers with a tier) -> roster of keyed hashes. Returns rows written.

    The input needs a header naming a number column (number, card, card_no, account, id_number, 卡号,
    账号, 证件号) and a tier column (tier, level, 等级). Errors name the line, never the number. The
    output is written to a temporary file and renamed, mode 0600, so a failed build leaves the old one.
    """
    hasher = KeyedHasher(key)
    src, dst = Path(csv_in), Path(out)
    try:
        with src.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as err:
        raise RosterError(f"{src}: cannot read: {err}") from err
    if not rows:
        raise RosterError(f"{src}: empty file")
    num_col, tier_col = _columns(src, rows[0])
    result: dict[str, tuple[str, int]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(num_col, tier_col):
            raise RosterError(f"{src} line {line}: missing columns")
        number, tier = normalize_number(row[num_col]), row[tier_col].strip()
        if not _NUMBER.fullmatch(number):
            raise RosterError(f"{src} line {line}: not a card, account or ID number")
        if tiers is not None and tier not in tiers:
            raise RosterError(f"{src} line {line}: no such tier {tier!r}")
        h = hasher.hash_number(number)
        if h in result and result[h][0] != tier:
            raise RosterError(f"{src} line {line}: same number as line {result[h][1]} with another tier")
        result[h] = (tier, line)
    _write_roster(dst, {h: t for h, (t, _) in result.items()})
    _LOG.info("roster built: %d customers -> %s", len(result), dst)
    return len(result)


def _columns(src: Path, header: list[str]) -> tuple[int, int]:
    names = [h.strip().lower() for h in header]
    num = next((i for i, n in enumerate(names) if n in _NUMBER_COLUMNS), None)
    tier = next((i for i, n in enumerate(names) if n in _TIER_COLUMNS), None)
    if num is None or tier is None:
        raise RosterError(f"{src} line 1: header needs a number column (card, account, ...) and a tier column")
    return num, tier


def _write_roster(dst: Path, rows: dict[str, str]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(ROSTER_HEADER)
            for h in sorted(rows):
                w.writerow([h, rows[h]])
        os.replace(tmp, dst)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RosterError(f"{dst}: cannot write roster: {err.strerror}") from err


# -- age and names ---------------------------------------------------------------------------------
def age_on(birth: date, today: date) -> int:
    """Whole years on `today` (a 29 February birthday counts from 1 March in other years)."""
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


# -- putting it together ---------------------------------------------------------------------------
_VIA: dict[Kind, Via] = {"bank_card": "bank_card", "passbook": "passbook", "id_card": "id_card"}


@dataclass(frozen=True)
class Recognized:
    """What the kiosk keeps of a presented medium: no raw number, a masked name at most."""

    customer: str  # keyed hash
    tier: str
    via: Via
    masked_name: str = ""
    age: int | None = None
    in_roster: bool = False


class Recognizer:
    """Presented -> Recognized: hash at once, wipe, look up the roster, apply the age lane."""

    def __init__(self, cfg: BranchConfig, hasher: KeyedHasher, roster: Roster | None = None,
                 *, age_tier: str | None = None) -> None:
        self.hasher = hasher
        self.roster = roster or Roster()
        self.priority_age = cfg.privacy.priority_age
        self._rank = {t.code: t.rank for t in cfg.tier}
        self.normal_tier = max((t for t in cfg.tier if not t.priority), key=lambda t: t.rank).code
        self.age_tier = age_tier if age_tier is not None else _default_age_tier(cfg)
        if self.age_tier and self.age_tier not in self._rank:
            raise RosterError(f"age tier {self.age_tier!r} is not a configured tier")

    def hash_of(self, presented: Presented) -> str:
        """Keyed hash of the medium; wipes the raw number."""
        try:
            return self.hasher.hash_secret(presented.number)
        finally:
            presented.wipe()

    def recognize(self, presented: Presented, today: date) -> Recognized:
        customer = self.hash_of(presented)
        return self.from_hash(customer, presented, today)

    def from_hash(self, customer: str, presented: Presented, today: date) -> Recognized:
        """The tier for an already hashed medium (the flow hashes first to spot staff cards)."""
        listed = self.roster.tier_of(customer)
        tier = listed if listed in self._rank else self.normal_tier
        if listed is not None and listed not in self._rank:
            _LOG.warning("roster tier %r is not configured; treating the customer as %s", listed, tier)
        age = age_on(presented.birth_date, today) if presented.birth_date else None
        if age is not None and self.age_tier and age >= self.priority_age:
            tier = min(tier, self.age_tier, key=lambda t: self._rank[t])
        return Recognized(
            customer=customer,
            tier=tier,
            via=_VIA[presented.kind],
            masked_name=mask_name(presented.name),
            age=age,
            in_roster=listed is not None,
        )


def _default_age_tier(cfg: BranchConfig) -> str:
    """The tier named "priority" if there is one, else the first staff-only priority tier, else none."""
    codes = {t.code for t in cfg.tier}
    if "priority" in codes:
        return "priority"
    staff_only = [t for t in cfg.tier if t.priority and t.by_staff_only]
    return staff_only[0].code if staff_only else ""
