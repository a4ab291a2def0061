"""The demo's counters, run through the real serial path: pad twins on ptys -> bridge -> bus -> core.

Each counter gets a keypad and a rating pad twin (RS-485 style, 16 counters per line at 9600
baud), one bridge per line wired exactly as `qcall bridge` wires it, and a thread that plays the
teller and the customer on the twins: log in with the keypad, call, 欢迎光临 when the customer
arrives, serve, 客户评价, and the customer presses a star (or walks off and the rating times out).
Decisions are made from what the pads show, as a person at the counter would.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from firmware_bridge.bridge import Bridge
from firmware_bridge.pad_twin import PadTwin, TwinLine
from hw.keypad import Key
from qbus.config import BranchConfig
from qcall.bridge import build_bridge
from qcall.simulate import STARS

_LOG = logging.getLogger(__name__)

COUNTERS_PER_LINE = 16  # keypad + rating pad each: 32 addresses, a full RS-485 line
NUMBER = re.compile(r"^[A-Z]\d+(?= |$)")  # the keypad LED after a call starts with the number


class DemoCounters:
    """Pads, bridges and tellers for every counter of `cfg`; `start()`, `stop()` (safe twice)."""

    def __init__(self, cfg: BranchConfig, host: str, port: int, *, speed: float = 30.0, seed: int = 7,
                 stop: threading.Event | None = None, baudrate: int = 9600, rate_share: float = 0.85,
                 out: Callable[[str], None] | None = None) -> None:
        self.cfg, self.host, self.port = cfg, host, port
        self.speed, self.seed, self.baudrate, self.rate_share = speed, seed, baudrate, rate_share
        self.stop_event = stop or threading.Event()
        self.out = out
        self.lines: list[TwinLine] = []
        self.bridges: list[Bridge] = []
        self.keypads: dict[int, PadTwin] = {}
        self.pads: dict[int, PadTwin] = {}
        self.threads: list[threading.Thread] = []
        self._closed = False

    def start(self) -> DemoCounters:
        try:
            ids = [c.id for c in self.cfg.counter]
            serial = []
            for first in range(0, len(ids), COUNTERS_PER_LINE):
                line = TwinLine(self.baudrate, name=f"ttyDEMO{first // COUNTERS_PER_LINE}", seed=self.seed)
                self.lines.append(line)
                wiring: dict[int, int] = {}
                for i, counter in enumerate(ids[first:first + COUNTERS_PER_LINE]):
                    self.keypads[counter] = line.add(2 * i + 1, "keypad", heartbeat_s=3.0)
                    self.pads[counter] = line.add(2 * i + 2, "rating", heartbeat_s=3.0)
                    wiring |= {2 * i + 1: counter, 2 * i + 2: counter}
                serial.append(line.line_config(wiring))
            cfg = msgspec.structs.replace(self.cfg, serial=serial)
            for index in range(len(serial)):
                self.bridges.append(build_bridge(cfg, str(index), host=self.host, port=self.port).start())
            for counter in ids:
                t = threading.Thread(target=self._guarded, args=(counter,), name=f"teller{counter}", daemon=True)
                self.threads.append(t)
                t.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=10)
        for b in self.bridges:
            b.close()
        for line in self.lines:
            line.close()

    # ---------------------------------------------------------------- a teller and their customers

    def _guarded(self, counter: int) -> None:
        try:
            self._teller(counter)
        except Exception:
            if not self.stop_event.is_set():
                _LOG.exception("counter %d: demo teller stopped", counter)

    def _teller(self, counter: int) -> None:
        tellers = [t for t in self.cfg.teller if t.role == "teller"]
        if not tellers:
            return
        teller = tellers[(counter - 1) % len(tellers)]
        keypad, pad = self.keypads[counter], self.pads[counter]
        rng = random.Random(self.seed * 1000 + counter)
        wait = self.stop_event.wait
        keypad.login(teller.id, teller.id)  # demo PINs equal the teller id
        if not keypad.wait_led("空闲", 15):
            _LOG.error("counter %d: keypad login failed (keypad shows %r)", counter, keypad.led_text)
            return
        minutes = {b.prefix: b.service_minutes for b in self.cfg.business}
        while not self.stop_event.is_set():
            number = self._call(keypad)
            if not number:
                wait(1.0)
                continue
            if rng.random() < 0.03:  # a no-show: recall twice, then skip
                for _ in range(2):
                    if wait(30 / self.speed):
                        return
                    keypad.press(Key.RECALL)
                wait(30 / self.speed)
                keypad.press(Key.SKIP)
                keypad.wait_led("空闲", 5)
                continue
            if wait(rng.uniform(10, 40) / self.speed):  # the customer walks to the counter
                return
            keypad.press(Key.WELCOME)
            mean = minutes.get(number[:1], 5.0) * 60
            if wait(rng.lognormvariate(0, 0.5) * mean / 1.133 / self.speed):
                return
            keypad.press(Key.RATE)
            if not pad.wait_led("请评价", 5):
                continue
            if rng.random() < self.rate_share:
                wait(rng.uniform(2, 6) / self.speed)
                pad.rate(rng.choices([s for s, _ in STARS], [w for _, w in STARS])[0])
                pad.wait_led("谢谢", 5)
            wait(2 / self.speed)  # unrated: the next call closes the rating (or it times out first)

    def _call(self, keypad: PadTwin) -> str:
        """Press 叫号; the number the keypad then shows, or "" when it beeped (nobody waiting)."""
        beeps = len(keypad.beeps)
        keypad.press(Key.CALL_NEXT)

        def answered(p: PadTwin) -> bool:
            return bool(NUMBER.match(p.led_text)) or len(p.beeps) > beeps

        if not keypad.wait_for(answered, 5) or not NUMBER.match(keypad.led_text):
            return ""
        return keypad.led_text.split(" ")[0]

    def status(self) -> dict[str, Any]:
        """What each counter's pads show now (for a status line or a test)."""
        return {str(c): {"keypad": k.led_text, "pad": self.pads[c].led_text} for c, k in self.keypads.items()}
