"""Jinja templates (shipped in the package) and the live sections each role's pages show.

A section is rendered once per role per change and the same HTML goes to every open page of that
role (web.broadcast). Forms inside sections need the person's own CSRF token: broadcast HTML
carries an empty one, which the page's script fills from its <meta name="csrf"> after each swap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from web import bookings as bk
from web import views
from web.live import LiveBranch

# Section -> what it shows; a change of any of these re-renders it.
SECTIONS: dict[str, frozenset[str]] = {
    "queues": frozenset({"queues"}),
    "counters": frozenset({"counters"}),
    "controls": frozenset({"counters"}),
    "devices": frozenset({"devices"}),
    "kpis": frozenset({"kpis"}),
    "alerts": frozenset({"alerts", "devices", "queues", "counters"}),
    "lists": frozenset({"lists"}),
    "notice": frozenset({"notice", "hall"}),
    "bookings": frozenset({"bookings", "lists"}),  # today's day list: the bookings and their tickets
}
MANAGER_ONLY = frozenset({"controls"})


def environment() -> Environment:
    env = Environment(loader=PackageLoader("web", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["minutes"] = views.minutes
    env.filters["minutes1"] = lambda s: f"{max(0.0, float(s)) / 60:.1f}"
    return env


class Renderer:
    def __init__(self, live: LiveBranch, name_of: Callable[[str], str]) -> None:
        self.live = live
        self.env = environment()
        self.name_of = name_of
        tz = live.cfg.branch.timezone
        self.env.filters["hhmm"] = lambda at: views.clock_text(at, tz)

    def context(self, manager: bool, csrf: str = "") -> dict[str, Any]:
        v = self.live
        return {"v": v, "cfg": v.cfg, "manager": manager, "csrf": csrf, "now": v.clock(),
                "name_of": self.name_of}

    def section(self, name: str, manager: bool, csrf: str = "") -> str:
        v = self.live
        ctx = self.context(manager, csrf)
        if name == "queues":
            ctx["rows"] = views.queue_rows(v)
        elif name in ("counters", "controls"):
            ctx["cards"] = views.counter_cards(v, manager)
            ctx["pause_reasons"] = views.PAUSE_ZH
        elif name == "devices":
            ctx["rows"] = views.device_rows(v)
        elif name == "kpis":
            ctx["rows"] = views.kpi_rows(v, manager)
        elif name == "alerts":
            ctx["rows"] = views.alert_rows(v, manager, self.name_of)
        elif name == "bookings":
            ctx["rows"] = bk.day_rows(v.cfg, v.bookings, bk.day_of(v.cfg, v.clock()), v.clock(), v.tickets)
        elif name == "lists":
            ctx["missed"] = sorted((t for t in v.tickets.values() if t.state == "missed"),
                                   key=lambda t: -t.changed_at)
            ctx["recent"] = sorted((t for t in v.tickets.values() if t.by), key=lambda t: -t.changed_at)[:8]
        return self.env.get_template(f"_{name}.html").render(ctx)

    def sections(self, manager: bool, names: Iterable[str] | None = None, csrf: str = "") -> dict[str, str]:
        wanted = SECTIONS if names is None else names
        return {n: self.section(n, manager, csrf) for n in wanted if manager or n not in MANAGER_ONLY}

    def page(self, template: str, **ctx: Any) -> str:
        return self.env.get_template(template).render(ctx)


def touched(dirty: set[str]) -> list[str]:
    """Sections to re-render after the model parts in `dirty` changed."""
    return [name for name, deps in SECTIONS.items() if deps & dirty]
