"""One TOML file describes a branch. `load()` returns a validated `BranchConfig` or raises
`ConfigError` naming the key and the problem, so no process ever starts half-configured."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import msgspec

from qbus.config.branch import (
    Branch,
    BranchConfig,
    Business,
    Counter,
    Hours,
    Rating,
    Rules,
    Teller,
    Tier,
)
from qbus.config.sections import SerialDevice, SerialLine
from qbus.config.validate import problems
from qbus.errors import ConfigError

__all__ = [
    "Branch",
    "BranchConfig",
    "Business",
    "ConfigError",
    "Counter",
    "Hours",
    "Rating",
    "Rules",
    "SerialDevice",
    "SerialLine",
    "Teller",
    "Tier",
    "load",
    "loads",
    "pin_hash",
]


def pin_hash(teller_id: str, pin: str) -> str:
    """The stored form of a teller PIN: salted by the teller id so equal PINs differ."""
    return hashlib.sha256(f"{teller_id}:{pin}".encode()).hexdigest()


def loads(text: str, source: str = "<config>") -> BranchConfig:
    """Parse and validate TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from err
    try:
        cfg = msgspec.convert(raw, BranchConfig)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{source}: {_readable(str(err))}") from err
    found = problems(cfg)
    if found:
        raise ConfigError(f"{source}: " + "; ".join(found))
    return cfg


def load(path: str | Path) -> BranchConfig:
    """Read and validate a branch config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{p}: cannot read config: {err.strerror}") from err
    return loads(text, str(p))


def _readable(msg: str) -> str:
    """msgspec says `... - at `$.counter[0].id``; turn that into `counter[0].id: ...`."""
    if " - at `$." in msg:
        text, _, where = msg.partition(" - at `$.")
        return f"{where.rstrip('`')}: {text}"
    return msg
