"""Line breaking for Chinese mixed with English: one function for every place that wraps text.

The kiosk screen wraps by pixels and the ticket by printer columns; both call `break_lines` with
their own `measure`, so a sentence breaks by the same rules on the screen and on paper. It lives in
qbus because both the kiosk's screen and its ticket layout (and any other component) may import
qbus, and it is pure text: no fonts, no printer.

Rules (the common subset of the Chinese and Japanese line-breaking rules, 禁则 / kinsoku):
* Latin words break only at spaces; a Han character or full-width sign may break anywhere;
* closing punctuation (。，、；：？！）」』】》”’ …) never starts a line: the character before it
  comes down with it;
* opening punctuation (（「『【《“‘) never ends a line: it goes down to the next one.
A line may run over the width only when a single unbreakable unit (a long word) is wider than it.
`glue(text)` joins a name ("5号VIP窗口") with WORD JOINERs so it is never split; they are removed
from the lines returned.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator

#: May not begin a line.
NO_START = frozenset("。．，、；：？！）」』】》〉〕］｝”’…‥・·〜～％‰,.;:?!)]}%")
#: May not end a line.
NO_END = frozenset("（「『【《〈〔［｛“‘([{")


def is_wide(c: str) -> bool:
    """A character that is a break opportunity on both sides (Han, kana, full-width signs)."""
    if unicodedata.east_asian_width(c) in ("W", "F"):
        return True
    return not c.isascii() and (c in NO_START or c in NO_END)  # “ ” … · are "ambiguous" width


WJ = "\u2060"  # WORD JOINER: no break here


def glue(text: str) -> str:
    """`text` as one unbreakable unit (a counter's name on a ticket)."""
    return WJ.join(text)


def units(text: str) -> Iterator[str]:
    """The unbreakable pieces: a Latin word with its leading spaces, or one wide character; pieces
    joined by a WORD JOINER stay one."""
    out: list[str] = []
    for unit in _units(text):
        if out and (out[-1].endswith(WJ) or unit.startswith(WJ)):
            out[-1] += unit
        else:
            out.append(unit)
    yield from out


def _units(text: str) -> Iterator[str]:
    word = ""
    for c in text:
        if c == WJ:
            if word:
                yield word
                word = ""
            yield WJ
            continue
        if is_wide(c):
            if word:
                yield word
                word = ""
            yield c
        elif c == " " and word.strip():
            yield word
            word = " "
        else:
            word += c
    if word:
        yield word


def _first(unit: str) -> str:
    s = unit.lstrip()
    return s[0] if s else ""


def _last(unit: str) -> str:
    s = unit.rstrip()
    return s[-1] if s else ""


def _may_break_between(before: str, after: str) -> bool:
    return _first(after) not in NO_START and _last(before) not in NO_END


def break_lines(text: str, width: int, measure: Callable[[str], int]) -> list[str]:
    """`text` broken into lines no wider than `width` as `measure` counts (pixels, columns).

    Newlines in `text` start new paragraphs; an empty text is one empty line."""
    out: list[str] = []
    for para in text.split("\n"):
        out.extend(line.replace(WJ, "") for line in _paragraph(para, width, lambda x: measure(x.replace(WJ, ""))))
    return out


def _paragraph(text: str, width: int, measure: Callable[[str], int]) -> list[str]:
    lines: list[str] = []
    line: list[str] = []
    for unit in units(text):
        if not line:
            line = [unit.lstrip()] if unit.strip() else []
            continue
        if measure("".join(line) + unit) <= width:
            line.append(unit)
            continue
        carry = [unit]
        # move units down until the break between line and carry is allowed
        while len(line) > 1 and not _may_break_between(line[-1], carry[0]):
            carry.insert(0, line.pop())
        if not _may_break_between(line[-1], carry[0]):
            line.extend(carry)  # nowhere allowed to break: keep together (over the width)
            continue
        lines.append("".join(line).rstrip())
        carry[0] = carry[0].lstrip()
        line = carry  # a few units at most: wider than the line only if one of them is
    lines.append("".join(line).rstrip())
    return lines
