"""The reports' charts as inline SVG, drawn with matplotlib (no network, no JavaScript).

Why matplotlib: maintained, in Debian, renders SVG with no browser or Node runtime (Vega-Altair
would need vl-convert's bundled engine), and draws CJK labels with the WenQuanYi Micro Hei font
(fonts-wqy-microhei). Glyphs are written as paths (`svg.fonttype = "path"`), so a page opened on a
machine without the font still shows the Chinese. Figures are built with the object API (no
pyplot global state), so a web server can draw reports in threads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib.figure import Figure

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
_STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "qcall",  # stable ids: the same report gives the same bytes
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BLUE, ORANGE, RED, GREEN, GREY = "#2b6cb0", "#dd6b20", "#c53030", "#2f855a", "#718096"


def _font() -> list[str]:
    try:
        font_manager.fontManager.addfont(CJK_FONT)
        return ["WenQuanYi Micro Hei", "DejaVu Sans"]
    except (OSError, RuntimeError):  # no CJK font: the labels' Chinese shows as boxes, English stays
        return ["DejaVu Sans"]


_FAMILY = _font()


def _figure(w: float = 7.2, h: float = 3.0, right: float = 0.97) -> Figure:
    """A figure with fixed margins (constrained layout would cost a third of a report's time)."""
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(left=0.09, right=right, bottom=0.2, top=0.88)
    return fig


def _svg(fig: Figure, title: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "font.family": _FAMILY}):  # type: ignore[dict-item]
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # A title for screen readers and the tests; the size stays in the width/height attributes.
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{title}" class="chart" ', text, count=1)


def _apply_fonts(fig: Figure) -> None:
    for ax in fig.axes:
        for item in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]:
            item.set_fontfamily(_FAMILY)


def hourly(hours: Sequence[int], arrivals: Sequence[float], opened: Sequence[float],
           advised: Sequence[int]) -> str:
    """Arrivals per hour (bars) beside counters open and the Erlang C advice (lines)."""
    fig = _figure(right=0.91)
    ax = fig.add_subplot()
    ax.bar(hours, arrivals, color=BLUE, alpha=0.75, label="到达 arrivals / h")
    ax.set_xlabel("时 hour")
    ax.set_ylabel("到达 arrivals")
    ax.set_xticks(list(hours))
    ax2 = ax.twinx()
    ax2.step(hours, opened, where="mid", color=GREEN, label="开放窗口 counters open")
    ax2.step(hours, advised, where="mid", color=RED, linestyle="--", label="建议 Erlang C advice")
    ax2.set_ylabel("窗口 counters")
    ax2.set_ylim(0, max([*opened, *advised, 1]) * 1.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8, frameon=False, prop={"family": _FAMILY})
    ax.set_title("每小时到达与开放窗口 Arrivals vs counters open per hour")
    _apply_fonts(fig)
    return _svg(fig, "hourly")


def bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str, name: str,
         target: float | None = None, percent: bool = False, colors: Sequence[str] | None = None) -> str:
    """A bar chart with an optional target line (red bars miss it)."""
    fig = _figure()
    ax = fig.add_subplot()
    vals = [v * 100 for v in values] if percent else list(values)
    tgt = target * 100 if percent and target is not None else target
    if colors is None:
        colors = [RED if tgt is not None and v < tgt else BLUE for v in vals]
    ax.bar(range(len(vals)), vals, color=list(colors))
    ax.set_xticks(range(len(vals)), list(labels), rotation=30 if len(labels) > 6 else 0, ha="right"
                  if len(labels) > 6 else "center")
    if tgt is not None:
        ax.axhline(tgt, color=ORANGE, linestyle="--", linewidth=1.2)
        ax.text(len(vals) - 0.5, tgt, f" 目标 target {tgt:g}{'%' if percent else ''}", color=ORANGE,
                va="bottom", ha="right", fontsize=8, fontfamily=_FAMILY)
    if percent:
        ax.set_ylim(0, 105)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _apply_fonts(fig)
    return _svg(fig, name)


def heatmap(grid: Sequence[Sequence[float]], title: str) -> str:
    """Weekday (rows) × hour (columns) arrivals, as vector cells (no embedded bitmap)."""
    rows = ["周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat", "周日 Sun"]
    cols = [h for h in range(24) if any(r[h] for r in grid)] or list(range(8, 18))
    fig = _figure(7.2, 3.0, right=1.0)
    fig.subplots_adjust(left=0.12)
    ax = fig.add_subplot()
    data = [[r[h] for h in cols] for r in grid]
    mesh = ax.pcolormesh(data, cmap="YlOrRd", edgecolors="white", linewidth=0.5)
    ax.set_xticks([i + 0.5 for i in range(len(cols))], [f"{h:02d}" for h in cols])
    ax.set_yticks([i + 0.5 for i in range(7)], rows)
    ax.invert_yaxis()
    ax.set_xlabel("时 hour")
    fig.colorbar(mesh, ax=ax, label="到达/天 arrivals per day")
    ax.set_title(title)
    _apply_fonts(fig)
    return _svg(fig, "heatmap")


def daily(days: Sequence[str], arrivals: Sequence[int], abandoned: Sequence[int]) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    x = list(range(len(days)))
    ax.bar(x, arrivals, color=BLUE, alpha=0.75, label="到达 arrivals")
    ax.bar(x, abandoned, color=RED, label="弃号 abandoned")
    step = max(1, len(days) // 12)
    ax.set_xticks(x[::step], [d[5:] for d in days][::step])
    ax.legend(loc="upper left", fontsize=8, frameon=False, prop={"family": _FAMILY})
    ax.set_title("每日客流 Customers per day")
    _apply_fonts(fig)
    return _svg(fig, "daily")
