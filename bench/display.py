"""Hall display benchmark. Prints one JSON object on its last line:

frame_p50_ms_1080p / frame_p99_ms_1080p
    Time to bring a 1920x1080 frame up to date (apply the frame's messages, redraw the changed
    regions, pygame.display.update of the dirty rects) over 3,600 frames (one minute at 60 fps
    of branch time) with a busy hall: a call every 2 s, starts of service, queue counts changing,
    recalls, pauses, a new notice. The first frame (a full redraw at start-up) is reported apart,
    and so is the cost of redrawing everything every frame (what dirty regions save).
rss_mb
    Peak resident memory of the process (ru_maxrss) after both parts.
event_frame_p99_ms
    A call event published on a real Mosquitto (by a client acting as the core) until the frame
    that shows it has been handed to the screen: broker, the display's subscription (bus_feed),
    inbox, run_display() on the real clock at 60 fps; one call every ~40 ms.
    `event_frame_inproc_p99_ms` is the same without the broker (event put straight in the inbox).

Run: .venv/bin/python bench/display.py (SDL dummy video driver; no window needed)
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pygame

from display.app import Frame, run_display
from display.feed import bus_feed
from display.hall import BusLink, HallState
from display.screen import HallScreen
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import BranchConfig, load

CFG = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
T0 = 1_800_000_000.0
FPS = 60


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def busy_script(cfg: BranchConfig, seconds: float, seed: int = 1) -> list[tuple[float, object]]:
    """(branch seconds, message) for a busy minute: calls, starts, recalls, queue counts, pauses."""
    rnd = random.Random(seed)
    out: list[tuple[float, object]] = []
    counters = [c.id for c in cfg.counter]
    prefix = {b.code: b.prefix for b in cfg.business}
    waiting = {b.code: rnd.randint(0, 30) for b in cfg.business}
    seq = 0
    t = 0.5
    while t < seconds:
        seq += 1
        counter = rnd.choice(counters)
        business = rnd.choice(list(prefix))
        number = f"{prefix[business]}{seq:03d}"
        out.append((t, m.TicketCalled(at=T0 + t, number=number, counter=counter, business=business,
                                      tier="normal", waited_s=rnd.uniform(30, 900))))
        out.append((t, m.CounterChanged(at=T0 + t, counter=counter, status=m.CounterStatus.CALLED, number=number)))
        waiting[business] = max(0, waiting[business] - 1)
        out.append((t, m.QueueState(waiting=dict(waiting))))
        if rnd.random() < 0.2:
            out.append((t + 1.0, m.TicketRecalled(at=T0 + t + 1, number=number, counter=counter,
                                                  recalls=1)))
        out.append((t + rnd.uniform(3, 12), m.CounterChanged(at=T0 + t, counter=counter,
                                                             status=m.CounterStatus.SERVING, number=number)))
        arrive = rnd.choice(list(prefix))
        waiting[arrive] += 1
        out.append((t + 1.3, m.QueueState(waiting=dict(waiting))))
        t += 2.0
    for k in range(int(seconds // 15)):
        c = rnd.choice(counters)
        out.append((7.0 + 15 * k, m.CounterChanged(at=T0, counter=c, status=m.CounterStatus.PAUSED)))
        out.append((12.0 + 15 * k, m.CounterChanged(at=T0, counter=c, status=m.CounterStatus.IDLE)))
    out.append((seconds / 2, m.Notice(zh="今日下午四点起暂停外汇业务，请谅解。",
                                      en="Foreign exchange closes at 4 pm today.")))
    out.sort(key=lambda x: x[0])
    return out


def frame_times(frames: int = 3600) -> tuple[list[float], float, float]:
    screen = pygame.display.set_mode((1920, 1080))
    hall = HallScreen(CFG, screen)
    state = HallState.from_config(CFG)
    state.apply(BusLink(online=True), T0)
    script = busy_script(CFG, frames / FPS)
    i = 0
    times: list[float] = []
    first = 0.0
    for n in range(frames):
        t = n / FPS
        t0 = time.perf_counter()
        while i < len(script) and script[i][0] <= t:
            state.apply(script[i][1], T0 + t)
            i += 1
        dirty = hall.draw(state, T0 + t)
        if dirty:
            pygame.display.update(dirty)
        dt = (time.perf_counter() - t0) * 1000
        if n == 0:
            first = dt
        else:
            times.append(dt)
    full = []
    for n in range(120):  # for comparison: everything redrawn every frame
        t0 = time.perf_counter()
        hall.draw(state, T0 + frames / FPS + n / FPS, full=True)
        pygame.display.update()
        full.append((time.perf_counter() - t0) * 1000)
    return times, first, statistics.median(full)


def event_to_frame(events: int = 250, every_s: float = 0.04, broker: object | None = None) -> list[float]:
    """Latencies (ms) from handing a call to the bus (or the inbox) to the frame showing it."""
    from qbus.client import BusClient
    from qbus.topics import Topics

    screen = pygame.display.set_mode((1920, 1080))
    cfg = CFG
    inbox: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    put_at: dict[str, float] = {}
    lat: list[float] = []
    counters = [c.id for c in cfg.counter]
    close = None
    send: Callable[[object], None] = inbox.put
    core = None
    if isinstance(broker, MosquittoBroker):
        close = bus_feed(cfg, inbox.put, host=broker.host, port=broker.port)
        core = BusClient(host=broker.host, port=broker.port, device="core", kind="core",
                         topics=Topics(cfg.bus.prefix, cfg.branch.id)).connect(10)
        topic = core.topics.event("called")
        bus = core

        def send(ev: object) -> None:
            bus.publish(topic, ev, qos=1)  # type: ignore[arg-type]

    def feed() -> None:
        rnd = random.Random(2)
        if core is None:
            inbox.put(BusLink(online=True))
        time.sleep(0.5)  # first frame (full redraw) and the subscription out of the way
        for k in range(events):
            number = f"{'ABCDE'[k % 5]}{k:03d}"
            ev = m.TicketCalled(at=time.time(), number=number, counter=rnd.choice(counters),
                                business="cash", tier="normal", waited_s=60.0)
            put_at[number] = time.perf_counter()
            send(ev)
            if k % 3 == 0:
                inbox.put(m.QueueState(waiting={"cash": rnd.randint(0, 40), "personal": k % 17}))
            stop.wait(every_s * rnd.uniform(0.5, 1.5))
        time.sleep(0.2)
        stop.set()

    def on_frame(f: Frame) -> None:
        for msg in f.messages:
            if isinstance(msg, m.TicketCalled) and msg.number in put_at:
                lat.append((f.shown_at - put_at[msg.number]) * 1000)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        run_display(cfg, inbox, screen=screen, stop=stop, on_frame=on_frame)
    finally:
        feeder.join(5)
        if core is not None:
            core.close()
        if close is not None:
            close()
    return lat


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the last line must be the JSON, not a log line
    pygame.display.init()
    times, first, full = frame_times()
    inproc = event_to_frame()
    with tempfile.TemporaryDirectory(prefix="qcall-bench-") as tmp:
        with MosquittoBroker(Path(tmp)) as broker:
            lat = event_to_frame(broker=broker)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "frame_p50_ms_1080p": round(statistics.median(times), 3),
        "frame_p99_ms_1080p": round(pct(times, 99), 3),
        "frame_max_ms_1080p": round(max(times), 3),
        "first_frame_ms_1080p": round(first, 2),
        "full_redraw_p50_ms_1080p": round(full, 2),
        "frames": len(times) + 1,
        "rss_mb": round(rss_mb, 1),
        "event_frame_p50_ms": round(statistics.median(lat), 3),
        "event_frame_p99_ms": round(pct(lat, 99), 3),
        "events": len(lat),
        "event_frame_inproc_p50_ms": round(statistics.median(inproc), 3),
        "event_frame_inproc_p99_ms": round(pct(inproc, 99), 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
