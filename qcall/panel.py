"""`qcall panel`: the software counter panel on the bus, for a counter without a hardware keypad.

The same state machine as the serial keypad (counter_panel.CounterPanel) behind a terminal
(counter_panel.TerminalPanel), connected as device `counter<N>`: commands go to the core, the
retained `state/counter/<N>` and the `rated` event come back and redraw the panel.

Why a worker thread for commands: the terminal holds the panel's lock while it acts on a line,
and the bus delivers state (which needs that lock) and the reply on one network thread. A
command sent and waited for under the lock would wait for a reply stuck behind the state update
until it timed out. So commands are queued to a worker; it waits for the reply and hands the
answer back to the panel like the serial bridge does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from counter_panel.terminal import TerminalPanel
from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.errors import ConfigError
from qcall.bridge import counter_panel


class BusPanel:
    """A software panel for one counter on the bus. `start()`, `handle_line()` / `run()`, `close()`."""

    def __init__(self, cfg: BranchConfig, counter: int, bus: BusClient,
                 show: Callable[[str], None]) -> None:
        if counter not in {c.id for c in cfg.counter}:
            raise ConfigError(f"counter {counter} is not in the branch config "
                              f"(counters: {', '.join(str(c.id) for c in cfg.counter)})")
        self.counter = counter
        self.bus = bus
        self.ui = TerminalPanel(counter_panel(cfg, counter), self._queue, show,
                                settle_s=cfg.bus.command_timeout_s + 0.5)
        self._jobs: queue.Queue[m.Command | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name=f"panel{counter}", daemon=True)
        self.sent: list[m.Command] = []
        t = bus.topics
        bus.subscribe(t.state_counter(counter), m.CounterState, self._on_state)
        bus.subscribe(t.event("rated"), m.decode_event, self._on_event)

    def start(self, timeout: float = 10.0) -> BusPanel:
        self._worker.start()
        self.bus.connect(timeout)
        return self

    def handle_line(self, line: str) -> bool:
        return self.ui.handle_line(line)

    def run(self, read_line: Callable[[str, bool], str | None]) -> None:
        self.ui.run(read_line)

    def close(self) -> None:
        """Stop the worker and leave the bus (the counter's state stays with the core). Safe twice."""
        if self._worker.is_alive():
            self._jobs.put(None)
            self._worker.join(timeout=self.bus.command_timeout_s + 1)
        self.bus.close()

    # ---------------------------------------------------------------- bus -> panel

    def _on_state(self, msg: Received[m.CounterState]) -> None:
        self.ui.on_state(msg.value)

    def _on_event(self, msg: Received[Any]) -> None:
        ev = msg.value
        if isinstance(ev, m.ServiceRated) and ev.counter == self.counter and not msg.retained:
            self.ui.on_event(ev)

    # ---------------------------------------------------------------- panel -> bus

    def _queue(self, cmd: m.Command) -> None:
        self.sent.append(cmd)
        self._jobs.put(cmd)

    def _work(self) -> None:
        while (cmd := self._jobs.get()) is not None:
            self.ui.on_reply(*self.bus.answer_text(cmd))

