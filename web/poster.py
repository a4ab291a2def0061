"""The remote ticket from a QR poster at the branch door (`[web] poster`, off by default).

The screen by the door (`/poster`, a signed-in lobby page) shows a QR of `<base_url>/p/<code>`.
The code is an HMAC of the time window (`poster_minutes` long) under a key only this service
holds, so it changes every few minutes and cannot be worked out in advance: a photo of the poster
is useless from home after the next change. The code of the current and of the previous window
are accepted (someone who scanned just before the change still gets their number); older ones get
"scan the poster again".

One ticket per phone per day: the phone gets a signed cookie (a random phone id, the day, and
the ticket it took), and this service also remembers which phone ids took a ticket today, so a
cookie saved before taking a ticket and replayed later does not give a second one. What it cannot
stop: a phone that clears its cookies (or a private window, or a second phone) is a new phone. So
each window's code gives at most `poster_window_max` tickets and the day at most
`poster_day_max`, and the code still has to be read at the door: one person cannot print hundreds.
The counts are kept in memory; a restart of the web service starts them again (docs/web.md).

Forms carry a token bound to the phone id and the code (an HMAC), and the cookie is SameSite=Lax:
a form posted from another site has no cookie and no token, and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from qbus.config import BranchConfig, Tier

COOKIE = "qcall_phone"
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{12}$")
PID_RE = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


def derive_key(secret: bytes) -> bytes:
    """The poster's own key, from the web service's secret (never the same bytes twice over)."""
    return hmac.new(secret, b"qcall-poster-key", hashlib.sha256).digest()


def poster_code(key: bytes, window: int) -> str:
    """The code of one time window (72 bits, base64url: 12 characters)."""
    mac = hmac.new(key, b"qcall-poster\x00" + str(window).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:9]).decode("ascii")


def walk_in_tier(cfg: BranchConfig) -> Tier:
    """The tier a remote ticket gets: the plain walk-in one a kiosk gives without a card (never a
    priority or staff-only tier: nobody is recognised and nobody grants anything on a phone)."""
    return max((t for t in cfg.tier if not t.priority and not t.by_staff_only), key=lambda t: t.rank)


@dataclass(frozen=True, slots=True)
class Phone:
    """What the phone's signed cookie says: its id, and today's remote ticket if it took one."""

    pid: str
    day: str = ""
    number: str = ""
    token: str = ""  # the ticket's /t/<token>

    def ticket_on(self, day: str) -> bool:
        return bool(self.number) and self.day == day


@dataclass
class Poster:
    """Codes, cookies and the counts. Event-loop thread only (the routes run there)."""

    cfg: BranchConfig
    key: bytes
    _signer: URLSafeSerializer = field(init=False)
    window_s: float = field(init=False)
    day: str = ""
    _per_window: dict[int, int] = field(default_factory=dict)
    _today: int = 0
    _took: dict[str, tuple[str, str]] = field(default_factory=dict)  # pid -> (number, token) today
    _pending: set[str] = field(default_factory=set)  # pids whose ticket is being issued now

    def __post_init__(self) -> None:
        self._signer = URLSafeSerializer(self.key, salt="qcall-phone")
        self.window_s = self.cfg.web.poster_minutes * 60.0

    # ------------------------------------------------------------------ codes

    def window(self, now: float) -> int:
        return int(now // self.window_s)

    def current(self, now: float) -> tuple[str, float]:
        """The code to show now and the seconds until it changes."""
        w = self.window(now)
        return poster_code(self.key, w), (w + 1) * self.window_s - now

    def url(self, now: float) -> str:
        return f"{self.cfg.web.base_url}/p/{self.current(now)[0]}"

    def window_of(self, code: str, now: float) -> int | None:
        """The window a scanned code belongs to: the current or the previous one; None otherwise."""
        if not CODE_RE.match(code):
            return None
        w = self.window(now)
        for candidate in (w, w - 1):
            if hmac.compare_digest(poster_code(self.key, candidate), code):
                return candidate
        return None

    # ------------------------------------------------------------------ the phone

    def phone(self, cookie: str | None) -> Phone | None:
        """The phone behind a cookie; None for no cookie or one this service did not sign."""
        if not cookie:
            return None
        try:
            data: Any = self._signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not PID_RE.match(str(data.get("p", ""))):
            return None
        return Phone(str(data["p"]), str(data.get("d", "")), str(data.get("n", "")), str(data.get("t", "")))

    def new_phone(self) -> Phone:
        return Phone(secrets.token_urlsafe(16))

    def cookie(self, phone: Phone) -> str:
        return self._signer.dumps({"p": phone.pid, "d": phone.day, "n": phone.number, "t": phone.token})

    def form_token(self, phone: Phone, code: str) -> str:
        """The form's CSRF token: bound to this phone and this code."""
        mac = hmac.new(self.key, f"qcall-poster-form\x00{phone.pid}\x00{code}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def form_ok(self, phone: Phone, code: str, token: str) -> bool:
        return hmac.compare_digest(self.form_token(phone, code), token)

    # ------------------------------------------------------------------ the limits

    def _roll(self, day: str) -> None:
        if day != self.day:
            self.day, self._today = day, 0
            self._took.clear()
            self._per_window.clear()

    def taken_today(self, phone: Phone, day: str) -> tuple[str, str] | None:
        """(number, token) of the ticket this phone took today, by its cookie or by this service's memory."""
        self._roll(day)
        if phone.ticket_on(day):
            return phone.number, phone.token
        return self._took.get(phone.pid)

    def reserve(self, phone: Phone, window: int, day: str) -> str:
        """Hold one place for this phone in this window and day: "" if granted, else why not
        (`busy` the same phone is taking one right now, `window` this code's tickets are all
        taken, `day` the day's remote tickets are)."""
        self._roll(day)
        if phone.pid in self._pending:
            return "busy"
        if self._per_window.get(window, 0) >= self.cfg.web.poster_window_max:
            return "window"
        if self._today >= self.cfg.web.poster_day_max:
            return "day"
        self._pending.add(phone.pid)
        self._per_window[window] = self._per_window.get(window, 0) + 1
        self._today += 1
        for old in [w for w in self._per_window if w < window - 1]:
            del self._per_window[old]
        return ""

    def release(self, phone: Phone, window: int) -> None:
        """The core refused (or could not be reached): the place goes back."""
        self._pending.discard(phone.pid)
        if self._per_window.get(window, 0) > 0:
            self._per_window[window] -= 1
            self._today -= 1

    def took(self, phone: Phone, number: str, token: str) -> Phone:
        """Record the ticket; returns the phone as its new cookie says it."""
        self._pending.discard(phone.pid)
        self._took[phone.pid] = (number, token)
        return Phone(phone.pid, self.day, number, token)
