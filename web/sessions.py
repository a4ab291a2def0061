"""Signed-cookie sessions with expiry, CSRF tokens, and the login rate limit.

The cookie holds a random session id signed with the branch's session secret (itsdangerous), so a
forged or altered cookie is refused before anything is looked up. The service also keeps the
live sessions in memory: logout revokes one at once (a copied cookie stops working), and a
restart of the service signs everybody out (they log in again; nothing else is lost). Each
session has its own CSRF token, required on every form; the cookie is HttpOnly and SameSite=Strict.
The clock is injected so expiry is tested without waiting.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from web.errors import WebError
from web.users import User

COOKIE = "qcall_session"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    login: str
    name: str
    role: str
    csrf: str
    expires: float

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


def load_secret(path: Path, *, create: bool = True) -> bytes:
    """The session secret (32 random bytes, hex). Made on first start (0600) when `create`."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise WebError(f"{path}: no session secret file") from None
        text = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(text + "\n")
        except OSError as err:
            raise WebError(f"{path}: cannot write the session secret: {err.strerror}") from err
    except OSError as err:
        raise WebError(f"{path}: cannot read the session secret: {err.strerror}") from err
    if len(text) < 32:
        raise WebError(f"{path}: the session secret is too short (need 32+ characters)")
    return text.encode()


class Sessions:
    def __init__(self, secret: bytes, minutes: float, clock: Callable[[], float]) -> None:
        self._signer = URLSafeSerializer(secret, salt="qcall-session")
        self.ttl_s = minutes * 60.0
        self.clock = clock
        self._live: dict[str, Session] = {}

    def create(self, user: User) -> tuple[str, Session]:
        """A new session for `user`: (cookie value, session)."""
        self._expire()
        s = Session(secrets.token_urlsafe(18), user.login, user.name, user.role, secrets.token_urlsafe(24),
                    self.clock() + self.ttl_s)
        self._live[s.sid] = s
        return self._signer.dumps(s.sid), s

    def load(self, cookie: str | None) -> Session | None:
        """The live session of a cookie; None when missing, forged, revoked or expired."""
        if not cookie:
            return None
        try:
            sid = self._signer.loads(cookie)
        except BadSignature:
            return None
        s = self._live.get(sid) if isinstance(sid, str) else None
        if s is None:
            return None
        if s.expires <= self.clock():
            self._live.pop(sid, None)
            return None
        return s

    def alive(self, s: Session) -> bool:
        """Still signed in (not revoked, not expired): the cheap check an open event stream makes."""
        return self._live.get(s.sid) is s and s.expires > self.clock()

    def revoke(self, sid: str) -> None:
        self._live.pop(sid, None)

    def _expire(self) -> None:
        now = self.clock()
        for sid in [k for k, s in self._live.items() if s.expires <= now]:
            del self._live[sid]


def csrf_ok(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token or "")


class LoginLimiter:
    """At most `attempts` failed logins per key (a login name, a client address) per `window_s`."""

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float]) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self._fails: dict[str, deque[float]] = {}

    def wait_s(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        worst = 0.0
        for key in keys:
            q = self._fails.get(key)
            if not q:
                continue
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.attempts:
                worst = max(worst, q[0] + self.window_s - now)
        return worst

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._fails.setdefault(key, deque()).append(now)
        if len(self._fails) > 10_000:  # a scan of many names must not grow memory forever
            for k in [k for k, q in self._fails.items() if not q or q[-1] <= now - self.window_s]:
                del self._fails[k]

    def succeeded(self, login: str) -> None:
        self._fails.pop(login, None)
