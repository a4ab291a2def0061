"""`qcall keypad`: a counter's keypad and rating pad twin on a pty that a person drives by hand.

The twin speaks the real protocol at the line's baud rate; point a bridge at the printed path
(`qcall bridge --line 0 --serial PATH`) and type keys here to see what the LEDs show and which prompts
the pad plays. The words are the software panel's (`help` lists them); a number types digits + ENTER.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from counter_panel.terminal import WORDS
from firmware_bridge.pad_twin import TwinLine
from hw.keypad import Key
from qbus.config import BranchConfig

HELP = ("n 叫号 call next | r 重呼 recall | s 过号 skip | w 欢迎光临 welcome | e 客户评价 rate | "
        "p 暂停 pause | c 恢复 resume | t 3 / t B 转移（欢迎光临之后）transfer, after welcome | "
        "logout 退出 log out | 1003 数字+确认 digits + enter | clear 清除 clear | "
        "star 5 评价器五星 5 stars on the rating pad | hb 心跳 heartbeat | quit 离开")


def pads_for(cfg: BranchConfig, counter: int) -> tuple[int, int, int, str]:
    """(keypad address, rating address, baud rate, codec) from the config's [[serial]] lines, or 1, 2,
    9600, qframe when the counter has no pads configured."""
    for line in cfg.serial:
        mine = {d.kind: d.address for d in line.devices if d.counter == counter}
        if mine:
            return mine.get("keypad", 1), mine.get("rating", 2), line.baudrate, line.codec
    return 1, 2, 9600, "qframe"


class KeypadConsole:
    """The twin plus the line-input loop; `out` prints (the CLI passes print)."""

    def __init__(self, cfg: BranchConfig, counter: int, out: Callable[[str], None], *, link: str = "",
                 heartbeat_s: float = 3.0) -> None:
        keypad_at, rating_at, baud, codec = pads_for(cfg, counter)
        directory, name = (str(Path(link).parent), Path(link).name) if link else (None, "ttyPAD0")
        self.line = TwinLine(baud, codec, directory=directory, name=name)
        self.keypad = self.line.add(keypad_at, "keypad", heartbeat_s=heartbeat_s)
        self.pad = self.line.add(rating_at, "rating", heartbeat_s=heartbeat_s)
        self.out = out
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watcher, name="keypad watcher", daemon=True)
        self._watch.start()

    def close(self) -> None:
        self._stop.set()
        self._watch.join(timeout=2)
        self.line.close()

    def handle(self, text: str) -> bool:
        """One typed line; False to quit."""
        words = text.strip().split()
        if not words:
            return True
        w = words[0].lower()
        if w in ("quit", "exit"):
            return False
        if w in ("help", "?"):
            self.out(HELP)
        elif w.isdigit():
            self.keypad.type_digits(w)
        elif w == "clear":
            self.keypad.press(Key.CLEAR)
        elif w == "hb":
            self.keypad.heartbeat()
            self.pad.heartbeat()
        elif w == "star" and len(words) == 2 and words[1].isdigit():
            self.pad.rate(int(words[1]))
        elif w in WORDS:
            key = Key[WORDS[w].name]
            if key is Key.TRANSFER and len(words) == 2:
                arg = words[1]
                self.keypad.press(key, counter=int(arg)) if arg.isdigit() else self.keypad.press(key, prefix=arg.upper())
            else:
                self.keypad.press(key)
        else:
            self.out(f"? {w} — help")
        return True

    def _watcher(self) -> None:
        """Print every LED change, prompt and beep as the pads receive them."""
        seen = self._counts()

        def changed(_pad: object) -> bool:
            return self._counts() != seen or self._stop.is_set()

        while not self._stop.is_set():
            self.keypad.wait_for(changed, 0.5)
            now = self._counts()
            if now != seen:
                self._report(seen, now)
                seen = now

    def _counts(self) -> tuple[int, ...]:
        k, p = self.keypad, self.pad
        return (len(k.led_history), len(p.led_history), len(p.voices) + len(k.voices), len(k.beeps),
                int(k.clock_set is not None))

    def _report(self, before: tuple[int, ...], now: tuple[int, ...]) -> None:
        k, p = self.keypad, self.pad
        extra = ""
        if now[2] != before[2]:
            voices = [v.name.lower() for v in (*p.voices, *k.voices)]
            extra += f"  ♪ {voices[-1]}" if voices else ""
        if now[3] != before[3]:
            extra += "  (beep)"
        if now[4] != before[4]:
            extra += f"  clock {k.clock_set}"
        self.out(f"呼叫器 keypad #{k.address}: {k.led_text or '-'}  |  评价器 pad #{p.address}: {p.led_text or '-'}{extra}")


def run_keypad(cfg: BranchConfig, counter: int, read_line: Callable[[str], str | None],
               out: Callable[[str], None], *, link: str = "") -> None:
    console = KeypadConsole(cfg, counter, out, link=link)
    try:
        out(f"counter {counter}: keypad #{console.keypad.address} and rating pad #{console.pad.address} on "
            f"{console.line.port} ({console.line.baudrate} baud, {console.line.codec.name})")
        out(f"point a bridge at it: qcall bridge --config CONFIG --serial {console.line.port} --counter {counter}"
            " [--host HOST --port PORT]")
        out(HELP)
        while True:
            text = read_line(f"[counter {counter}] > ")
            if text is None or not console.handle(text):
                return
    finally:
        console.close()
