"""Abuse benchmark: one kiosk floods the core with 5,000 issues a second for 20 s, through a real
Mosquitto (started here on a free port) and the real core service in its own process (journal
fsync included, as `qcall serve` runs it), while two other kiosks and four counters work as usual.

The flooder is a bare paho client on kiosk1's topic (an attacker does not use our client): it
paces QoS 1 requests with fresh ids and counts the replies by id. A display counts `issued` events.

core_alive        the core process is still running and answers after the flood
replies_lost      requests (flooder's and everyone else's) that never got a reply (target 0)
events_lost       issues answered ok whose `issued` event never arrived (target 0)
rss_growth_mb     the core's resident memory at its peak during the flood minus before it (<= 50)
issue_p99_ms      request -> reply p99 of the other kiosks' issues and the counters' commands
                  during the flood (<= 20); issue_p50_ms, and before_flood_p50/p99_ms: the same
                  devices in the 3 s before the flood (what the machine gives without it)
flood_sent, flood_ok, flood_rate_limited, others_requests   what happened
priority          the nice value the core and the broker ran at: the one deploy/systemd gives them
                  (qcall-core.service, mosquitto.service.d), when this process may set it (root);
                  the flooder and the other devices run at the default, as on another machine.
                  `--default-priority` runs everything at the default instead
cpu_s_during_flood, load_avg_1min, broker_drop_warnings      how busy the machine was (the flooder
                  shares it with the core here; on a branch LAN it would be another machine)

Run: .venv/bin/python bench/abuse.py [--default-priority]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench._harness import served
from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import load
from qbus.errors import BusError
from qbus.topics import Topics

CFG = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
FLOOD_PER_S = 5000
FLOOD_S = 20.0
DRAIN_S = 8.0  # after the flood: time for the last replies and events to arrive
OTHER_KIOSKS = ("kiosk2", "kiosk3")
COUNTERS = (1, 2, 3, 5)
OTHERS_EVERY_S = 0.2  # each other device sends a request every 200 ms (well within its limit)
BEFORE_S = 3.0  # the others work alone this long first: their latency without the flood


class _Reply(msgspec.Struct):
    id: str
    ok: bool
    ticket: m.TicketView | None = None


def flood(host: str, port: int, go: Any, out: Any) -> None:
    """In its own process: publish FLOOD_PER_S issues a second for FLOOD_S, count replies by id."""
    decoder = msgspec.json.Decoder(_Reply)
    replies: set[str] = set()
    ok_ids: list[str] = []
    lock = threading.Lock()
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flood-kiosk1", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe(TOPICS.reply("kiosk1"), 1)

    def on_subscribe(*_: Any) -> None:
        connected.set()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        r = decoder.decode(msg.payload)
        with lock:
            replies.add(r.id)
            if r.ok and r.ticket is not None:
                ok_ids.append(r.ticket.id)

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(host, port)
    client.loop_start()
    connected.wait(10)
    go.wait(30)
    topic = TOPICS.cmd("kiosk1")
    sent = 0
    t0 = time.monotonic()
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= FLOOD_S:
            break
        due = min(int(elapsed * FLOOD_PER_S), int(FLOOD_S * FLOOD_PER_S))
        while sent < due:
            payload = m.encode(m.Request(id=f"flood-{sent}", cmd=m.Issue(business="cash")))
            client.publish(topic, payload, qos=1)
            sent += 1
        time.sleep(0.002)
    send_s = time.monotonic() - t0
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        with lock:
            if len(replies) >= sent:
                break
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    with lock:
        out.put({"sent": sent, "send_s": round(send_s, 2), "replied": len(replies & {f"flood-{i}" for i in range(sent)}),
                 "ok_ids": ok_ids})


def deployed_nice() -> int:
    """The Nice= of the core's systemd unit: the bench runs the core as a branch server does."""
    unit = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "qcall-core.service"
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line.startswith("Nice="):
            return int(line.split("=", 1)[1])
    return 0


def set_priority(pids: tuple[int, ...], nice: int) -> int:
    """Every thread of `pids` at `nice` (what systemd's Nice= does); the value set, or 0 when this
    process may not raise a priority (not root)."""
    try:
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
    except PermissionError:
        return 0
    return nice


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used: who was busy during the flood."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Others:
    """The branch at work during the flood: other kiosks issue, counters call and serve. Runs in
    its own process, so what it measures is the core's answer time, not the flood's CPU here."""

    def __init__(self, host: str, port: int, flooding: Any) -> None:
        self.host, self.port = host, port
        self.flooding = flooding
        self.latencies_ms: list[float] = []
        self.before_ms: list[float] = []
        self.lost = 0
        self.requests = 0
        self.ok_ids: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.clients: list[BusClient] = []

    def client(self, device: str) -> BusClient:
        c = BusClient(host=self.host, port=self.port, topics=TOPICS, device=device, command_timeout_s=10.0)
        self.clients.append(c)
        return c.connect(10)

    def timed(self, bus: BusClient, cmd: m.Command) -> m.Reply | None:
        t0 = time.perf_counter()
        try:
            reply = bus.request(cmd)
        except BusError:
            with self.lock:
                self.lost += 1
                self.requests += 1
            return None
        ms = (time.perf_counter() - t0) * 1000
        with self.lock:
            self.requests += 1
            if not self.flooding.is_set():
                self.before_ms.append(ms)
            elif not self.stop.is_set():
                self.latencies_ms.append(ms)
            if reply.ok and reply.ticket is not None:
                self.ok_ids.append(reply.ticket.id)
        return reply

    def kiosk(self, device: str) -> None:
        bus = self.client(device)
        k = 0
        while not self.stop.wait(OTHERS_EVERY_S):
            self.timed(bus, m.Issue(business=("personal", "cash")[k % 2]))
            k += 1

    def counter(self, n: int, bus: BusClient) -> None:
        cycle: list[m.Command] = [m.CallNext(counter=n), m.StartService(counter=n),
                                  m.FinishService(counter=n, request_rating=False)]
        k = 0
        while not self.stop.wait(OTHERS_EVERY_S):
            r = self.timed(bus, cycle[k % 3])
            k = k + 1 if r is not None and r.ok else 0

    def start(self) -> list[threading.Thread]:
        counters = []
        for n in COUNTERS:
            bus = self.client(f"counter{n}")
            teller = CFG.teller[n - 1].id
            if not bus.request(m.Login(counter=n, teller=teller, pin=teller)).ok:
                raise SystemExit(f"counter {n}: login refused")
            counters.append((n, bus))
        threads = [threading.Thread(target=self.kiosk, args=(d,), daemon=True) for d in OTHER_KIOSKS]
        threads += [threading.Thread(target=self.counter, args=(n, b), daemon=True) for n, b in counters]
        for t in threads:
            t.start()
        return threads


def work(host: str, port: int, ready: Any, flooding: Any, done: Any, out: Any) -> None:
    """In its own process: the other kiosks and counters, until `done`; then what they measured."""
    others = Others(host, port, flooding)
    threads = others.start()
    ready.set()
    done.wait(60)
    others.stop.set()
    for t in threads:
        t.join(15)
    probe = others.client("kiosk9")
    try:
        alive = probe.request(m.Issue(business="personal"), 10).ok
    except BusError:
        alive = False
    for c in others.clients:
        c.close()
    out.put({"flood_ms": others.latencies_ms, "before_ms": others.before_ms, "lost": others.lost,
             "requests": others.requests, "ok_ids": others.ok_ids, "answers_after": alive})


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0.0


def main() -> None:
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp, served(CFG, Path(tmp)) as srv:
        broker = srv.broker
        events: set[str] = set()
        ev_lock = threading.Lock()

        def on_issued(msg: Received[Any]) -> None:
            if isinstance(msg.value, m.TicketIssued):
                with ev_lock:
                    events.add(msg.value.ticket.id)

        display = BusClient(host=broker.host, port=broker.port, topics=TOPICS, device="display1")
        display.subscribe(TOPICS.event("issued"), m.decode_event, on_issued)
        display.connect(10)
        go, out = ctx.Event(), ctx.Queue()
        ready, done, work_out = ctx.Event(), ctx.Event(), ctx.Queue()
        flooder = ctx.Process(target=flood, args=(broker.host, broker.port, go, out))
        flooder.start()
        worker = ctx.Process(target=work, args=(broker.host, broker.port, ready, go, done, work_out))
        worker.start()
        if not ready.wait(30):
            raise SystemExit("the other devices did not start")
        time.sleep(BEFORE_S)  # the branch at work before the flood: the machine's own noise
        nice = 0 if "--default-priority" in sys.argv else set_priority((int(srv.core.pid), broker.pid),
                                                                        deployed_nice())
        rss_before = rss_mb(srv.core.pid)
        procs = (("core", int(srv.core.pid)), ("flooder", flooder.pid or 0), ("mosquitto", broker.pid))
        cpu0 = {n: cpu_s(p) for n, p in procs}
        rss_peak = rss_before
        go.set()
        t_end = time.monotonic() + FLOOD_S
        while time.monotonic() < t_end:
            time.sleep(0.25)
            rss_peak = max(rss_peak, rss_mb(srv.core.pid))
        cpu = {n: round(cpu_s(p) - cpu0[n], 1) for n, p in procs}
        done.set()
        measured = work_out.get(timeout=60)
        worker.join(10)
        result = out.get(timeout=DRAIN_S + 20)
        flooder.join(10)
        rss_peak = max(rss_peak, rss_mb(srv.core.pid))
        alive = srv.core.is_alive() and measured["answers_after"]
        ok_ids = set(result["ok_ids"]) | set(measured["ok_ids"])
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            with ev_lock:
                if ok_ids <= events:
                    break
            time.sleep(0.05)
        with ev_lock:
            events_lost = len(ok_ids - events)
        display.close()
        broker_drops = sum("dropped" in line.lower() for line in broker.log_text().splitlines())
    print(json.dumps({
        "core_alive": alive,
        "replies_lost": result["sent"] - result["replied"] + measured["lost"],
        "events_lost": events_lost,
        "rss_growth_mb": round(rss_peak - rss_before, 1),
        "issue_p99_ms": round(percentile(measured["flood_ms"], 99), 2),
        "issue_p50_ms": round(percentile(measured["flood_ms"], 50), 2),
        "before_flood_p99_ms": round(percentile(measured["before_ms"], 99), 2),
        "before_flood_p50_ms": round(percentile(measured["before_ms"], 50), 2),
        "flood_sent": result["sent"],
        "flood_send_s": result["send_s"],
        "flood_ok": len(result["ok_ids"]),
        "flood_rate_limited": result["replied"] - len(result["ok_ids"]),
        "others_requests": measured["requests"],
        "broker_drop_warnings": broker_drops,
        "priority": nice,
        "cpu_s_during_flood": cpu,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
