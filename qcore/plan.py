"""The branch config compiled once into the figures and tables the core's hot path reads.

A `BranchConfig` is shaped for people (lists of tables, minutes); the core wants seconds, dicts
keyed by code and each counter's tier order worked out in advance. Doing that once here keeps every
operation free of config walking, and keeps "what the branch is" (this module, fixed for the life
of the process) apart from "what is happening today" (qcore.queues, qcore.core).
"""

from __future__ import annotations

from qbus.config import BranchConfig, Teller, Tier
from qcore.counter import CounterRt


class BranchPlan:
    """What the core needs of one branch's config, in the form it needs it."""

    __slots__ = (
        "aging_s", "ahead_tiers", "alert_s", "appt_early_s", "appt_late_s", "slot_cap", "slot_s", "businesses", "counter_cfg", "interleave_n", "interleave_p",
        "max_recalls", "prefix", "rating_s", "requeue_front", "requeue_s", "scale", "service_s",
        "tellers", "tier_cfg", "tier_priority", "tiers", "width",
    )

    def __init__(self, cfg: BranchConfig) -> None:
        r = cfg.rules
        self.width = r.number_width
        self.aging_s = r.aging_minutes * 60.0
        self.alert_s = r.wait_alert_minutes * 60.0
        self.requeue_s = r.requeue_window_minutes * 60.0
        self.requeue_front = r.requeue_position == "front"
        self.interleave_p = r.interleave_priority
        self.appt_early_s = r.appointment_early_minutes * 60.0
        self.appt_late_s = r.appointment_late_minutes * 60.0
        self.slot_s = r.appointment_slot_minutes * 60
        self.slot_cap = r.appointment_slot_capacity
        self.interleave_n = r.interleave_normal
        self.max_recalls = r.max_recalls
        self.scale = cfg.rating.scale
        self.rating_s = cfg.rating.timeout_s
        self.businesses = [b.code for b in cfg.business]
        self.prefix = {b.code: b.prefix for b in cfg.business}
        # Starting estimate of service time per business; the core learns the real one as it serves.
        self.service_s = {b.code: b.service_minutes * 60.0 for b in cfg.business}
        self.tiers = [t.code for t in cfg.tier]
        self.tier_cfg: dict[str, Tier] = {t.code: t for t in cfg.tier}
        self.tier_priority = {t.code: t.priority for t in cfg.tier}
        by_rank = sorted(cfg.tier, key=lambda t: t.rank)
        # Tiers called before (or with) each tier: the people a new ticket has ahead of it.
        self.ahead_tiers = {t.code: [x.code for x in by_rank if x.rank <= t.rank] for t in by_rank}
        self.tellers: dict[str, Teller] = {t.id: t for t in cfg.teller}
        # Per counter: weights per business, tier calling order, preferred tiers, tier-restricted?
        self.counter_cfg: dict[int, tuple[dict[str, int], list[str], frozenset[str], bool]] = {}
        for c in cfg.counter:
            allowed = [t.code for t in by_rank if not c.tiers or t.code in c.tiers]
            order = [t for t in c.prefers if t in allowed] + [t for t in allowed if t not in c.prefers]
            self.counter_cfg[c.id] = (dict(c.serves), order, frozenset(c.prefers), bool(c.tiers))

    def new_counters(self) -> dict[int, CounterRt]:
        """Every counter of the branch, closed, in config order."""
        return {cid: CounterRt(cid, dict(serves), list(order), prefers, restricted)
                for cid, (serves, order, prefers, restricted) in self.counter_cfg.items()}
