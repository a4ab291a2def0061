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

from counter_panel.machine import LOGGED_OUT, CounterPanel, Display, Output
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
    "t 3 / t B 转移（欢迎光临之后）transfer to counter 3 / business B, after welcome | "
    "p [lunch|break|meeting|…] 暂停 pause | c 恢复 resume | logout 退出 | quit 离开 "
    "(the customer rates on the rating pad, not here)"
)


class TerminalPanel:
    """Glue between a CounterPanel and line I/O; thread-safe (bus updates come from another thread)."""

    def __init__(
        self,
        panel: CounterPanel,
        send: Callable[[m.Command], None],
        show: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        settle_s: float = 0.0,
    ) -> None:
        self.panel = panel
        self._send = send
        self._show = show
        self._clock = clock
        self._lock = threading.RLock()
        # run() waits up to settle_s after a line that sent a command, for the core's answer and
        # the new state, so the next prompt shows the state the command led to
        self.settle_s = settle_s
        self._settled = threading.Condition(self._lock)
        self._unanswered = 0
        self._awaiting_state = False

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
            outs = self._outputs(words)
            for out in outs:
                self._apply(out, show=False)
            # one line for what the keys led to (typing a teller id is one line, not one per digit)
            last = next((o.display for o in reversed(outs) if o.display is not None), None)
            if last is not None:
                beep = any(o.display is not None and o.display.beep for o in outs)
                self._print(last, beep=beep)
        return True

    def _outputs(self, words: list[str]) -> list[Output]:
        now = self._clock()
        if self.panel.state is LOGGED_OUT and words[0].isdigit():
            presses = [KeyPress(Key.DIGIT, digit=int(d)) for d in words[0]] + [KeyPress(Key.ENTER)]
            return [self.panel.key(p, now) for p in presses]
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
            before = (self.panel.state, self.panel.bus.number if self.panel.bus else "")
            self._apply(self.panel.state_update(state))
            # only a state that moved is a command's result (a late retained copy of the old one is not)
            if (self.panel.state, state.number) != before:
                self._awaiting_state = False
            self._settled.notify_all()

    def on_event(self, event: m.AnyEvent) -> None:
        with self._lock:
            self._apply(self.panel.event(event))

    def on_reply(self, ok: bool, message_zh: str = "", message_en: str = "") -> None:
        with self._lock:
            self._unanswered = max(0, self._unanswered - 1)
            if not ok:
                self._awaiting_state = False
            self._apply(self.panel.reply(ok, message_zh, message_en))
            self._settled.notify_all()

    def settle(self, timeout: float) -> bool:
        """Wait until every command sent has its answer and the state it changed has arrived."""
        with self._lock:
            return self._settled.wait_for(lambda: self._unanswered == 0 and not self._awaiting_state, timeout)

    def _apply(self, out: Output, *, show: bool = True) -> None:
        for cmd in out.commands:
            self._unanswered += 1
            # a recall or a login refused changes no state: only wait for their answer
            self._awaiting_state = self._awaiting_state or not isinstance(cmd, m.Recall)
            self._send(cmd)
        if out.display is not None and show:
            self._print(out.display)

    def _print(self, d: Display, *, beep: bool = False) -> None:
        """What the pads show, then the customer in hand and any message, in Chinese and English."""
        extra = (f"  ♪ {d.voice}" if d.voice else "") + ("  (beep)" if d.beep or beep else "")
        lines = [f"评价器 pad: {d.pad_text}  |  呼叫器 keypad: {d.keypad_text}{extra}"]
        if d.detail_zh:
            lines.append(f"    {d.detail_zh}")
            lines.append(f"    {d.detail_en}")
        if d.note_zh:
            lines.append(f"    {'✓' if not (d.beep or beep) else '✗'} {d.note_zh} / {d.note_en}")
        for line in lines:
            self._show(line)

    def run(self, read_line: Callable[[str, bool], str | None]) -> None:
        """Read lines until EOF (None) or `quit`. After a line that sent a command the next prompt
        waits (up to `settle_s`) for the answer, so it never shows the state before the command."""
        self._show(HELP)
        while True:
            prompt, secret = self.prompt()
            line = read_line(prompt, secret)
            if line is None or not self.handle_line(line):
                return
            if self.settle_s > 0:
                self.settle(self.settle_s)


def stdin_reader(prompt: str, secret: bool) -> str | None:
    """`read_line` for a real terminal: the PIN is read without echo."""
    import getpass

    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        return None
