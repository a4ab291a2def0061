"""Web service benchmark. Prints one JSON object on its last line:

event_to_page_p99_ms
    A call (a counter's CallNext through Mosquitto and the core) from the moment its `called`
    event reaches a bus subscriber in this process until the dashboard update that shows the
    number arrives on each of 50 open dashboards' event streams (`/events`, the real `qcall web`
    process). p50 alongside. One call every ~120 ms, 40 calls, so 2,000 samples.
page_p99_ms
    The Now dashboard's HTML (GET /, signed in), 200 requests one after another while the 50
    streams stay open; p50 alongside.
rss_mb
    Peak resident memory (VmHWM) of the web process at the end.

Run: .venv/bin/python bench/web.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import CallTimes, branch_server, hwm_mb, quantile, start_web, unlimited, web_branch_file
from qbus import messages as m
from qbus.broker import free_port
from qbus.client import BusClient
from qbus.config import load
from qbus.topics import Topics
from web.users import add_user

ROOT = Path(__file__).resolve().parents[1]
STREAMS = 50
CALLS = 40
PAGES = 200
PASSWORD = "bench-password-1"


async def follow(host: str, port: int, cookie: str, seen: dict[str, list[float]], opened: asyncio.Event,
                 counter: list[int]) -> None:
    """One dashboard's event stream over a plain socket (an HTTP client library would cost the
    bench more CPU than the server spends, on this shared 2-core machine)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\nCookie: qcall_session={cookie}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    mine: set[str] = set()  # numbers this stream has shown already (a card shows one while served too)
    buf = b""
    greeted = False
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.monotonic()
            if not greeted and b"event: sections" in chunk:
                greeted = True
                counter[0] += 1
                if counter[0] == STREAMS:
                    opened.set()
            buf += chunk
            *messages, buf = buf.split(b"\n\n")
            for msg in messages:
                if b'"counters"' not in msg:
                    continue
                for number, times in list(seen.items()):
                    if number not in mine and f'number\\">{number}<'.encode() in msg:
                        mine.add(number)
                        times.append(now)
    finally:
        writer.close()


async def run(url: str, cookies: httpx.Cookies, bus: BusClient, kiosk: BusClient,
              called_at: dict[str, float]) -> tuple[list[float], list[float]]:
    seen: dict[str, list[float]] = {}
    opened = asyncio.Event()
    host, port = url.removeprefix("http://").split(":")
    cookie = cookies["qcall_session"]
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=30) as client:
        count = [0]
        tasks = [asyncio.create_task(follow(host, int(port), cookie, seen, opened, count)) for _ in range(STREAMS)]
        await asyncio.wait_for(opened.wait(), 20)
        await asyncio.sleep(0.5)  # every stream past its first full picture
        numbers = [kiosk.request(m.Issue(business="cash"), 10).ticket for _ in range(CALLS)]
        assert all(numbers)
        for i in range(CALLS):
            counter = 1 + i % 2
            ticket = numbers[i]
            assert ticket is not None
            seen[ticket.number] = []
            reply = await asyncio.to_thread(bus.request, m.CallNext(counter=counter), 10, device=f"counter{counter}")
            assert reply.ok, reply.error
            await asyncio.sleep(0.12)
            await asyncio.to_thread(bus.request, m.StartService(counter=counter), 10, device=f"counter{counter}")
            await asyncio.to_thread(bus.request, m.FinishService(counter=counter, request_rating=False), 10,
                                    device=f"counter{counter}")
        await asyncio.sleep(0.5)
        lat = [1000 * (t - called_at[n]) for n, ts in seen.items() for t in ts if n in called_at]
        missing = sum(STREAMS - min(STREAMS, len(ts)) for ts in seen.values())
        if missing:
            print(f"warning: {missing} stream updates never arrived", file=sys.stderr)
        pages = []
        for _ in range(PAGES):
            t0 = time.perf_counter()
            r = await client.get("/")
            pages.append(1000 * (time.perf_counter() - t0))
            assert r.status_code == 200
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return lat, pages


def main() -> None:
    cfg = load(ROOT / "examples" / "branch.toml")
    with tempfile.TemporaryDirectory(prefix="qcall-bench-web-") as tmp_s:
        tmp = Path(tmp_s)
        listen = free_port()
        config = web_branch_file(tmp, listen)
        add_user(tmp / "users.toml", "bench", "压测", "manager", PASSWORD)
        with branch_server(unlimited(cfg), tmp) as broker:  # one kiosk issues the whole burst
            url = f"http://127.0.0.1:{listen}"
            proc = start_web(config, broker, url)
            topics = Topics(cfg.bus.prefix, cfg.branch.id)
            calls = CallTimes()
            called_at = calls.at
            bus = BusClient(host=broker.host, port=broker.port, topics=topics, device="bridge1",
                            act_as=("counter1", "counter2"))
            bus.subscribe(topics.event("called"), m.decode_event, calls)
            kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1")
            try:
                bus.connect(10)
                kiosk.connect(10)
                for c in (1, 2):
                    teller = f"100{c}"
                    assert bus.request(m.Login(counter=c, teller=teller, pin=teller), 10, device=f"counter{c}").ok
                login = httpx.post(url + "/login", data={"login": "bench", "password": PASSWORD, "next": "/"})
                assert login.status_code == 303, login.text
                lat, pages = asyncio.run(run(url, login.cookies, bus, kiosk, called_at))
                rss = hwm_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
                bus.close()
                kiosk.close()
    out = {
        "streams": STREAMS, "calls": CALLS, "samples": len(lat),
        "event_to_page_p50_ms": quantile(lat, 0.5), "event_to_page_p99_ms": quantile(lat, 0.99),
        "page_p50_ms": quantile(pages, 0.5), "page_p99_ms": quantile(pages, 0.99),
        "rss_mb": rss,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
