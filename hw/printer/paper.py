"""What a ticket looks like on paper: ESC/POS bytes read back the way a receipt printer prints them.

`paper_lines(data)` interprets the commands the kiosk sends (ESC @, ESC t, FS &, GS !, ESC E,
ESC a, GS B, GS ( k for the QR code, ESC d, GS V) and returns the printed lines with their
character size, alignment and inverted runs; text is decoded from GB18030 like a printer in
Chinese mode. `paper_image(data)` draws those lines onto a white strip at the printer's resolution
(576 dots for 80 mm paper), so tests, the demo and the docs can show a ticket as a customer holds
it. Unknown commands are skipped, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENCODING = "gb18030"
DOTS = 576  # 80 mm paper, 203 dpi: 72 mm printable
CHAR_W = 12  # dots per column of Font A (48 columns on 576 dots)
CHAR_H = 24


@dataclass
class Run:
    """A piece of one line printed with one style."""

    text: str
    inverted: bool = False


@dataclass
class PaperLine:
    """One printed line: its runs, character magnification (width, height), alignment, bold."""

    runs: list[Run] = field(default_factory=list)
    width: int = 1
    height: int = 1
    align: str = "left"
    bold: bool = False
    qr: str = ""  # the data of a QR code printed on this line

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


class _Reader:
    def __init__(self) -> None:
        self.lines: list[PaperLine] = []
        self.width = self.height = 1
        self.align = "left"
        self.bold = False
        self.inverted = False
        self.qr_data = ""
        self.pending = bytearray()
        self.line = PaperLine()

    def text(self) -> None:
        if self.pending:
            self.line.runs.append(Run(bytes(self.pending).decode(ENCODING, errors="replace"), self.inverted))
            self.pending.clear()
            self.line.width = max(self.line.width, self.width)
            self.line.height = max(self.line.height, self.height)
            self.line.bold = self.line.bold or self.bold

    def newline(self) -> None:
        self.text()
        self.line.align = self.align
        if not self.line.runs and not self.line.qr:
            self.line.width, self.line.height = self.width, self.height
        self.lines.append(self.line)
        self.line = PaperLine()

    def style(self, change: Any) -> None:
        self.text()
        change()


def paper_lines(data: bytes) -> list[PaperLine]:
    """The lines a printer would print for `data` (see the module docstring)."""
    r = _Reader()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x0A:
            r.newline()
            i += 1
        elif b == 0x1B and i + 1 < n:
            i = _esc(r, data, i)
        elif b == 0x1D and i + 1 < n:
            i = _gs(r, data, i)
        elif b == 0x1C and i + 1 < n:
            i += 2  # FS & / FS . : Chinese mode on or off; the text is decoded as GB18030 either way
        elif b < 0x20:
            i += 1
        else:
            r.pending.append(b)
            i += 1
    if r.pending or r.line.runs:
        r.newline()
    return r.lines


def _esc(r: _Reader, data: bytes, i: int) -> int:
    c = data[i + 1]
    arg = data[i + 2] if i + 2 < len(data) else 0
    if c == 0x40:  # ESC @
        r.style(lambda: _reset(r))
        return i + 2
    if c == 0x45:  # ESC E n: bold
        r.style(lambda: setattr(r, "bold", bool(arg & 1)))
    elif c == 0x61:  # ESC a n: alignment
        r.style(lambda: setattr(r, "align", {0: "left", 1: "center", 2: "right", 48: "left", 49: "center",
                                             50: "right"}.get(arg, "left")))
    elif c == 0x64:  # ESC d n: feed n lines
        if r.pending or r.line.runs:
            r.newline()
        for _ in range(arg):
            r.newline()
    return i + 3  # ESC t n and the other one-argument commands


def _gs(r: _Reader, data: bytes, i: int) -> int:
    c = data[i + 1]
    arg = data[i + 2] if i + 2 < len(data) else 0
    if c == 0x21:  # GS ! n: character size
        def magnify() -> None:
            r.width, r.height = (arg >> 4) + 1, (arg & 0x0F) + 1
        r.style(magnify)
        return i + 3
    if c == 0x42:  # GS B n: white on black
        r.style(lambda: setattr(r, "inverted", bool(arg & 1)))
        return i + 3
    if c == 0x28 and i + 4 < len(data) and data[i + 2] == 0x6B:  # GS ( k pL pH cn fn ...: QR code
        size = data[i + 3] + 256 * data[i + 4]
        body = data[i + 5 : i + 5 + size]
        if len(body) >= 3 and body[0] == 0x31 and body[1] == 0x50:  # store the data
            r.qr_data = body[3:].decode("ascii", errors="replace")
        elif len(body) >= 2 and body[0] == 0x31 and body[1] == 0x51:  # print it
            r.text()
            r.line.qr = r.qr_data
        return i + 5 + size
    if c == 0x56:  # GS V m [n]: cut
        return i + (4 if arg in (65, 66) else 3)
    return i + 3


def _reset(r: _Reader) -> None:
    r.width = r.height = 1
    r.align, r.bold, r.inverted = "left", False, False


def paper_image(data: bytes, font_path: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                margin: int = 24) -> Any:
    """The ticket as a PIL image (white paper, black print, the QR code drawn), 576 dots wide."""
    from PIL import Image, ImageDraw, ImageFont

    lines = paper_lines(data)
    fonts: dict[int, Any] = {}

    def font(h: int) -> Any:
        if h not in fonts:
            fonts[h] = ImageFont.truetype(font_path, CHAR_H * h - 2)
        return fonts[h]

    qr_images = {id(ln): _qr(ln.qr) for ln in lines if ln.qr}
    height = margin * 2 + sum(
        qr_images[id(ln)].height + 8 if ln.qr else CHAR_H * ln.height + 4 for ln in lines)
    img = Image.new("RGB", (DOTS + 2 * margin, height), "white")
    draw = ImageDraw.Draw(img)
    y = margin
    for ln in lines:
        if ln.qr:
            q = qr_images[id(ln)]
            img.paste(q, (margin + (DOTS - q.width) // 2, y))
            y += q.height + 8
            continue
        f = font(ln.height)
        if ln.text and set(ln.text) == {"-"}:  # a rule: one column a dash, as the printer's fixed font
            cols = len(ln.text) * ln.width
            for c in range(cols):
                x0 = margin + c * CHAR_W + 2
                draw.line((x0, y + CHAR_H // 2, x0 + CHAR_W - 5, y + CHAR_H // 2), fill="black", width=2)
            y += CHAR_H * ln.height + 4
            continue
        stretch = ln.width / ln.height  # the font is already `height` times tall (and wide)
        w = sum(_run_width(draw, f, run.text, stretch) for run in ln.runs)
        x = margin + {"left": 0, "center": (DOTS - w) // 2, "right": DOTS - w}[ln.align]
        for run in ln.runs:
            rw = _run_width(draw, f, run.text, stretch)
            if run.inverted:
                draw.rectangle((x, y, x + rw, y + CHAR_H * ln.height + 2), fill="black")
            _draw_run(img, draw, f, (x, y), run.text, stretch, "white" if run.inverted else "black", ln.bold)
            x += rw
        y += CHAR_H * ln.height + 4
    return img


def _run_width(draw: Any, font: Any, text: str, stretch: float) -> int:
    return int(draw.textlength(text, font=font) * stretch)


def _draw_run(img: Any, draw: Any, font: Any, at: tuple[int, int], text: str, stretch: float, fill: str,
              bold: bool) -> None:
    """Text at `at`, stretched horizontally the way the printer magnifies width apart from height."""
    from PIL import Image, ImageDraw

    if stretch == 1:
        draw.text(at, text, font=font, fill=fill, stroke_width=1 if bold else 0, stroke_fill=fill)
        return
    w = max(1, int(draw.textlength(text, font=font)))
    h = int(font.size * 1.3)
    tile = Image.new("L", (w, h), 0)
    ImageDraw.Draw(tile).text((0, 0), text, font=font, fill=255, stroke_width=1 if bold else 0, stroke_fill=255)
    tile = tile.resize((max(1, int(w * stretch)), h))
    img.paste(fill, (at[0], at[1], at[0] + tile.width, at[1] + tile.height), tile)


def _qr(data: str) -> Any:
    import qrcode

    q = qrcode.QRCode(box_size=6, border=1)
    q.add_data(data)
    return q.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
