"""Checks that a schema alone cannot express: references between sections, ranges, uniqueness.

Every problem names the key (`counter[2].serves.loans`) so the person editing the TOML finds it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qbus import messages as m
from qbus.config.branch import BranchConfig
from qbus.config.sections import SerialLine
from qbus.topics import DEVICE_ID, is_level, packet_size

# Letters that read like digits on a ticket: never a prefix (0/O, 1/I).
AMBIGUOUS_PREFIXES = frozenset("IO")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_IDENT = re.compile(m.IDENT.replace("*", "+"))  # a configured id is never empty


def problems(cfg: BranchConfig) -> list[str]:
    """Return every semantic problem in `cfg`; an empty list means the branch can start."""
    out: list[str] = []
    out += _business_problems(cfg)
    out += _tier_problems(cfg)
    out += _counter_problems(cfg)
    out += _rule_problems(cfg)
    out += _hours_problems(cfg)
    out += _teller_problems(cfg)
    out += _target_problems(cfg)
    out += _history_problems(cfg)
    out += _web_problems(cfg)
    out += _branch_problems(cfg)
    out += _serial_problems(cfg)
    out += _device_problems(cfg)
    out += _hq_problems(cfg)
    out += _bus_limit_problems(cfg)
    return out


def _hq_problems(cfg: BranchConfig) -> list[str]:
    """The head-office link: refused here rather than by a bridge that never connects."""
    hq, out = cfg.hq, list[str]()
    if not hq.host:
        return out
    if not 1 <= hq.port <= 65535:
        out.append(f"hq.port: {hq.port} is not a TCP port")
    if not hq.password_file:
        out.append("hq.password_file: the branch's head-office credential is required with hq.host")
    if not hq.cafile and hq.host not in ("127.0.0.1", "localhost", "::1"):
        out.append("hq.cafile: a head-office link off this machine must use TLS (give the CA file)")
    if hq.queue_max_messages < 1000 or hq.queue_max_bytes < 1024 * 1024:
        out.append("hq.queue_max_messages / queue_max_bytes: at least 1000 messages and 1 MiB "
                   "(a busy hour of a branch is a few thousand messages)")
    if not 1 <= hq.reconnect_min_s <= hq.reconnect_max_s:
        out.append("hq.reconnect_min_s must be >= 1 and <= hq.reconnect_max_s")
    return out


def _dupes(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}  # type: ignore[func-returns-value]


def _business_problems(cfg: BranchConfig) -> list[str]:
    out: list[str] = []
    if not cfg.business:
        out.append("business: at least one business type is needed")
    for code in _dupes([b.code for b in cfg.business]):
        out.append(f"business.code: {code!r} is used twice")
    for p in _dupes([b.prefix for b in cfg.business]):
        out.append(f"business.prefix: {p!r} is used by two business types")
    for i, b in enumerate(cfg.business):
        if len(b.prefix) != 1 or not b.prefix.isascii() or not b.prefix.isupper():
            out.append(f"business[{i}].prefix: {b.prefix!r} must be one capital letter A-Z")
        elif b.prefix in AMBIGUOUS_PREFIXES:
            out.append(f"business[{i}].prefix: {b.prefix!r} is confused with a digit; pick another letter")
        if not b.service_minutes > 0:
            out.append(f"business[{i}].service_minutes: must be > 0")
    return out


def _tier_problems(cfg: BranchConfig) -> list[str]:
    out: list[str] = []
    if not cfg.tier:
        out.append("tier: at least one tier (the normal one) is needed")
    for code in _dupes([t.code for t in cfg.tier]):
        out.append(f"tier.code: {code!r} is used twice")
    for r in _dupes([str(t.rank) for t in cfg.tier]):
        out.append(f"tier.rank: rank {r} is used twice; ranks order the tiers")
    if cfg.tier and all(t.priority for t in cfg.tier):
        out.append("tier: one tier must be the normal one (priority = false)")
    for i, t in enumerate(cfg.tier):
        if not t.max_wait_minutes > 0:
            out.append(f"tier[{i}].max_wait_minutes: must be > 0")
    return out


def _counter_problems(cfg: BranchConfig) -> list[str]:
    out: list[str] = []
    businesses = {b.code for b in cfg.business}
    tiers = {t.code for t in cfg.tier}
    if not cfg.counter:
        out.append("counter: at least one counter is needed")
    for cid in _dupes([str(c.id) for c in cfg.counter]):
        out.append(f"counter.id: {cid} is used twice")
    for c in cfg.counter:
        name = f"counter {c.id}"  # people know counters by number, not by their place in the file
        if not 1 <= c.id <= 999:
            out.append(f"{name}: id {c.id} must be 1..999")
        if not c.serves:
            out.append(f"{name}.serves: the counter serves no business type")
        for code, weight in c.serves.items():
            if code not in businesses:
                out.append(f"{name}.serves.{code}: no such business type")
            if not 1 <= weight <= 100:
                out.append(f"{name}.serves.{code}: weight {weight} must be 1..100")
        for key, codes in (("prefers", c.prefers), ("tiers", c.tiers)):
            for code in codes:
                if code not in tiers:
                    out.append(f"{name}.{key}: no such tier {code!r}")
    served = {code for c in cfg.counter for code in c.serves}
    for b in cfg.business:
        if b.code not in served:
            out.append(f"business.{b.code}: no counter serves it")
    return out


def _rule_problems(cfg: BranchConfig) -> list[str]:
    r, out = cfg.rules, []
    if r.interleave_priority < 1 or r.interleave_normal < 1:
        out.append("rules.interleave_priority / interleave_normal: both must be >= 1")
    if not r.aging_minutes > 0:
        out.append("rules.aging_minutes: must be > 0")
    if r.max_recalls < 0:
        out.append("rules.max_recalls: must be >= 0")
    if r.requeue_position not in ("back", "front"):
        out.append("rules.requeue_position: must be 'back' or 'front'")
    if not 2 <= r.number_width <= 4:
        out.append("rules.number_width: must be 2..4")
    if r.appointment_early_minutes < 0 or r.appointment_late_minutes < 0:
        out.append("rules.appointment_early_minutes / appointment_late_minutes: must be >= 0")
    if not (1 <= r.appointment_slot_minutes <= 240 and 1440 % r.appointment_slot_minutes == 0):
        out.append("rules.appointment_slot_minutes: 1..240 and a divisor of a day (15, 20, 30, 60 ...)")
    if r.appointment_slot_capacity < 1:
        out.append("rules.appointment_slot_capacity: must be >= 1")
    if not 2 <= cfg.rating.scale <= 10:
        out.append("rating.scale: must be 2..10")
    if not 1 <= cfg.rating.satisfied_min <= cfg.rating.scale:
        out.append("rating.satisfied_min: must be within the scale")
    if not cfg.rating.timeout_s > 0:
        out.append("rating.timeout_s: must be > 0")
    return out


def _hours_problems(cfg: BranchConfig) -> list[str]:
    h, out = cfg.hours, []
    for key in ("open", "close", "daily_reset"):
        if not _HHMM.match(getattr(h, key)):
            out.append(f"hours.{key}: {getattr(h, key)!r} is not HH:MM")
    if not out and h.open >= h.close:
        out.append("hours.open: must be before hours.close")
    if not out and h.open <= h.daily_reset < h.close:
        out.append("hours.daily_reset: must be outside opening hours")
    if any(d not in range(1, 8) for d in h.weekdays):
        out.append("hours.weekdays: days are 1 (Monday) .. 7 (Sunday)")
    return out


def _teller_problems(cfg: BranchConfig) -> list[str]:
    out: list[str] = []
    for tid in _dupes([t.id for t in cfg.teller]):
        out.append(f"teller.id: {tid!r} is used twice")
    for i, t in enumerate(cfg.teller):
        if t.role not in ("teller", "lobby", "manager"):
            out.append(f"teller[{i}].role: {t.role!r} must be teller, lobby or manager")
    p = cfg.pins
    if not p.file:
        out.append("pins.file: the PIN file's path is needed (`qcall pin set` writes it)")
    if not 1 <= p.max_failures <= 20:
        out.append("pins.max_failures: must be 1..20")
    if not p.max_failures <= p.device_max_failures <= 100:
        out.append("pins.device_max_failures: must be max_failures..100")
    if not 0 < p.lockout_minutes <= 24 * 60:
        out.append("pins.lockout_minutes: must be > 0 and at most a day")
    return out


def _branch_problems(cfg: BranchConfig) -> list[str]:
    out: list[str] = []
    tz = cfg.branch.timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"branch.timezone: {tz!r} is not a known time zone (e.g. 'Asia/Shanghai')")
    if not is_level(cfg.branch.id):
        out.append(f"branch.id: {cfg.branch.id!r} must be letters, digits, '-', '_' or '.' (it is in every topic)")
    b = cfg.bus
    if not 1 <= b.port <= 65535:
        out.append(f"bus.port: {b.port} must be 1..65535")
    if b.tls and not b.ca_file:
        out.append("bus.ca_file: tls = true needs the branch CA (ca.crt from `qcall provision`)")
    if b.keepalive_s < 2 or not b.command_timeout_s > 0:
        out.append("bus.keepalive_s / command_timeout_s: keepalive >= 2 s and a timeout > 0 are needed")
    if not is_level(b.prefix):
        out.append(f"bus.prefix: {b.prefix!r} must be one topic level (letters, digits, '-', '_', '.')")
    if b.password_file and "{device}" not in b.password_file and not b.username:
        out.append("bus.password_file: name `{device}` in the path (each device has its own password) "
                   "or set bus.username")
    return out


def _serial_problems(cfg: BranchConfig) -> list[str]:
    """What `qcall bridge` would refuse at start, said before anything starts."""
    out: list[str] = []
    counters = {c.id for c in cfg.counter}
    for port in _dupes([line.port for line in cfg.serial]):
        out.append(f"serial: port {port!r} is used by two lines")
    for i, line in enumerate(cfg.serial):
        name = f"serial[{i}] ({line.port or 'no port'})"
        out += [f"{name}{p}" for p in line_problems(line, counters)]
    return out


def line_problems(line: SerialLine, counters: Collection[int]) -> list[str]:
    """What is wrong with one serial line (each text starts with `.key: ` or `: `). check-config
    and the bridge (for a line it is handed, e.g. `qcall bridge --port`) both use this."""
    out: list[str] = []
    if not line.port:
        out.append(".port: the serial port is needed (/dev/serial/by-id/...)")
    if line.baudrate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
        out.append(f".baudrate: {line.baudrate} is not a standard rate (1200..115200)")
    if not line.heartbeat_timeout_s > 0 or line.ack_timeout_s < 0 or not 0 <= line.retries <= 10:
        out.append(": heartbeat_timeout_s > 0, ack_timeout_s >= 0 and retries 0..10 are needed")
    if not line.devices:
        out.append(".devices: no pad is listed on the line")
    for a in _dupes([str(d.address) for d in line.devices]):
        out.append(f": address {a} is used twice")
    for d in line.devices:
        if not 1 <= d.address <= 32:
            out.append(f": address {d.address} must be 1..32")
        if d.counter not in counters:
            out.append(f": address {d.address} names counter {d.counter}, which the branch does not have")
    kinds = [(d.counter, d.kind) for d in line.devices]
    for pair in sorted({p for p in kinds if kinds.count(p) > 1}):
        out.append(f": counter {pair[0]} has two {pair[1]} pads")
    return out


def _device_problems(cfg: BranchConfig) -> list[str]:
    """Printer, kiosk and display settings their components would refuse later."""
    out: list[str] = []
    p = cfg.printer
    need = {"serial": ("serial_port", p.serial_port), "network": ("host", p.host), "file": ("path", p.path)}
    if p.kind in need and not need[p.kind][1]:
        out.append(f"printer.{need[p.kind][0]}: kind = {p.kind!r} needs it")
    if p.kind == "usb" and not (p.usb_vendor and p.usb_product):
        out.append("printer.usb_vendor / usb_product: kind = 'usb' needs both (lsusb shows them)")
    if not 24 <= p.width_chars <= 64 or not p.status_timeout_s > 0:
        out.append("printer.width_chars / status_timeout_s: 24..64 characters and a timeout > 0")
    k = cfg.kiosk
    if not (k.id.startswith("kiosk") and DEVICE_ID.match(k.id)):
        out.append(f"kiosk.id: {k.id!r} must start with 'kiosk' (its MQTT role): lower-case letters, digits")
    pins = list(k.gpio_buttons.values()) + list(k.gpio_leds.values())
    for pin in {x for x in pins if pins.count(x) > 1}:
        out.append(f"kiosk.gpio: BCM pin {pin} is used twice")
    for x in pins:
        if not 2 <= x <= 27:
            out.append(f"kiosk.gpio: BCM pin {x} is not a Raspberry Pi GPIO (2..27)")
    if k.issue_timeout_s <= 0 or k.repeat_guard_s < 0 or k.last_ticket_min < 0:
        out.append("kiosk: issue_timeout_s > 0, repeat_guard_s >= 0 and last_ticket_min >= 0 are needed")
    staff = {t.id for t in cfg.teller if t.role in ("lobby", "manager")}
    for h, tid in k.staff_cards.items():
        if tid not in staff:
            out.append(f"kiosk.staff_cards.{h[:8]}...: teller {tid!r} is not lobby staff or a manager")
    width, height = k.resolution
    if not (320 <= width <= 7680 and 240 <= height <= 4320) or not k.identity_hold_s > 0:
        out.append("kiosk.resolution / identity_hold_s: a real screen size and a hold > 0 are needed")
    s, pv = cfg.storage, cfg.privacy
    if not s.journal or s.snapshot_every < 1 or s.group_commit_max < 1:
        out.append("storage: a journal path, snapshot_every >= 1 and group_commit_max >= 1 are needed")
    if not pv.hash_key_file or not 0 <= pv.priority_age <= 130:
        out.append("privacy: a hash_key_file and a priority_age of 0..130 are needed")
    d, v = cfg.display, cfg.voice
    if not 1 <= d.fps <= 120 or d.highlight_s < 0 or not 1 <= d.recent_calls <= 20:
        out.append("display: fps 1..120, highlight_s >= 0 and recent_calls 1..20 are needed")
    if not 1 <= v.repeat <= 5 or v.max_pending < 1:
        out.append("voice: repeat 1..5 and max_pending >= 1 are needed")
    return out


def _target_problems(cfg: BranchConfig) -> list[str]:
    t, out = cfg.targets, []
    for key in ("satisfaction", "star_teller_share", "service_level", "unrated_max", "abandoned_max"):
        if not 0 <= getattr(t, key) <= 1:
            out.append(f"targets.{key}: a share, must be 0..1 (e.g. 0.85 for 85 %)")
    tiers = {x.code for x in cfg.tier}
    business = {b.code for b in cfg.business}
    for key, known in (("tier_wait_minutes", tiers), ("business_wait_minutes", business),
                       ("service_minutes", business)):
        for code, v in getattr(t, key).items():
            if code not in known:
                out.append(f"targets.{key}.{code}: no such {'tier' if known is tiers else 'business type'}")
            elif not v > 0:
                out.append(f"targets.{key}.{code}: must be > 0 minutes")
    for code in t.referral_businesses:
        if code not in business:
            out.append(f"targets.referral_businesses: {code!r} is no business type")
    if t.star_min_rated < 1:
        out.append("targets.star_min_rated: must be >= 1")
    if not t.star_grades or any(not 0 < g <= 1 for g in t.star_grades) or t.star_grades != sorted(t.star_grades):
        out.append("targets.star_grades: ascending shares in 0..1, one per star")
    if not 1 <= t.star_grade_min <= max(1, len(t.star_grades)):
        out.append("targets.star_grade_min: must be 1..the number of star_grades")
    if not 1 <= t.advice_ratings <= 1000:
        out.append("targets.advice_ratings: must be 1..1000")
    if not t.advice_every_minutes > 0:
        out.append("targets.advice_every_minutes: must be > 0")
    return out


def _history_problems(cfg: BranchConfig) -> list[str]:
    h, c, out = cfg.history, cfg.complaints, []
    if h.keep_days_in_journal < 0:
        out.append("history.keep_days_in_journal: must be >= 0 (0: never compact)")
    if h.store.startswith(("postgres://", "postgresql://")) and "@" in h.store and ":" in \
            h.store.split("://", 1)[1].split("@", 1)[0]:
        out.append("history.store: put the PostgreSQL password in ~/.pgpass or PGPASSWORD, not in the config")
    for key in ("contact_hours", "reply_days", "close_days"):
        if not getattr(c, key) > 0:
            out.append(f"complaints.{key}: must be > 0")
    if c.contact_hours > c.reply_days * 24 or c.reply_days > c.close_days:
        out.append("complaints: deadlines must come in order: contact_hours <= reply_days <= close_days")
    return out


def _web_problems(cfg: BranchConfig) -> list[str]:
    w, out = cfg.web, []
    if not 1 <= w.port <= 65535:
        out.append(f"web.port: {w.port} must be 1..65535")
    if not w.bind:
        out.append("web.bind: give an address (127.0.0.1 behind a local reverse proxy)")
    if w.base_url and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", w.base_url):
        out.append(f"web.base_url: {w.base_url!r} must start with http:// or https:// and name a host")
    if w.base_url.endswith("/"):
        out.append("web.base_url: no trailing '/'")
    if not w.session_minutes > 0:
        out.append("web.session_minutes: must be > 0")
    if w.login_attempts < 1 or not w.login_window_s > 0:
        out.append("web.login_attempts / login_window_s: must be >= 1 and > 0")
    if not w.session_secret_file or not w.users_file or not w.ticket_key_file:
        out.append("web.session_secret_file / users_file / ticket_key_file: must name files")
    if not 0 <= w.phone_near <= 50:
        out.append(f"web.phone_near: {w.phone_near} must be 0..50 people ahead")
    for key in ("device", "lobby_device"):
        value = getattr(w, key)
        if not re.fullmatch(r"web[a-z0-9_-]{0,29}", value):
            out.append(f"web.{key}: {value!r} must start with 'web' (lower-case letters, digits, '-', '_')")
    if w.device == w.lobby_device:
        out.append("web.lobby_device: must differ from web.device (the broker tells them apart)")
    elif not w.lobby_device.startswith("web_lobby") or w.device.startswith("web_lobby"):
        out.append("web.lobby_device: must start with 'web_lobby' and web.device must not")
    if w.device.startswith("web_poster") or w.lobby_device.startswith("web_poster"):
        out.append("web.device / lobby_device: 'web_poster…' is the poster's identity (web.poster_device)")
    return out + _poster_problems(cfg)


def _poster_problems(cfg: BranchConfig) -> list[str]:
    """The remote ticket from the door's QR poster: checked whether on or off, so turning it on
    later cannot meet a surprise; what it needs to work only when it is on."""
    w, out = cfg.web, []
    if not re.fullmatch(r"web_poster[a-z0-9_-]{0,22}", w.poster_device):
        out.append(f"web.poster_device: {w.poster_device!r} must start with 'web_poster' "
                   "(lower-case letters, digits, '-', '_')")
    if not 1 <= w.poster_minutes <= 30:
        out.append(f"web.poster_minutes: {w.poster_minutes:g} must be 1..30 (how often the poster's code changes)")
    if not 1 <= w.poster_window_max <= 1000:
        out.append(f"web.poster_window_max: {w.poster_window_max} must be 1..1000 tickets per code")
    if not w.poster_window_max <= w.poster_day_max <= 10_000:
        out.append(f"web.poster_day_max: {w.poster_day_max} must be poster_window_max..10000 tickets a day")
    if w.poster and not w.enabled:
        out.append("web.poster: the poster's tickets are the web service's: web.enabled must be true")
    if w.poster and not w.base_url:
        out.append("web.poster: needs web.base_url (the poster's QR holds <base_url>/p/<code>)")
    if w.poster and not any(not t.priority and not t.by_staff_only for t in cfg.tier):
        out.append("web.poster: no walk-in tier to issue (every tier is a priority or staff-only one)")
    return out


def _bus_limit_problems(cfg: BranchConfig) -> list[str]:
    """Values the core publishes must fit the message schema's field bounds (a device's decoder
    would refuse them), and the [limits] must let a real device work."""
    out: list[str] = []
    bounded: list[tuple[str, str, int]] = [
        *((f"business[{i}].code", b.code, m.MAX_CODE) for i, b in enumerate(cfg.business)),
        *((f"tier[{i}].code", t.code, m.MAX_CODE) for i, t in enumerate(cfg.tier)),
        *((f"teller[{i}].id", t.id, m.MAX_CODE) for i, t in enumerate(cfg.teller)),
        *((f"teller[{i}].name", t.name, m.MAX_NAME) for i, t in enumerate(cfg.teller)),
        ("display.notice_zh", cfg.display.notice_zh, m.MAX_NOTICE),
        ("display.notice_en", cfg.display.notice_en, m.MAX_NOTICE),
    ]
    for key, value, limit in bounded:
        if len(value) > limit:
            out.append(f"{key}: {len(value)} characters; at most {limit} fit on the bus")
    idents = [*((f"business[{i}].code", b.code) for i, b in enumerate(cfg.business)),
              *((f"tier[{i}].code", t.code) for i, t in enumerate(cfg.tier)),
              *((f"teller[{i}].id", t.id) for i, t in enumerate(cfg.teller))]
    for key, value in idents:
        if not _IDENT.match(value):
            out.append(f"{key}: {value!r} must be letters, digits, '_', '.', ':' or '-' (an id on the bus; "
                       "the name is what people read)")
    counts = (("counter", len(cfg.counter), m.MAX_COUNTERS), ("business", len(cfg.business), m.MAX_BUSINESSES),
              ("tier", len(cfg.tier), m.MAX_TIERS), ("teller", len(cfg.teller), m.MAX_STAFF))
    for key, n, limit in counts:
        if n > limit:
            out.append(f"{key}: {n} entries; a branch may have at most {limit} (the retained state lists them all)")
    # The largest message the core publishes (m.LARGEST_PAYLOAD, tests/test_schema_bounds.py) on the
    # longest topic: a broker limit below it would drop the core's connection for it.
    topic = f"{cfg.bus.prefix}/v1/{cfg.branch.id}/presence/" + "x" * 32
    need = packet_size(topic, b"x" * m.LARGEST_PAYLOAD)
    if not need <= cfg.bus.max_packet_size <= 268_435_455:
        out.append(f"bus.max_packet_size: must be {need}..268435455 bytes (the core's largest message "
                   "on this branch's longest topic .. MQTT's own limit)")
    lim = cfg.limits
    if not lim.device_rate_per_s > 0:
        out.append("limits.device_rate_per_s: must be > 0")
    if lim.device_burst < 1:
        out.append("limits.device_burst: must be >= 1")
    if lim.inbox_max < 100 or lim.outbox_max < 100:
        out.append("limits.inbox_max / outbox_max: must be >= 100")
    return out
