"""The hall screen as the people in the seats see it (issue 15): every text sized for the viewing
distance the config gives, estimated waits, the newest call marked, a useful idle panel, recent
calls that do not repeat "Now calling", and counters named as their signs are. Frames rendered
headless and checked by their pixels."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pygame
import pytest

from display import theme
from display.hall import BusLink, HallState
from display.layout import LAYOUTS, min_text_px
from display.panels import CallingPanel
from display.screen import HallScreen
from qbus import messages as m
from qbus.config import BranchConfig
from tests.display_helpers import T0, branch, find_any_size, find_text, reference, saved_frame, screen
from tests.seen import ink_height, rgb

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def called(number: str, counter: int, at: float) -> m.TicketCalled:
    return m.TicketCalled(at=at, number=number, counter=counter, business="cash", tier="normal", waited_s=60.0)


def busy(cfg: BranchConfig) -> HallState:
    s = HallState.from_config(cfg)
    s.apply(BusLink(online=True), T0)
    s.apply(m.QueueState(waiting={"cash": 8, "personal": 3, "corporate": 0, "wealth": 1, "forex": 2},
                         est_wait_s={"cash": 640.0, "personal": 480.0, "wealth": 900.0, "forex": 600.0}), T0)
    for i, (n, c) in enumerate([("A012", 1), ("B007", 3), ("A013", 2), ("D002", 6), ("C004", 4), ("A014", 5)]):
        s.apply(called(n, c, T0 + i), T0 + i)
    s.apply(m.CounterChanged(at=T0, counter=4, status=m.CounterStatus.PAUSED), T0 + 10)
    return s


def texts(hall: HallScreen) -> list[tuple[str, str, pygame.Rect, int]]:
    return [(f"{p.name}:{w}", text, r, size) for p in hall.panels for w, text, r, size in p.texts]


def has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("distance", [5.0, 3.0])
def test_every_text_is_sized_for_the_viewing_distance(layout: str, distance: float, tmp_path: Path) -> None:
    cfg = branch()
    cfg = msgspec.structs.replace(cfg, display=msgspec.structs.replace(cfg.display, viewing_distance_m=distance))
    size = LAYOUTS[layout]
    floor = min_text_px(size, distance, cfg.display.diagonal_in)
    assert floor == {(5.0, 1080): 40, (5.0, 720): 27, (3.0, 1080): 24, (3.0, 720): 16}[(distance, min(size))]
    surf = screen(size)
    hall = HallScreen(cfg, surf)
    state = busy(cfg)
    hall.draw(state, T0 + 20.0)
    frame = saved_frame(surf, tmp_path / "hall.png")
    drawn = texts(hall)
    kinds = {what.split(":")[0] for what, *_ in drawn}
    assert {"name", "clock", "calling", "recent", "waiting", "paused", "ticker"} <= kinds
    small = [(what, text, s) for what, text, _r, s in drawn if s < floor]
    assert small == [], f"texts under {floor} px on {layout} at {distance} m"
    # and by the pixels: Han characters really are that tall on the screen (ink of 请号窗… ~0.85 em)
    for what, text, r, _s in drawn:
        if has_han(text) and what != "ticker:notice":
            bg = rgb(frame.get_at((r.x, r.y)))
            assert ink_height(frame, r, bg) >= int(0.8 * floor), (what, text)


def test_the_waiting_table_gives_count_and_estimated_wait_per_business(tmp_path: Path) -> None:
    cfg = branch()
    surf = screen(LAYOUTS["landscape-1080"])
    hall = HallScreen(cfg, surf)
    hall.draw(busy(cfg), T0 + 20.0)
    frame = saved_frame(surf, tmp_path / "hall.png")
    area = hall.layout.waiting
    floor = hall.layout.text_min
    for text, fg in (("个人现金业务", theme.TEXT), ("Cash deposit & withdrawal", theme.TEXT), ("8人", theme.NUMBER),
                     ("约 11 分钟", theme.TEXT), ("~11 min", theme.TEXT), ("无需等候", theme.TEXT),
                     ("no wait", theme.TEXT), ("约 15 分钟", theme.TEXT)):
        assert find_any_size(frame, area, text, fg, theme.ROW_BG, range(floor + 12, floor - 1, -1)), text
    # the English caption is as readable as the Chinese one (it was ~14 px and grey)
    assert find_any_size(frame, area, "Waiting", theme.TEXT, theme.PANEL_BG, range(floor + 12, floor - 1, -1))


def test_the_newest_call_stays_marked_and_recent_calls_do_not_repeat_now_calling(tmp_path: Path) -> None:
    cfg = branch()
    surf = screen(LAYOUTS["landscape-1080"])
    hall = HallScreen(cfg, surf)
    state = busy(cfg)
    hall.draw(state, T0 + 30.0)  # long after the blink
    frame = saved_frame(surf, tmp_path / "hall.png")
    calling = hall.panel("calling")
    assert isinstance(calling, CallingPanel)
    rows = [r.move(hall.layout.calling.topleft) for r in calling.row_rects]

    def amber(r: pygame.Rect) -> int:
        return pygame.mask.from_threshold(frame.subsurface(r), (*theme.HIGHLIGHT_BG, 255), (2, 2, 2, 255)).count()

    assert amber(rows[0]) > 2 * rows[0].width and all(amber(r) == 0 for r in rows[1:])
    ref = reference(FONT, 0, "A014", 120, theme.NUMBER, theme.ROW_BG)
    on_now = [t for w, t, _r, _s in texts(hall) if w.startswith("calling:row") and t[0].isalpha() and t[1:].isdigit()]
    on_recent = [t for w, t, _r, _s in texts(hall) if w == "recent:recent" and t[0].isalpha() and t[1:].isdigit()]
    assert on_now == ["A014", "D002", "A013"]
    assert on_recent and not set(on_recent) & set(on_now)
    assert {"B007", "A012"} <= set(on_recent)
    assert ref.get_width() > 0
    # counters are named as their signs: the English name, not "counter 5"
    en = [t for w, t, _r, _s in texts(hall) if w == "calling:row0"]
    assert "VIP Counter 5" in en and "5号VIP窗口" in en


def test_with_nobody_called_the_panel_says_what_to_do(tmp_path: Path) -> None:
    cfg = branch()
    surf = screen(LAYOUTS["landscape-1080"])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(BusLink(online=True), T0)
    state.apply(m.QueueState(waiting={"cash": 4, "personal": 1}), T0)
    hall.draw(state, T0)
    frame = saved_frame(surf, tmp_path / "idle.png")
    said = [t for w, t, _r, _s in texts(hall) if w == "calling:idle"]
    assert "".join(said).startswith("暂无叫号，请留意屏幕和语音叫号")
    assert "现有 5 位客户等候" in said and "5 waiting" in said
    assert any("Please watch this screen" in t for t in said)
    recent = [t for w, t, _r, _s in texts(hall) if w == "recent:recent-none"]
    assert recent == ["暂无更早的呼叫", "No earlier calls yet"]
    area = hall.layout.calling
    ref = reference(FONT, 0, "现有 5 位客户等候", next(s for w, t, _r, s in texts(hall) if t == "现有 5 位客户等候"),
                    theme.NUMBER, theme.PANEL_BG)
    assert find_text(frame, area, ref, theme.NUMBER) is not None
