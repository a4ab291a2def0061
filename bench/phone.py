"""Phone page benchmark: a crowd following their tickets. Prints one JSON object on its last line:

followers
    Open live phone pages (`/t/<token>/events` streams) against one real `qcall web` process:
    2,000 — two phones for each of 1,000 waiting cash tickets (a customer and a companion), so
    every call moves every follower up one place.
call_to_phone_p99_ms
    A counter's CallNext (through Mosquitto and the core service) from the moment its `called`
    event reaches a bus subscriber in this process until the *last* of the 2,000 followers has
    the update saying it moved up (or, for the called ticket's phones, "go to counter 1"). One
    figure per call, 10 calls; p99 over them (with 10, the worst call), p50 alongside, and the
    per-follower p50 / p99 over all 20,000 updates.
rss_mb
    Peak resident memory (VmHWM) of the web process at the end.

The followers are raw asyncio streams (an HTTP library would cost this shared 2-core machine
more CPU than the server spends). Run: .venv/bin/python bench/phone.py
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import CallTimes, branch_server, hwm_mb, quantile, start_web, unlimited, web_branch_file
from qbus import messages as m
from qbus.broker import free_port
from qbus.client import BusClient
from qbus.config import load
from qbus.ticket_link import load_link_key, ticket_token
from qbus.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
TICKETS = 1000
PER_TICKET = 2
CALLS = 10
AHEAD = re.compile(rb'"state":"(\w+)","ahead":(\d+)')


class Follower:
    """One phone's event stream; `seen[ahead]` = when it first learnt it had `ahead` people ahead
    (-1: called)."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.greeted = False


async def follow(host: str, port: int, token: str, f: Follower, opened: list[int], all_open: asyncio.Event,
                 total: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /t/{token}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.monotonic()
            for state, ahead in AHEAD.findall(chunk):
                key = -1 if state == b"called" else int(ahead)
                f.seen.setdefault(key, now)
            if not f.greeted and f.seen:
                f.greeted = True
                opened[0] += 1
                if opened[0] == total:
                    all_open.set()
    finally:
        writer.close()


async def run(host: str, port: int, tokens: list[str], bus: BusClient,
              called_at: dict[str, float], numbers: list[str]) -> tuple[list[float], list[float], int]:
    followers = [[Follower() for _ in range(PER_TICKET)] for _ in tokens]
    total = len(tokens) * PER_TICKET
    opened, all_open = [0], asyncio.Event()
    tasks = []
    for i, token in enumerate(tokens):
        for f in followers[i]:
            tasks.append(asyncio.create_task(follow(host, port, token, f, opened, all_open, total)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # let the listener accept in batches (its backlog is 2,048)
    await asyncio.wait_for(all_open.wait(), 30)
    await asyncio.sleep(0.5)
    per_call: list[float] = []
    per_follower: list[float] = []
    missing = 0
    for k in range(CALLS):
        reply = await asyncio.to_thread(bus.request, m.CallNext(counter=1), 10, device="counter1")
        assert reply.ok and reply.number == numbers[k], reply
        t_call = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            t_call = called_at.get(numbers[k])
            done = t_call is not None and all(
                (-1 if i == k else i - k - 1) in f.seen for i in range(k, len(tokens)) for f in followers[i])
            if done:
                break
        assert t_call is not None, "the call event never came"
        worst = 0.0
        for i in range(k, len(tokens)):
            want = -1 if i == k else i - k - 1
            for f in followers[i]:
                at = f.seen.get(want)
                if at is None:
                    missing += 1
                    continue
                ms = 1000 * (at - t_call)
                per_follower.append(ms)
                worst = max(worst, ms)
        per_call.append(worst)
        await asyncio.to_thread(bus.request, m.Skip(counter=1), 10, device="counter1")
        await asyncio.sleep(0.3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return per_call, per_follower, missing


def main() -> None:
    cfg = load(ROOT / "examples" / "branch.toml")
    # over a thousand cash tickets in one day: four digits, so numbers never run out (numbers_exhausted)
    cfg = msgspec.structs.replace(cfg, rules=msgspec.structs.replace(cfg.rules, number_width=4))
    with tempfile.TemporaryDirectory(prefix="qcall-bench-phone-") as tmp_s:
        tmp = Path(tmp_s)
        listen = free_port()
        config = web_branch_file(tmp, listen, f'base_url = "http://127.0.0.1:{listen}"\n')
        (tmp / "users.toml").write_text("", encoding="utf-8")
        key = load_link_key(tmp / "ticket-link.key")
        with branch_server(unlimited(cfg), tmp) as broker:  # one kiosk issues the whole burst
            url = f"http://127.0.0.1:{listen}"
            proc = start_web(config, broker, url)
            topics = Topics(cfg.bus.prefix, cfg.branch.id)
            calls = CallTimes()
            called_at = calls.at
            bus = BusClient(host=broker.host, port=broker.port, topics=topics, device="bridge1",
                            act_as=("counter1",))
            bus.subscribe(topics.event("called"), m.decode_event, calls)
            kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1")
            try:
                bus.connect(10)
                kiosk.connect(10)
                assert bus.request(m.Login(counter=1, teller="1001", pin="1001"), 10, device="counter1").ok
                tickets = []
                for _ in range(TICKETS):
                    reply = kiosk.request(m.Issue(business="cash"), 10)
                    assert reply.ok and reply.ticket is not None, reply
                    tickets.append(reply.ticket)
                time.sleep(0.5)  # the web has seen every issue
                tokens = [ticket_token(key, t.id) for t in tickets]
                numbers = [t.number for t in tickets]
                per_call, per_follower, missing = asyncio.run(
                    run("127.0.0.1", listen, tokens, bus, called_at, numbers))
                rss = hwm_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
                bus.close()
                kiosk.close()
    print("per call (ms):", [round(x) for x in per_call], file=sys.stderr)
    if missing:
        print(f"warning: {missing} follower updates never arrived", file=sys.stderr)
    out = {
        "followers": TICKETS * PER_TICKET, "calls": CALLS, "updates": len(per_follower), "missing": missing,
        "call_to_phone_p50_ms": quantile(per_call, 0.5, 1), "call_to_phone_p99_ms": quantile(per_call, 0.99, 1),
        "follower_update_p50_ms": quantile(per_follower, 0.5, 1), "follower_update_p99_ms": quantile(per_follower, 0.99, 1),
        "rss_mb": rss,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
