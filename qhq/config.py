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
    # The month's star-teller ranking (星级柜员), graded as the history grades a branch's tellers
    # (qhistory.figures.tellers): at least `star_min_rated` ratings, one star per grade met.
    star_teller_share: float = 0.80
    star_min_rated: int = 10
    star_grades: list[float] = msgspec.field(default_factory=lambda: [0.80, 0.85, 0.90, 0.95, 0.98])
    star_grade_min: int = 3


class BranchEntry(_Base, kw_only=True):
    id: str
    name: str = ""
    region: str = ""
    # The branch's own TOML (next to this file unless absolute): the history's reports of the
    # branch need its businesses, tiers, tellers and targets. "" = no history report for it.
    config: str = ""


class WebSection(_Base, kw_only=True):
    """`qcall hq web`: head office's pages (the branch web's sign-in, sessions and users file)."""

    bind: str = "127.0.0.1"
    port: int = 8090
    base_url: str = ""  # https://... behind the reverse proxy: the session cookie is then Secure
    session_secret_file: str = "hq-web-secret.key"  # next to this file unless absolute
    users_file: str = "hq-users.toml"  # next to this file unless absolute (`qcall hq user add`)
    session_minutes: int = 480
    login_attempts: int = 5
    login_window_s: int = 300
    refresh_s: float = 20.0  # the live board is re-read this often even without a new event


class HqConfig(_Base, kw_only=True):
    hq: HqSection = msgspec.field(default_factory=HqSection)
    broker: BrokerSection = msgspec.field(default_factory=BrokerSection)
    database: DatabaseSection = msgspec.field(default_factory=DatabaseSection)
    targets: Targets = msgspec.field(default_factory=Targets)
    web: WebSection = msgspec.field(default_factory=WebSection)
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
    cfg = parse(data, str(p))
    branches = [msgspec.structs.replace(b, config=str(beside(p, b.config))) if b.config else b for b in cfg.branch]
    cfg = msgspec.structs.replace(cfg, branch=branches)
    problems = check_branch_configs(cfg)
    if problems:
        raise ConfigError(f"{p}: " + "; ".join(problems))
    return cfg


def beside(config_path: Path, name: str) -> Path:
    """A file the head-office config names: absolute as given, else next to the config."""
    q = Path(name)
    return q if q.is_absolute() else config_path.resolve().parent / q


def check_branch_configs(cfg: HqConfig) -> list[str]:
    """Each `config` a branch entry names must load and be that branch's."""
    from qbus.config import load as load_branch

    out = []
    for b in cfg.branch:
        if not b.config:
            continue
        try:
            got = load_branch(b.config).branch.id
        except ConfigError as err:
            out.append(f"branch {b.id!r}: config: {err}")
            continue
        if got != b.id:
            out.append(f"branch {b.id!r}: config {b.config} is branch {got!r}'s")
    return out


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
    t = cfg.targets
    if not all(0.0 < x <= 1.0 for x in (t.satisfaction, t.vip_service_level, t.star_teller_share)):
        out.append("targets: satisfaction, vip_service_level and star_teller_share are shares in (0, 1]")
    if t.star_grades != sorted(t.star_grades) or not all(0.0 < g <= 1.0 for g in t.star_grades):
        out.append("targets.star_grades: ascending shares in (0, 1]")
    if t.star_min_rated < 1 or not 0 <= t.star_grade_min <= len(t.star_grades):
        out.append("targets: star_min_rated >= 1, star_grade_min 0..len(star_grades)")
    w = cfg.web
    if not 1 <= w.port <= 65535 or w.refresh_s <= 0 or w.session_minutes < 1 or w.login_attempts < 1:
        out.append("web: port 1..65535, refresh_s > 0, session_minutes and login_attempts >= 1")
    try:
        ZoneInfo(cfg.hq.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"hq.timezone: {cfg.hq.timezone!r} is not an IANA time zone (e.g. Asia/Shanghai)")
    hh, _, mm = cfg.hq.daily_reset.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        out.append(f"hq.daily_reset: {cfg.hq.daily_reset!r} is not HH:MM")
    return out
