"""One TOML file describes a branch. `load()` returns a validated `BranchConfig` or raises
`ConfigError` naming the key and the problem, so no process ever starts half-configured."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import msgspec.inspect

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
]


def loads(text: str, source: str = "<config>") -> BranchConfig:
    """Parse and validate TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from err
    _refuse_old_pins(raw, source)
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


def _refuse_old_pins(raw: dict[str, object], source: str) -> None:
    """Branch files from before [pins] had `pin_sha256` per teller (one SHA-256 on every Pi):
    say what replaced it instead of `unknown field`."""
    tellers = raw.get("teller")
    for i, t in enumerate(tellers if isinstance(tellers, list) else []):
        if isinstance(t, dict) and "pin_sha256" in t:
            raise ConfigError(
                f"{source}: teller[{i}].pin_sha256: PINs are no longer in the branch file; delete the "
                f"key and set the PIN on the branch server with `qcall pin set {t.get('id', 'ID')}` "
                "(argon2id hashes in [pins] file, docs/operations.md)")


def _readable(msg: str) -> str:
    """msgspec says `... - at `$.counter[0].id``; turn that into `counter[0].id: ...`, and for a
    value outside a fixed list (`Invalid enum value 'lpt'`) name the values there are."""
    if " - at `$." in msg:
        text, _, where = msg.partition(" - at `$.")
        where = where.rstrip("`")
        allowed = _literal_values(where) if text.startswith("Invalid enum value") else ()
        if allowed:
            text += f" (one of: {', '.join(repr(v) for v in allowed)})"
        return f"{where}: {text}"
    return msg


def _literal_values(where: str) -> tuple[object, ...]:
    """The allowed values of the Literal field at a msgspec path (`serial[0].codec`), if it is one."""
    t: object = msgspec.inspect.type_info(BranchConfig)
    for part in where.replace("]", "").replace("[", ".").split("."):
        while isinstance(t, msgspec.inspect.ListType | msgspec.inspect.DictType):
            t = t.item_type if isinstance(t, msgspec.inspect.ListType) else t.value_type
        if part.isdigit():
            continue
        if not isinstance(t, msgspec.inspect.StructType):
            return ()
        t = next((f.type for f in t.fields if f.name == part), None)
    return t.values if isinstance(t, msgspec.inspect.LiteralType) else ()
