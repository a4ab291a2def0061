"""Keypad latency over ptys paced at the line speed. Prints one JSON object on its last line:

press_reply_p50_ms_9600      key press on the keypad -> the reply LED frame (the called number) fully
press_reply_p99_ms_9600      received by the keypad, through the whole path a teller feels: pad ->
press_reply_p50_ms_115200    bridge -> Mosquitto -> core service (journal fsync) -> counter state ->
press_reply_p99_ms_115200    bridge -> LED frame. Presses alternate 叫号 (LED shows the number) and
                             过号 (LED shows 空闲) on an otherwise quiet line.
press_event_p99_ms_32_devices  key press on one of 32 pads (16 counters x keypad + rating pad) on one
                             9600 line -> the core's event (`called` / `skipped`) at a bus subscriber;
                             presses at random (Poisson, 5/s between them: six times a busy branch),
                             each answered with LED frames to both pads; heartbeats every 3 s
press_echo_p50_ms_9600 / press_echo_p99_ms_9600 / press_echo_p99_ms_115200
                             the serial link alone: the host answers every KEY with an LED frame at
                             once (`echo_reply`); KEY + ACK + LED are 31 ms on the wire at 9600
press_host_p99_ms_32_devices key press -> frame decoded by the host, 32 pads on one 9600 line

Mosquitto is started here on a free port and the core service runs in its own process, as in
production (`qcall serve`); the bridge is wired as `qcall bridge` wires it.

Run: .venv/bin/python bench/keypad.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from bench._harness import branch_server, unlimited
from firmware_bridge.bridge import Bridge
from firmware_bridge.frame import Command, Frame, led_frame
from firmware_bridge.link import HostLink
from firmware_bridge.pad_twin import Sent, TwinLine
from hw.keypad import Key
from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import BranchConfig, Counter, Teller, load
from qbus.topics import Topics
from qcall.bridge import build_bridge
from qserver.tuning import tune_gc, tune_latency

ROOT = Path(__file__).resolve().parents[1]
Reply = Callable[[HostLink, Frame], None]


def echo_reply(link: HostLink, frame: Frame) -> None:
    """The stand-in for bridge + core: every key gets an LED frame back at once."""
    if frame.command is Command.KEY:
        link.send(led_frame(frame.address, "A001"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def press_reply_ms(baudrate: int, presses: int, *, reply: Reply = echo_reply, codec: str = "qframe") -> list[float]:
    """Milliseconds from a key press on the pad to the reply frame fully received by the pad.

    The line is left idle between presses (the pad's ACK of the previous LED frame is out), so each
    figure is one press on a quiet line, wire time in both directions included.
    """
    rng = random.Random(1)
    times: list[float] = []
    with TwinLine(baudrate, codec, seed=1) as line:
        pad = line.add(1)
        link: HostLink = HostLink(line.line_config(), lambda f: reply(link, f))
        with link:
            if not link.wait_up(True, 5):
                raise RuntimeError(f"host side did not open: {link.detail}")
            for i in range(presses):
                line.wait_quiet(2)
                time.sleep(rng.uniform(0.001, 0.005))  # presses do not line up with the read loop
                shown = len(pad.led_history)
                sent = pad.press(Key.CALL_NEXT)
                if not pad.wait_for(lambda p: len(p.led_history) > shown, 2):  # noqa: B023
                    raise RuntimeError(f"no reply to press {i}")
                times.append((pad.led_history[shown].at - sent.queued_at) * 1000)
    return times


def press_host_ms_32(baudrate: int = 9600, presses: int = 300, rate_hz: float = 20.0) -> list[float]:
    """Key press on any of 32 pads -> the host has the frame, presses arriving at random (Poisson)."""
    rng = random.Random(2)
    arrived: dict[tuple[int, int], float] = {}
    done = threading.Condition()

    def on_frame(frame: Frame) -> None:
        if frame.command is Command.KEY:
            with done:
                arrived[(frame.address, frame.seq)] = time.perf_counter()
                done.notify_all()

    sent: list[Sent] = []
    with TwinLine(baudrate, seed=2) as line:
        pads = [line.add(a, heartbeat_s=3.0) for a in range(1, 33)]
        with HostLink(line.line_config(), on_frame) as link:
            if not link.wait_up(True, 5):
                raise RuntimeError(f"host side did not open: {link.detail}")
            for _ in range(presses):
                time.sleep(rng.expovariate(rate_hz))
                sent.append(rng.choice(pads).press(Key.CALL_NEXT))
            with done:
                if not done.wait_for(lambda: len(arrived) >= len(sent), 10):
                    raise RuntimeError(f"only {len(arrived)} of {len(sent)} presses arrived")
    return [(arrived[(s.frame.address, s.frame.seq)] - s.queued_at) * 1000 for s in sent]


# ------------------------------------------------------------------------------------------
# Through the bridge and the core


def branch_with(n: int) -> BranchConfig:
    base = load(ROOT / "examples" / "branch.toml")
    counters = [Counter(id=i, serves={"cash": 1, "personal": 1}) for i in range(1, n + 1)]
    tellers = [Teller(id=f"{5000 + i}", name=f"T{i}") for i in range(1, n + 1)]
    return unlimited(msgspec.structs.replace(base, counter=counters, teller=tellers))


class Branch:
    """Mosquitto + the core service (own process) + a manager and a kiosk client for set-up."""

    def __init__(self, tmp: Path, n_counters: int) -> None:
        self.cfg = branch_with(n_counters)
        self.topics = Topics(self.cfg.bus.prefix, self.cfg.branch.id)
        self._server = ExitStack()
        self.broker = self._server.enter_context(branch_server(self.cfg, tmp))
        self.events: list[tuple[float, Any]] = []
        self.cond = threading.Condition()
        self.manager = BusClient(host=self.broker.host, port=self.broker.port, topics=self.topics,
                                 device="manager", command_timeout_s=10)
        self.manager.subscribe(self.topics.all_events(), m.decode_event, self._on_event)
        self.manager.connect()
        self.kiosk = BusClient(host=self.broker.host, port=self.broker.port, topics=self.topics,
                               device="kiosk1", command_timeout_s=10).connect()

    def _on_event(self, msg: Received[Any]) -> None:
        with self.cond:
            self.events.append((time.perf_counter(), msg.value))
            self.cond.notify_all()

    def setup(self, counters: list[int], tickets: int) -> None:
        for c in counters:
            if not self.manager.request(m.Login(counter=c, teller=f"{5000 + c}", pin=f"{5000 + c}")).ok:
                raise RuntimeError(f"login at counter {c} refused")
        for i in range(tickets):
            self.kiosk.request(m.Issue(business=("cash", "personal")[i % 2]))

    def bridge(self, line: TwinLine, wiring: dict[int, int]) -> Bridge:
        cfg = msgspec.structs.replace(self.cfg, serial=[line.line_config(wiring)])
        bridge = build_bridge(cfg, "0", host=self.broker.host, port=self.broker.port).start()
        if not bridge.link.wait_up(True, 5) or not bridge.bus.wait_online(10):
            raise RuntimeError("bridge did not come up")
        return bridge

    def close(self) -> None:
        self.manager.close()
        self.kiosk.close()
        self._server.close()


def press_reply_core_ms(branch: Branch, counter: int, baudrate: int, presses: int) -> list[float]:
    """Press 叫号 / 过号 in turn on one counter's keypad; ms until the keypad's LED shows the answer."""
    rng = random.Random(3)
    times: list[float] = []
    with TwinLine(baudrate, seed=3) as line:
        keypad, _pad = line.add(1, "keypad"), line.add(2, "rating")
        bridge = branch.bridge(line, {1: counter, 2: counter})
        try:
            if not keypad.wait_led("空闲", 10):
                raise RuntimeError(f"keypad shows {keypad.led_text!r}, not idle")
            for i in range(presses):
                line.wait_quiet(2)
                time.sleep(rng.uniform(0.001, 0.005))  # presses do not line up with any loop
                key, want = (Key.CALL_NEXT, _is_number) if i % 2 == 0 else (Key.SKIP, lambda t: t == "空闲")
                shown = len(keypad.led_history)
                sent = keypad.press(key)
                if not keypad.wait_for(lambda p: len(p.led_history) > shown and want(p.led_text), 5):  # noqa: B023
                    raise RuntimeError(f"press {i} ({key.name}): keypad shows {keypad.led_text!r}")
                times.append((keypad.led_history[-1].at - sent.queued_at) * 1000)
        finally:
            bridge.close()
    return times


def _is_number(text: str) -> bool:
    """The keypad LED after a call: the number first ("A012 等3分 余5")."""
    first = text.split(" ")[0]
    return len(first) > 1 and first[0].isalpha() and first[1:].isdigit()


def press_event_ms_32(branch: Branch, counters: list[int], presses: int, rate_hz: float = 5.0) -> list[float]:
    """Key presses on 16 keypads of a 32-pad line -> the core's event, presses at random.

    5 presses/s between 16 counters is some six times a busy branch (a press every 3 s per counter)."""
    rng = random.Random(4)
    with TwinLine(9600, seed=4) as line:
        keypads = {c: line.add(2 * i + 1, "keypad", heartbeat_s=3.0) for i, c in enumerate(counters)}
        for i, _c in enumerate(counters):
            line.add(2 * i + 2, "rating", heartbeat_s=3.0)
        wiring = {2 * i + 1: c for i, c in enumerate(counters)} | {2 * i + 2: c for i, c in enumerate(counters)}
        bridge = branch.bridge(line, wiring)
        try:
            for c in counters:
                if not keypads[c].wait_for(lambda p: p.led_text == "空闲" or _is_number(p.led_text), 10):
                    raise RuntimeError(f"counter {c} not open: {keypads[c].led_text!r}")
            called = {c: _is_number(keypads[c].led_text) for c in counters}  # next key: 过号, else 叫号
            busy: dict[int, Sent] = {}  # counter -> its press waiting for the core's event
            seen = len(branch.events)
            times: list[float] = []
            deadline = time.perf_counter() + presses / rate_hz * 3 + 10
            while len(times) < presses and time.perf_counter() < deadline:
                time.sleep(rng.expovariate(rate_hz))
                with branch.cond:
                    for at, ev in branch.events[seen:]:
                        c = getattr(ev, "counter", 0)
                        if c in busy and isinstance(ev, (m.TicketCalled, m.TicketSkipped)):
                            times.append((at - busy.pop(c).queued_at) * 1000)
                            called[c] = isinstance(ev, m.TicketCalled)
                    seen = len(branch.events)
                free = [c for c in counters if c not in busy]
                if free:
                    c = rng.choice(free)
                    busy[c] = keypads[c].press(Key.SKIP if called[c] else Key.CALL_NEXT)
            if len(times) < presses:
                raise RuntimeError(f"only {len(times)} of {presses} presses reached the core")
            st = bridge.link.stats
            print(f"  line at {rate_hz:g} presses/s: host resends {st.resends}, duplicates {st.duplicates}, "
                  f"crc errors {st.decoder.crc_errors}", file=sys.stderr)
        finally:
            bridge.close()
    return times


def main() -> None:
    tune_latency()  # as `qcall bridge` does: the serial, bus and worker threads take turns quickly
    tune_gc()  # as `qcall bridge` does: no 10-13 ms full collections in the middle of a key press
    out: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        branch = Branch(Path(tmp), 18)
        try:
            branch.setup(list(range(1, 19)), tickets=260)
            for baud, counter, n in ((9600, 1, 120), (115200, 2, 100)):
                t = press_reply_core_ms(branch, counter, baud, n)
                _report(f"{baud} baud: press -> LED through bridge + core", t)
                out[f"press_reply_p50_ms_{baud}"] = round(percentile(t, 50), 1)
                out[f"press_reply_p99_ms_{baud}"] = round(percentile(t, 99), 1)
            t = press_event_ms_32(branch, list(range(3, 19)), 100)
            _report("32 pads at 9600: press -> core's event", t)
            out["press_event_p99_ms_32_devices"] = round(percentile(t, 99), 1)
        finally:
            branch.close()
    for baud, n in ((9600, 60), (115200, 60)):  # the link alone: a reference, kept short
        t = press_reply_ms(baud, n)
        _report(f"{baud} baud: press -> LED, serial link alone (echo)", t)
        if baud == 9600:
            out["press_echo_p50_ms_9600"] = round(percentile(t, 50), 1)
        out[f"press_echo_p99_ms_{baud}"] = round(percentile(t, 99), 1)
    t = press_host_ms_32(presses=60)
    _report("32 pads at 9600: press -> host", t)
    out["press_host_p99_ms_32_devices"] = round(percentile(t, 99), 1)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(json.dumps(out))


def _report(what: str, t: list[float]) -> None:
    print(f"{what}: {len(t)} presses, p50 {percentile(t, 50):.1f} ms, p99 {percentile(t, 99):.1f} ms, "
          f"mean {statistics.fmean(t):.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
