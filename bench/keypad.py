"""Keypad latency over a pty paced at the line speed. Prints one JSON object on its last line:

press_reply_p50_ms_9600     key press on the pad -> reply LED frame shown on the pad, at 9600 baud
press_reply_p99_ms_9600     (the KEY, the host's ACK and the LED frame alone take 31 ms on the wire)
press_reply_p50_ms_115200
press_reply_p99_ms_115200
press_host_p99_ms_32_devices  key press -> frame decoded by the host: 32 pads on one 9600 line, 20 presses/s
                              between them (far busier than a branch), heartbeats every 3 s

The host side is a local echo loop (`echo_reply`): it answers every KEY with an LED frame. The
bridge plugs its own `reply` in to measure through the core; `press_event_p99_ms_32_devices`
(press -> the core's event on the bus) is left to `press_event_hook` until the bridge exists.

Run: .venv/bin/python bench/keypad.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.frame import Command, Frame, Key, led_frame
from firmware_bridge.link import HostLink
from hw.pad_twin import Sent, TwinLine

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
                if not pad.wait_for(lambda p, n=shown: len(p.led_history) > n, 2):
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


def press_event_hook() -> dict[str, float]:
    """TODO(bridge): press on one of 32 pads -> the core's event on the bus, p99, with the real
    bridge, broker and core. Return {"press_event_p99_ms_32_devices": ...}; empty until then."""
    return {}


def main() -> None:
    out: dict[str, float] = {}
    for baud, n in ((9600, 300), (115200, 300)):
        t = press_reply_ms(baud, n)
        print(f"{baud} baud: press -> reply over {n} presses: p50 {percentile(t, 50):.1f} ms, "
              f"p99 {percentile(t, 99):.1f} ms, mean {statistics.fmean(t):.1f} ms", file=sys.stderr)
        out[f"press_reply_p50_ms_{baud}"] = round(percentile(t, 50), 1)
        out[f"press_reply_p99_ms_{baud}"] = round(percentile(t, 99), 1)
    t = press_host_ms_32()
    print(f"32 pads at 9600: press -> host p50 {percentile(t, 50):.1f} ms, p99 {percentile(t, 99):.1f} ms",
          file=sys.stderr)
    out["press_host_p99_ms_32_devices"] = round(percentile(t, 99), 1)
    out.update(press_event_hook())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
