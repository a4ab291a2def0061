"""One TOML file describes head office: the central broker, the database, the targets the reports
judge by, and every branch with its region (`examples/hq.toml`)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from qbus.errors import ConfigError
from qbus.topics import Topics


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class HqSection(_Base, kw_only=True):
    name: str = "总行 Head office"
    timezone: str = "Asia/Shanghai"
    daily_reset: str = "03:00"  # the business day, as the branches count it
    prefix: str = "qcall"


class BrokerSection(_Base, kw_only=True):
    """The central broker's loopback listener (head office's own processes connect here)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = "hq-ingest1"
    password_file: str = ""
    keepalive_s: int = 30


class DatabaseSection(_Base, kw_only=True):
    dsn: str = "host=127.0.0.1 dbname=qcall_hq"
    schema: str = "public"
    batch_max: int = 5000  # messages per transaction (one COPY)
    batch_wait_ms: int = 50  # how long a batch waits to fill before it is written


class Targets(_Base, kw_only=True):
    """What the reports judge by: the seeds' targets unless head office says otherwise."""

    wait_minutes: dict[str, float] = {}  # per tier: "over target now"
    default_wait_minutes: float = 20.0
    vip_tiers: list[str] = msgspec.field(default_factory=lambda: ["vip"])
    vip_wait_minutes: float = 10.0
    vip_service_level: float = 0.90
    satisfied_min: int = 4
    satisfaction: float = 0.85


class BranchEntry(_Base, kw_only=True):
    id: str
    name: str = ""
    region: str = ""


class HqConfig(_Base, kw_only=True):
    hq: HqSection = msgspec.field(default_factory=HqSection)
    broker: BrokerSection = msgspec.field(default_factory=BrokerSection)
    database: DatabaseSection = msgspec.field(default_factory=DatabaseSection)
    targets: Targets = msgspec.field(default_factory=Targets)
    branch: list[BranchEntry] = []

    def wait_target_s(self, tier: str) -> float:
        return 60.0 * self.targets.wait_minutes.get(tier, self.targets.default_wait_minutes)


def parse(data: dict[str, object], where: str = "head-office config") -> HqConfig:
    try:
        cfg = msgspec.convert(data, HqConfig)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{where}: {err}") from err
    problems = check(cfg)
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return cfg


def load(path: str | Path) -> HqConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{p}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from err
    return parse(data, str(p))


def check(cfg: HqConfig) -> list[str]:
    out: list[str] = []
    ids = [b.id for b in cfg.branch]
    if not ids:
        out.append("branch: list every branch ([[branch]] id = ..., region = ...)")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        out.append(f"branch: ids {dupes} appear more than once")
    for b in cfg.branch:
        try:
            Topics(cfg.hq.prefix, b.id)
        except ValueError as err:
            out.append(f"branch {b.id!r}: {err}")
        if not b.region:
            out.append(f"branch {b.id!r}: region is empty (the VIP report groups by region)")
    if not 1 <= cfg.database.batch_max <= 100_000:
        out.append("database.batch_max: 1..100000")
    if not 0.0 < cfg.targets.satisfaction <= 1.0 or not 0.0 < cfg.targets.vip_service_level <= 1.0:
        out.append("targets: satisfaction and vip_service_level are shares in (0, 1]")
    try:
        ZoneInfo(cfg.hq.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"hq.timezone: {cfg.hq.timezone!r} is not an IANA time zone (e.g. Asia/Shanghai)")
    hh, _, mm = cfg.hq.daily_reset.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        out.append(f"hq.daily_reset: {cfg.hq.daily_reset!r} is not HH:MM")
    return out
