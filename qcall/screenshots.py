"""The pictures in docs/img/: the kiosk's home screen, a printed ticket and the hall screen, made by
the real renderers (pygame with SDL's dummy driver, the ticket from its ESC/POS bytes), so the docs
show what customers see now. `python -m qcall.screenshots docs/img` remakes them; the tests make
them again and compare, so a change to what people see that leaves the docs behind is caught.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from qbus.config import BranchConfig, load
from qbus.messages import QueueState, TicketView

T0 = 1_714_959_000.0  # 2024-05-06 09:30 in Shanghai: a fixed moment, so the pictures are stable
NAMES = ("kiosk-home.png", "ticket.png", "hall.png")


def kiosk_home(cfg: BranchConfig, path: Path) -> None:
    from kiosk.flow import HOME
    from kiosk.screen import KioskScreen

    s = KioskScreen(cfg, window=False)
    try:
        s.waiting = {"cash": 6, "personal": 3, "corporate": 0, "wealth": 1, "forex": 2}
        s.est_wait_s = {"cash": 480.0, "personal": 720.0, "wealth": 900.0, "forex": 600.0}
        s.draw(HOME)
        s.save_png(path)
    finally:
        s.close()


def ticket(cfg: BranchConfig, path: Path) -> None:
    from hw.printer.paper import paper_image
    from kiosk.ticket import TicketLayout

    t = TicketView(id="2024-05-06/A012", number="A012", business="cash", tier="priority", via="id_card",
                   issued_at=T0, ahead=3, est_wait_s=400.0, masked_name="张*")
    paper_image(TicketLayout(cfg, width_chars=cfg.printer.width_chars).render(t)).save(path)


def hall(cfg: BranchConfig, path: Path) -> None:
    import pygame

    from display.hall import BusLink, HallState
    from display.layout import size_of
    from display.screen import HallScreen
    from qbus import messages as m

    surf = pygame.Surface(size_of(cfg.display.layout))
    screen = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(BusLink(online=True), T0)
    state.apply(QueueState(waiting={"cash": 6, "personal": 3, "corporate": 0, "wealth": 1, "forex": 2},
                           est_wait_s={"cash": 480.0, "personal": 720.0, "wealth": 900.0, "forex": 600.0}), T0)
    calls = [("A009", 1), ("B004", 3), ("A010", 2), ("D002", 6), ("C003", 4), ("A011", 5)]
    for i, (number, counter) in enumerate(calls):
        state.apply(m.TicketCalled(at=T0 + i, number=number, counter=counter, business="cash", tier="normal",
                                   waited_s=300.0), T0 + i)
    state.apply(m.CounterChanged(at=T0, counter=4, status=m.CounterStatus.PAUSED), T0 + 10)
    screen.draw(state, T0 + 30.0)
    pygame.image.save(surf, str(path))


def make(out_dir: str | Path, cfg: BranchConfig | None = None) -> list[Path]:
    """Write the three pictures into `out_dir`; returns their paths."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    cfg = cfg or load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / n for n in NAMES]
    for make_one, path in zip((kiosk_home, ticket, hall), paths, strict=True):
        make_one(cfg, path)
    return paths


if __name__ == "__main__":
    for p in make(sys.argv[1] if len(sys.argv) > 1 else "docs/img"):
        print(p)
