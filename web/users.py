"""Personal logins for the web pages: a TOML users file next to the branch config.

Each person has their own login (never a shared `manager1`), a role (`manager` or `lobby`) and an
argon2id hash of their password (argon2-cffi's defaults: slow and salted, so a copied file does
not give the passwords away). `qcall user add` writes entries; the service reads the file at start
and again when it changes, so adding a person needs no restart.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from web.errors import UsersFileError

WebRole = Literal["manager", "lobby"]
LOGIN = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
_HASHER = PasswordHasher()
# Verified when the login is unknown, so an unknown login takes as long as a wrong password.
_DUMMY = _HASHER.hash("not-a-password")
MIN_PASSWORD = 8


class User(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    login: str
    name: str
    role: WebRole
    hash: str


class _File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    user: list[User] = []


def load_users(path: Path) -> dict[str, User]:
    """Every user of the file by login; UsersFileError naming the entry if one is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise UsersFileError(f"{path}: no users file; add the first person with `qcall user add`") from err
    except OSError as err:
        raise UsersFileError(f"{path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise UsersFileError(f"{path}: not valid TOML: {err}") from err
    try:
        users = msgspec.convert(raw, _File).user
    except msgspec.ValidationError as err:
        raise UsersFileError(f"{path}: {err}") from err
    out: dict[str, User] = {}
    for i, u in enumerate(users):
        if not LOGIN.match(u.login):
            raise UsersFileError(f"{path}: user[{i}].login {u.login!r}: lower-case letters, digits, '.', '-', '_'")
        if u.login in out:
            raise UsersFileError(f"{path}: user[{i}].login {u.login!r} is used twice")
        if not u.hash.startswith("$argon2"):
            raise UsersFileError(f"{path}: user[{i}].hash: not an argon2 hash (use `qcall user add`)")
        out[u.login] = u
    return out


def verify(users: dict[str, User], login: str, password: str) -> User | None:
    """The user if the password is right; None otherwise (same cost for an unknown login)."""
    user = users.get(login)
    try:
        _HASHER.verify(user.hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def add_user(path: Path, login: str, name: str, role: str, password: str) -> User:
    """Add (or replace: a new password, a new role) one person; the file is rewritten atomically, 0600."""
    if not LOGIN.match(login):
        raise UsersFileError(f"login {login!r}: 2-32 lower-case letters, digits, '.', '-', '_', starting with a letter")
    if role not in ("manager", "lobby"):
        raise UsersFileError(f"role {role!r}: manager or lobby")
    if len(password) < MIN_PASSWORD:
        raise UsersFileError(f"password: at least {MIN_PASSWORD} characters")
    if not name.strip() or len(name) > 32:
        raise UsersFileError("name: 1-32 characters (shown on the pages and in the journal's reports)")
    users = load_users(path) if path.exists() else {}
    user = User(login=login, name=name.strip(), role=role, hash=_HASHER.hash(password))  # type: ignore[arg-type]
    users[login] = user
    _write(path, list(users.values()))
    return user


def _write(path: Path, users: list[User]) -> None:
    lines = ["# qcall web users (`qcall user add`). Passwords are argon2id hashes, never plain text.", ""]
    for u in users:
        # JSON string escapes are valid TOML basic-string escapes.
        lines += ["[[user]]", f"login = {json.dumps(u.login)}", f"name = {json.dumps(u.name, ensure_ascii=False)}",
                  f"role = {json.dumps(u.role)}", f"hash = {json.dumps(u.hash)}", ""]
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        os.replace(tmp, path)
    except OSError as err:
        raise UsersFileError(f"{path}: cannot write: {err.strerror}") from err


class UserBook:
    """The users file, re-read when its modification time changes (a person added while running)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._users: dict[str, User] = {}
        self.users()

    def users(self) -> dict[str, User]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as err:
            raise UsersFileError(f"{self.path}: no users file; add the first person with `qcall user add`") from err
        if mtime != self._mtime:
            self._users = load_users(self.path)
            self._mtime = mtime
        return self._users

    def verify(self, login: str, password: str) -> User | None:
        return verify(self.users(), login, password)
