"""The hall screen, checked on real frames (SDL dummy driver, saved as PNG) by their pixels."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from display import theme
from display.errors import FontError
from display.fonts import FontBook
from display.hall import BusLink, HallState
from display.layout import LAYOUTS, compute
from display.panels import CallingPanel, RecentPanel
from display.screen import HallScreen
from qbus import messages as m
from qbus.config import BranchConfig
from tests.display_helpers import (
    T0,
    branch,
    colour_area,
    find_any_size,
    find_text,
    reference,
    saved_frame,
    screen,
    shows_offline_badge,
)

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    return branch()


def called(number: str, counter: int, at: float = T0) -> m.TicketCalled:
    return m.TicketCalled(at=at, number=number, counter=counter, business="cash", tier="normal",
                          waited_s=60.0)


def busy_state(cfg: BranchConfig, paused: bool = True) -> HallState:
    """A full hall: more calls than rows, long names, big queues, paused counters, a notice."""
    s = HallState.from_config(cfg)
    s.apply(m.QueueState(waiting={"cash": 128, "personal": 37, "corporate": 0, "wealth": 5,
                                  "forex": 999}), T0)
    for i, c in enumerate([1, 2, 3, 4, 5, 6]):
        s.apply(called(f"{'ABCDEA'[i]}{100 + i:03d}", c, T0 + i), T0 + i)
    for n in range(10):
        s.apply(called(f"B{n:03d}", 3, T0 + 10 + n), T0 + 10 + n)
    if paused:
        s.apply(m.CounterChanged(at=T0, counter=4, status=m.CounterStatus.PAUSED), T0 + 20)
        s.apply(m.CounterChanged(at=T0, counter=6, status=m.CounterStatus.PAUSED), T0 + 20)
    s.apply(m.Notice(zh="欢迎光临。请保管好您的银行卡和密码，谨防电信诈骗。" * 3,
                     en="Welcome. Keep your card and PIN safe; beware of phone scams. " * 3), T0 + 20)
    return s


@pytest.mark.parametrize("layout", ["landscape-1080", "portrait-1080"])
def test_a_call_is_drawn_large_in_the_highlight_band(cfg: BranchConfig, layout: str,
                                                     tmp_path: Path) -> None:
    surf = screen(LAYOUTS[layout])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(BusLink(online=True), T0)
    state.apply(called("A001", 1), T0)
    state.apply(called("B002", 3), T0 + 1)
    hall.draw(state, T0 + 1.1)
    frame = saved_frame(surf, tmp_path / "call.png")

    band = colour_area(frame, theme.HIGHLIGHT_BG)
    assert band is not None and band.width > frame.get_width() // 3, "no highlight band on screen"
    panel = hall.panel("calling")
    assert isinstance(panel, CallingPanel)
    n_size, zh_size, en_size = panel.sizes(0, state.calling[0])
    assert n_size >= 80, "the called number must be large"
    for text, size in (("B002", n_size), ("3号窗口", zh_size), ("Counter 3", en_size)):
        ref = reference(FONT, 0, text, size, theme.HIGHLIGHT_FG, theme.HIGHLIGHT_BG)
        where = find_text(frame, band, ref, theme.HIGHLIGHT_FG)
        assert where is not None, f"{text!r} not drawn in the highlight band"
    older = reference(FONT, 0, "A001", n_size, theme.HIGHLIGHT_FG, theme.HIGHLIGHT_BG)
    assert find_text(frame, band, older, theme.HIGHLIGHT_FG) is None
    # The older call is still on screen, large, in the normal colours below the band.
    normal = reference(FONT, 0, "A001", n_size, theme.NUMBER, theme.ROW_BG)
    below = pygame.Rect(0, band.bottom, frame.get_width() * 2 // 3, frame.get_height() - band.bottom)
    assert find_text(frame, below, normal, theme.NUMBER) is not None


def test_highlight_blinks_then_stops_after_highlight_s(cfg: BranchConfig, tmp_path: Path) -> None:
    surf = screen(LAYOUTS["landscape-720"])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(called("A001", 1), T0)
    lit, framed = [], []
    calling = hall.panel("calling")
    assert isinstance(calling, CallingPanel)
    row = calling.row_rects[0].move(hall.layout.calling.topleft)
    for k, dt in enumerate((0.1, 0.6, 1.1, cfg.display.highlight_s + 0.1)):
        hall.draw(state, T0 + dt)
        frame = saved_frame(surf, tmp_path / f"b{k}.png")
        amber = pygame.mask.from_threshold(frame.subsurface(row), (*theme.HIGHLIGHT_BG, 255), (2, 2, 2, 255)).count()
        lit.append(amber > row.width * row.height // 3)  # the row filled amber
        framed.append(amber > 0)
    assert lit == [True, False, True, False]
    assert framed == [True, True, True, True]  # the newest call keeps its amber frame after blinking


def test_offline_mark_appears_when_the_bus_drops_and_goes_when_it_returns(
        cfg: BranchConfig, tmp_path: Path) -> None:
    surf = screen(LAYOUTS["landscape-1080"])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(called("A001", 1), T0)
    header = hall.layout.status.union(hall.layout.clock).union(hall.layout.name)

    def badge(frame: pygame.Surface) -> bool:
        return shows_offline_badge(frame, header)

    hall.draw(state, T0)
    assert not badge(saved_frame(surf, tmp_path / "on.png"))
    state.apply(BusLink(online=False), T0 + 1)
    hall.draw(state, T0 + 1)
    off = saved_frame(surf, tmp_path / "off.png")
    assert badge(off)
    # ...and the last state is still there, not a blank screen.
    ref = reference(FONT, 0, "A001", 60, theme.NUMBER, theme.ROW_BG)
    assert colour_area(off, theme.ROW_BG) is not None
    assert ink_count(off, theme.NUMBER) > ink_count_of(ref, theme.NUMBER)
    state.apply(m.QueueState(waiting={"cash": 1}), T0 + 2)
    hall.draw(state, T0 + 2)
    assert not badge(saved_frame(surf, tmp_path / "back.png"))


def ink_count(frame: pygame.Surface, color: tuple[int, int, int]) -> int:
    return pygame.mask.from_threshold(frame, (*color, 255), (24, 24, 24, 255)).count()


def ink_count_of(surf: pygame.Surface, color: tuple[int, int, int]) -> int:
    return ink_count(surf, color)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("paused", [False, True], ids=["all-calling", "two-paused"])
def test_every_element_fits_its_region_and_nothing_overlaps(
        cfg: BranchConfig, layout: str, paused: bool, tmp_path: Path) -> None:
    size = LAYOUTS[layout]
    surf = screen(size)
    hall = HallScreen(cfg, surf)
    state = busy_state(cfg, paused)
    state.apply(BusLink(online=False), T0 + 21)
    hall.draw(state, T0 + 21)
    saved_frame(surf, tmp_path / f"{layout}.png")
    screen_rect = pygame.Rect((0, 0), size)
    regions = hall.layout.regions
    names = list(regions)
    for i, a in enumerate(names):  # the regions tile the screen without overlapping
        assert screen_rect.contains(regions[a]), a
        for b in names[i + 1:]:
            assert not regions[a].colliderect(regions[b]), (a, b)
    assert sum(r.width * r.height for r in regions.values()) == size[0] * size[1]
    elements = hall.elements
    kinds = {name.split(":")[0] for name, _ in elements}
    assert kinds == {"name", "status", "clock", "calling", "recent", "waiting", "paused", "ticker"}
    for name, r in elements:
        assert screen_rect.contains(r), f"{name} {r} is off the {size} screen"
        assert regions[name.split(":")[0]].contains(r), f"{name} {r} spills out of its region"
    for i, (na, ra) in enumerate(elements):
        for nb, rb in elements[i + 1:]:
            assert not ra.colliderect(rb), f"{na} {ra} overlaps {nb} {rb}"
    rows = sum(1 for name, _ in elements if name.startswith("calling:row")) // 3
    assert rows == min(hall.layout.calling_rows, len(state.calling))
    assert rows == min(hall.layout.calling_rows, 4 if paused else 6)
    recent = sum(1 for name, _ in elements if name == "recent:recent") // 3  # number, zh, en
    panel = hall.panel("recent")
    assert isinstance(panel, RecentPanel)
    assert recent == len(panel.shown(state)) == len(panel.cells)


def test_only_changed_regions_are_redrawn_and_the_result_equals_a_full_redraw(
        cfg: BranchConfig) -> None:
    """Frames shown through their dirty rects only must look exactly like full redraws."""
    size = LAYOUTS["landscape-720"]
    surf = screen(size)
    fonts = FontBook(cfg.display.font)
    live = HallScreen(cfg, surf, fonts)
    shown = pygame.Surface(size)
    state = HallState.from_config(cfg)
    script: list[tuple[float, object]] = [
        (0.5, called("A001", 1)), (2.0, called("B002", 3)), (3.0, m.QueueState(waiting={"cash": 4})),
        (4.0, m.CounterChanged(at=T0, counter=5, status=m.CounterStatus.PAUSED)), (5.0, BusLink(online=False)),
        (6.0, m.TicketRecalled(at=T0, number="A001", counter=1, recalls=1)),
        (7.0, m.Notice(zh="今日下午三点停止营业", en="Closing at 3 pm today")),
        (9.0, m.CounterChanged(at=T0, counter=1, status=m.CounterStatus.SERVING, number="A001")),
    ]
    quiet_area = []
    t = 0.0
    while t < 15.0:
        due = [msg for at, msg in script if t - 1 / 30 < at <= t]
        for msg in due:
            state.apply(msg, T0 + t)
        dirty = live.draw(state, T0 + t)
        for r in dirty:
            shown.blit(surf, r, r)
        if not due and 12.0 < t:
            quiet_area.append(sum(r.width * r.height for r in dirty))
        if round(t * 30) % 15 == 0:
            fresh = pygame.Surface(size)
            HallScreen(cfg, fresh, fonts).draw(state, T0 + t)
            assert _same(shown, fresh), f"incremental frame differs from a full redraw at t={t:.2f}"
        t += 1 / 30
    full = size[0] * size[1]
    assert max(quiet_area) < 0.15 * full, "a quiet frame should redraw only the ticker and clock"


def _same(a: pygame.Surface, b: pygame.Surface) -> bool:
    return bytes(pygame.image.tobytes(a, "RGB")) == bytes(pygame.image.tobytes(b, "RGB"))


def test_resync_from_retained_view_draws_the_same_picture_as_the_live_events(
        cfg: BranchConfig) -> None:
    size = LAYOUTS["portrait-1080"]
    surf = screen(size)
    fonts = FontBook(cfg.display.font)
    live = HallState.from_config(cfg)
    for i, (n, c) in enumerate([("A001", 1), ("B001", 3), ("D001", 6)]):
        live.apply(called(n, c, T0 + i), T0 + i)
    live.apply(m.CounterChanged(at=T0, counter=2, status=m.CounterStatus.PAUSED), T0 + 3)
    live.apply(m.QueueState(waiting={"cash": 7, "wealth": 2}), T0 + 3)
    view = m.HallView(calling=list(live.calling), recent=list(live.recent), waiting=dict(live.waiting),
                      paused=list(live.paused))
    restarted = HallState.from_config(cfg)
    restarted.apply(view, T0 + 60)
    later = T0 + 60
    HallScreen(cfg, surf, fonts).draw(live, later)
    a = surf.copy()
    HallScreen(cfg, surf, fonts).draw(restarted, later)
    assert _same(a, surf)


def test_missing_font_is_a_clear_error(cfg: BranchConfig) -> None:
    with pytest.raises(FontError, match="fonts-wqy-microhei") as err:
        FontBook("/nonexistent/wqy-microhei.ttc")
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists(),
                    reason="needs a font without Chinese glyphs")
def test_a_font_without_chinese_glyphs_is_refused() -> None:
    with pytest.raises(FontError, match="no glyphs"):
        FontBook("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def test_bad_face_index_is_a_clear_error() -> None:
    with pytest.raises(FontError, match="face 9"):
        FontBook(FONT, 9)


def test_text_cache_is_bounded_by_bytes_and_reuses_surfaces() -> None:
    screen((320, 240))
    book = FontBook(FONT, cache_bytes=1 << 20)
    first = book.text("A000", 120, theme.NUMBER, theme.ROW_BG)
    assert book.text("A000", 120, theme.NUMBER, theme.ROW_BG) is first
    for i in range(200):
        book.text(f"A{i:03d}", 120, theme.NUMBER, theme.ROW_BG)
    assert 0 < book.cached_bytes <= 1 << 20
    assert book.renders == 200


def test_font_found_by_family_name() -> None:
    pygame.font.init()
    book = FontBook("wenquanyimicrohei")
    assert book.path.endswith(".ttc")


def test_layouts_scale_to_other_screen_sizes() -> None:
    for w, h in ((1366, 768), (800, 480), (768, 1366)):
        lay = compute(w, h)
        assert lay.portrait == (h > w)
        total = sum(r.width * r.height for r in lay.regions.values())
        assert total == w * h


@pytest.mark.parametrize("layout", ["landscape-720", "portrait-1080"])
def test_every_item_of_the_hall_is_readable_in_its_place(
        cfg: BranchConfig, layout: str, tmp_path: Path) -> None:
    """Branch name, clock and date, recent calls, people waiting per business, the paused counter
    under 暂停服务 and the notice: each found by its pixels in its own part of the screen."""
    surf = screen(LAYOUTS[layout])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(m.QueueState(waiting={"cash": 128, "wealth": 5}), T0)
    state.apply(called("A001", 1), T0 - 30)
    state.apply(called("B002", 3), T0 - 20)
    state.apply(m.CounterChanged(at=T0, counter=4, status=m.CounterStatus.PAUSED), T0)
    hall.draw(state, T0)
    frame = saved_frame(surf, tmp_path / "hall.png")
    lay = hall.layout
    names = {c.id: c for c in cfg.counter}
    b = cfg.branch
    business = {x.code: x for x in cfg.business}
    expect = [  # (text, region, fg, bg)
        (f"{b.bank_zh}{b.name_zh}", lay.name, theme.TEXT, theme.HEADER_BG),
        ("16:00:00", lay.clock, theme.TEXT, theme.HEADER_BG),  # T0 in Asia/Shanghai
        ("2027-01-15", lay.clock, theme.MUTED, theme.HEADER_BG),
        ("B002", lay.calling, theme.NUMBER, theme.ROW_BG),  # on "Now calling", so not under "Recent"
        ("A001", lay.calling, theme.NUMBER, theme.ROW_BG),
        (business["cash"].name_zh, lay.waiting, theme.TEXT, theme.ROW_BG),
        ("128人", lay.waiting, theme.NUMBER, theme.ROW_BG),
        ("5人", lay.waiting, theme.NUMBER, theme.ROW_BG),
        ("暂停服务", lay.paused, theme.TEXT, theme.PANEL_BG),
        (names[4].name_zh, lay.paused, theme.PAUSED, theme.PANEL_BG),
    ]
    missing = [text for text, area, fg, bg in expect if find_any_size(frame, area, text, fg, bg) is None]
    assert missing == [], f"not readable on the {layout} screen: {missing}"


def test_the_notice_scrolls_from_right_to_left(cfg: BranchConfig, tmp_path: Path) -> None:
    surf = screen(LAYOUTS["landscape-720"])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(m.Notice(zh="今日外汇业务暂停", en="No forex today"), T0)
    ticker = hall.layout.ticker
    seen: list[int] = []
    size = None
    for k in range(80):  # half-second steps over the ~20 s the line takes to cross
        hall.draw(state, T0 + k / 2)
        frame = saved_frame(surf, tmp_path / "tick.png")
        sizes = range(size, size - 1, -1) if size else None
        where = find_any_size(frame, ticker, "今日外汇", theme.TEXT, theme.TICKER_BG, sizes)
        if where is not None:
            size = size or _size_of(where, ticker)
            seen.append(where.x)
        elif seen:
            break
    assert len(seen) >= 4, "the notice never crossed the ticker line"
    steps = [a - b for a, b in zip(seen, seen[1:], strict=False)]
    assert all(s > 0 for s in steps), f"not moving right to left: {seen}"
    assert max(steps) - min(steps) <= 2, "the ticker should move at a steady speed"


def _size_of(where: pygame.Rect, ticker: pygame.Rect) -> int:
    """The size the reference matched at (its padded height identifies it)."""
    for size in range(min(ticker.height, 160), 7, -1):
        if reference(FONT, 0, "今日外汇", size, theme.TEXT, theme.TICKER_BG).get_size() == where.size:
            return size
    raise AssertionError("no size matches")


def test_an_appointment_call_carries_its_mark_on_the_hall_screen(cfg: BranchConfig, tmp_path: Path) -> None:
    """预约 tickets are marked beside their number; a walk-in's row has no mark."""
    surf = screen(LAYOUTS["landscape-1080"])
    hall = HallScreen(cfg, surf)
    state = HallState.from_config(cfg)
    state.apply(BusLink(online=True), T0)
    booked = m.TicketCalled(at=T0, number="A007", counter=1, business="cash", tier="normal", waited_s=30.0,
                            booked=True)
    state.apply(booked, T0)
    hall.draw(state, T0 + 0.1)
    frame = saved_frame(surf, tmp_path / "booked.png")
    band = colour_area(frame, theme.HIGHLIGHT_BG)
    assert band is not None
    panel = hall.panel("calling")
    assert isinstance(panel, CallingPanel)
    _n, _zh, en_size = panel.sizes(0, state.calling[0])
    mark = reference(FONT, 0, "预约", en_size, theme.HIGHLIGHT_BG, theme.HIGHLIGHT_FG)
    assert find_text(frame, band, mark, theme.HIGHLIGHT_BG) is not None, "no 预约 mark on the booked call"

    surf2 = screen(LAYOUTS["landscape-1080"])
    hall2 = HallScreen(cfg, surf2)
    walk_in = HallState.from_config(cfg)
    walk_in.apply(BusLink(online=True), T0)
    walk_in.apply(called("A008", 1), T0)
    hall2.draw(walk_in, T0 + 0.1)
    frame2 = saved_frame(surf2, tmp_path / "walk-in.png")
    band2 = colour_area(frame2, theme.HIGHLIGHT_BG)
    assert band2 is not None and find_text(frame2, band2, mark, theme.HIGHLIGHT_BG) is None
