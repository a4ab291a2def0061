"""The printed ticket's link to the customer's phone page: `<web base URL>/t/<token>`.

The token is an HMAC (SHA-256, truncated to 96 bits, base64url) of the ticket id — the business
day and the number, `20261201-A012` — under a key file shared by the kiosk (which prints it) and
the web service (which looks it up). So it is not the number, not sequential, cannot be guessed or
forged without the key, and belongs to one business day only: tomorrow the same number has
another token and today's no longer matches anything. One definition here, because two components
must agree on it byte for byte (the kiosk and the web never import each other).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from qbus.errors import ConfigError

TOKEN_BYTES = 12
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16}$")


def ticket_token(key: bytes, ticket_id: str) -> str:
    """The unguessable token of one ticket of one day (`ticket_id` is TicketView.id)."""
    mac = hmac.new(key, b"qcall-ticket-link\x00" + ticket_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).decode("ascii")


def ticket_url(base_url: str, key: bytes, ticket_id: str) -> str:
    """What the ticket's QR code holds."""
    return f"{base_url.rstrip('/')}/t/{ticket_token(key, ticket_id)}"


def well_formed(token: str) -> bool:
    return bool(TOKEN_RE.match(token))


def load_link_key(path: Path, *, create: bool = True) -> bytes:
    """The shared link key (32 random bytes, hex, mode 0600). `create`: made if missing, which only
    the web service does (on the branch server, where it looks tokens up); a kiosk refuses to start
    without its copy (`create=False`), since a key of its own would print links nobody can open.
    Kiosk and web on different machines need the same file (docs/operations.md)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise ConfigError(f"{path}: no phone link key file; copy the branch server's (`qcall web` "
                              "makes it there on its first start: web.ticket_key_file) to this path, "
                              "mode 0600") from None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # the other side made it a moment ago
            return load_link_key(path, create=False)
        except OSError as err:
            raise ConfigError(f"{path}: cannot write the ticket link key: {err.strerror}") from err
        text = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text + "\n")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the ticket link key: {err.strerror}") from err
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{path}: the ticket link key is not hex") from None
    if len(key) < 16:
        raise ConfigError(f"{path}: the ticket link key is too short (need 16+ bytes)")
    return key
