"""Bus benchmarks through a real Mosquitto on loopback (started here on a free port).

command_event_p50_ms / p99   a counter's CallNext published -> the core's `called` event received
                             by a subscriber (includes the journal's fsync)
command_reply_p50_ms / p99   the same request -> its reply at the counter
commands_per_s               sustained requests answered per second, 50 counters in a closed loop
                             (each waits for its reply before sending the next)

Run: .venv/bin/python bench/bus.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from bench._harness import branch_server, unlimited
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient, Received
from qbus.config import BranchConfig, Counter, Teller, load
from qbus.topics import Topics

BASE = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
N_COUNTERS = 50


def branch_with(n: int) -> BranchConfig:
    counters = [Counter(id=i, serves={"cash": 1, "personal": 1}) for i in range(1, n + 1)]
    tellers = [Teller(id=f"{5000 + i}", name=f"T{i}") for i in range(1, n + 1)]
    return unlimited(msgspec.structs.replace(BASE, counter=counters, teller=tellers))


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(broker: MosquittoBroker, topics: Topics, samples: int = 400) -> dict[str, float]:
    got: dict[str, float] = {}
    cond = threading.Condition()

    def on_event(msg: Received[object]) -> None:
        ev = msg.value
        if isinstance(ev, m.TicketCalled):
            with cond:
                got[ev.number] = time.perf_counter()
                cond.notify_all()

    screen = BusClient(host=broker.host, port=broker.port, topics=topics, device="display1")
    screen.subscribe(topics.event("called"), m.decode_event, on_event)
    screen.connect()
    kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1").connect()
    counter = BusClient(host=broker.host, port=broker.port, topics=topics, device="counter1").connect()
    counter.request(m.Login(counter=1, teller="5001", pin="5001"))
    for _ in range(samples + 20):
        kiosk.request(m.Issue(business="cash"))
    ev_ms, reply_ms = [], []
    for i in range(samples + 20):
        t0 = time.perf_counter()
        r = counter.request(m.CallNext(counter=1))
        t1 = time.perf_counter()
        number = r.number
        with cond:
            cond.wait_for(lambda: number in got, 5)  # noqa: B023 (used at once, inside the loop turn)
        if i >= 20:  # warm-up
            ev_ms.append((got[number] - t0) * 1000)
            reply_ms.append((t1 - t0) * 1000)
        counter.request(m.StartService(counter=1))
        counter.request(m.FinishService(counter=1, request_rating=False))
    for c in (screen, kiosk, counter):
        c.close()
    return {
        "command_event_p50_ms": round(statistics.median(ev_ms), 2),
        "command_event_p99_ms": round(percentile(ev_ms, 99), 2),
        "command_reply_p50_ms": round(statistics.median(reply_ms), 2),
        "command_reply_p99_ms": round(percentile(reply_ms, 99), 2),
    }


def throughput(broker: MosquittoBroker, topics: Topics, seconds: float = 6.0) -> dict[str, float]:
    clients = [BusClient(host=broker.host, port=broker.port, topics=topics, device=f"counter{i}",
                         command_timeout_s=20).connect() for i in range(1, N_COUNTERS + 1)]
    kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1",
                      command_timeout_s=20).connect()
    for i, c in enumerate(clients, 1):
        c.request(m.Login(counter=i, teller=f"{5000 + i}", pin=f"{5000 + i}"))
    stop = threading.Event()
    counts = [0] * (N_COUNTERS + 1)

    def counter_loop(i: int, bus: BusClient) -> None:
        cycle: list[m.Command] = [m.CallNext(counter=i), m.StartService(counter=i),
                 m.FinishService(counter=i, request_rating=False)]
        k = 0
        while not stop.is_set():
            r = bus.request(cycle[k % 3])
            counts[i] += 1
            k = k + 1 if r.ok else 0

    def kiosk_loop() -> None:
        while not stop.is_set():
            kiosk.request(m.Issue(business=("cash", "personal")[counts[0] % 2]))
            counts[0] += 1

    threads = [threading.Thread(target=counter_loop, args=(i, c)) for i, c in enumerate(clients, 1)]
    threads.append(threading.Thread(target=kiosk_loop))
    for t in threads:
        t.start()
    time.sleep(1.0)  # warm-up: let every loop get going
    start_n, t0 = sum(counts), time.perf_counter()
    time.sleep(seconds)
    done, elapsed = sum(counts) - start_n, time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(timeout=30)
    for c in [*clients, kiosk]:
        c.close()
    return {"commands_per_s": round(done / elapsed), "counters": N_COUNTERS}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, branch_server(branch_with(N_COUNTERS), Path(tmp)) as broker:
        topics = Topics(BASE.bus.prefix, BASE.branch.id)
        out: dict[str, object] = {}
        out.update(latency(broker, topics))
        out.update(throughput(broker, topics))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
