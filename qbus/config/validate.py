"""Checks that a schema alone cannot express: references between sections, ranges, uniqueness.

Every problem names the key (`counter[2].serves.loans`) so the person editing the TOML finds it.
"""

from __future__ import annotations

import re

from qbus.config.branch import BranchConfig

# Letters that read like digits on a ticket: never a prefix (0/O, 1/I).
AMBIGUOUS_PREFIXES = frozenset("IO")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


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
    for i, c in enumerate(cfg.counter):
        if not 1 <= c.id <= 999:
            out.append(f"counter[{i}].id: {c.id} must be 1..999")
        if not c.serves:
            out.append(f"counter[{i}].serves: the counter serves no business type")
        for code, weight in c.serves.items():
            if code not in businesses:
                out.append(f"counter[{i}].serves.{code}: no such business type")
            if not 1 <= weight <= 100:
                out.append(f"counter[{i}].serves.{code}: weight {weight} must be 1..100")
        for key, codes in (("prefers", c.prefers), ("tiers", c.tiers)):
            for code in codes:
                if code not in tiers:
                    out.append(f"counter[{i}].{key}: no such tier {code!r}")
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
        if not re.fullmatch(r"[0-9a-f]{64}", t.pin_sha256):
            out.append(f"teller[{i}].pin_sha256: must be 64 hex digits (see `qcall pin-hash`)")
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
    if not w.session_secret_file or not w.users_file:
        out.append("web.session_secret_file / users_file: must name files")
    for key in ("device", "lobby_device"):
        value = getattr(w, key)
        if not re.fullmatch(r"web[a-z0-9_-]{0,29}", value):
            out.append(f"web.{key}: {value!r} must start with 'web' (lower-case letters, digits, '-', '_')")
    if w.device == w.lobby_device:
        out.append("web.lobby_device: must differ from web.device (the broker tells them apart)")
    elif not w.lobby_device.startswith("web_lobby") or w.device.startswith("web_lobby"):
        out.append("web.lobby_device: must start with 'web_lobby' and web.device must not")
    return out
