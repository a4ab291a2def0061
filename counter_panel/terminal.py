"""Software panel: a counter without a hardware keypad drives the same state machine from a terminal.

Line input, one command per line (`n` call next, `w` 欢迎光临, `e` 客户评价 ...; `help` lists them).
While logged out it asks for the teller id and then the PIN (read without echo). The I/O is passed
in as callables - `send` publishes a command, `show` prints a line, `read_line(prompt, secret)`
reads one - so the loop is tested without a terminal and the bridge wires it to the bus.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import msgspec

from counter_panel.machine import LOGGED_OUT, CounterPanel, Output
from hw.keypad import Key, KeyPress
from qbus import messages as m

WORDS: dict[str, Key] = {
    "n": Key.CALL_NEXT, "next": Key.CALL_NEXT,
    "r": Key.RECALL, "recall": Key.RECALL,
    "s": Key.SKIP, "skip": Key.SKIP,
    "w": Key.WELCOME, "welcome": Key.WELCOME,
    "e": Key.RATE, "rate": Key.RATE,
    "t": Key.TRANSFER, "transfer": Key.TRANSFER,
    "p": Key.PAUSE, "pause": Key.PAUSE,
    "c": Key.RESUME, "resume": Key.RESUME,
    "logout": Key.LOGOUT,
}
PAUSE_REASONS = frozenset(r for r in m.PauseReason.__args__ if r)  # type: ignore[attr-defined]
HELP = (
    "n 叫号 call next | r 重呼 recall | s 过号 skip | w 欢迎光临 welcome | e 客户评价 rate | "
    "t 3 / t B 转移 transfer to counter 3 / business B | p [lunch|break|meeting|…] 暂停 pause | "
    "c 恢复 resume | "
    "star 5 评价 | logout 退出 | quit"
)


class TerminalPanel:
    """Glue between a CounterPanel and line I/O; thread-safe (bus updates come from another thread)."""

    def __init__(
        self,
        panel: CounterPanel,
        send: Callable[[m.Command], None],
        show: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.panel = panel
        self._send = send
        self._show = show
        self._clock = clock
        self._lock = threading.Lock()

    def prompt(self) -> tuple[str, bool]:
        """(prompt, secret) for the next line."""
        state = self.panel.state
        if state is None:  # LOGGED_OUT
            return ("密码 PIN: ", True) if self.panel.entering_pin else ("工号 teller id: ", False)
        return (f"[{state.value}] > ", False)

    def handle_line(self, line: str) -> bool:
        """Act on one line; False when the user asked to quit."""
        words = line.strip().split()
        if not words:
            return True
        if words[0] in ("quit", "exit"):
            return False
        if words[0] in ("help", "?"):
            self._show(HELP)
            return True
        with self._lock:
            for out in self._outputs(words):
                self._apply(out)
        return True

    def _outputs(self, words: list[str]) -> list[Output]:
        now = self._clock()
        if self.panel.state is LOGGED_OUT and words[0].isdigit():
            presses = [KeyPress(Key.DIGIT, digit=int(d)) for d in words[0]] + [KeyPress(Key.ENTER)]
            return [self.panel.key(p, now) for p in presses]
        if words[0] == "star" and len(words) == 2 and words[1].isdigit():
            return [self.panel.stars(int(words[1]), now)]
        key = WORDS.get(words[0])
        if key is None:
            self._show(f"? {words[0]} — help")
            return []
        press = KeyPress(key)
        if key is Key.TRANSFER and len(words) == 2:
            arg = words[1]
            press = KeyPress(key, counter=int(arg)) if arg.isdigit() else KeyPress(key, prefix=arg.upper())
        if key is Key.PAUSE and len(words) == 2 and words[1] not in PAUSE_REASONS:
            self._show(f"? {words[1]} — 暂停原因 reasons: {' '.join(sorted(PAUSE_REASONS))}")
            return []
        out = self.panel.key(press, now)
        if key is Key.PAUSE and len(words) == 2:  # `p lunch`: the reason goes into the history
            out = dataclasses.replace(out, commands=[
                msgspec.structs.replace(c, reason=words[1]) if isinstance(c, m.Pause) else c for c in out.commands])
        return [out]

    def on_state(self, state: m.CounterState) -> None:
        with self._lock:
            self._apply(self.panel.state_update(state))

    def on_event(self, event: m.AnyEvent) -> None:
        with self._lock:
            self._apply(self.panel.event(event))

    def on_reply(self, ok: bool, message_zh: str = "") -> None:
        with self._lock:
            self._apply(self.panel.reply(ok, message_zh))

    def _apply(self, out: Output) -> None:
        for cmd in out.commands:
            self._send(cmd)
        d = out.display
        if d is None:
            return
        extra = (f"  ♪ {d.voice}" if d.voice else "") + ("  (beep)" if d.beep else "")
        self._show(f"评价器 pad: {d.pad_text}  |  呼叫器 keypad: {d.keypad_text}{extra}")

    def run(self, read_line: Callable[[str, bool], str | None]) -> None:
        """Read lines until EOF (None) or `quit`."""
        self._show(HELP)
        while True:
            prompt, secret = self.prompt()
            line = read_line(prompt, secret)
            if line is None or not self.handle_line(line):
                return


def stdin_reader(prompt: str, secret: bool) -> str | None:
    """`read_line` for a real terminal: the PIN is read without echo."""
    import getpass

    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        return None
