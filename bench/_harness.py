"""What the bus-level benches share (not a bench itself): Mosquitto on a free loopback port and
the core service in its own process, tuned as `qcall serve` tunes it, so a figure measured
against them includes the real broker hop and the real journal fsync."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import Received
from qbus.config import BranchConfig
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from qserver.tuning import tune_gc, tune_latency

ROOT = Path(__file__).resolve().parents[1]


def _core_process(cfg: BranchConfig, journal: Path, host: str, port: int, ready: Any, stop: Any) -> None:
    tune_gc()
    tune_latency()
    # The bench machine's kernel clock may not be NTP-disciplined: trust it, as a branch with an RTC.
    cfg = msgspec.structs.replace(cfg, clock=msgspec.structs.replace(cfg.clock, confirm="rtc"))
    # the bench's made-up PINs (each teller's id), hashed cheaply: logins are not what it measures
    runner = CoreRunner(cfg, journal, host, port, pins=PinBook.example_for(cfg, CHEAP_COST)).start()
    ready.set()
    stop.wait()
    runner.stop()


def unlimited(cfg: BranchConfig) -> BranchConfig:
    """`cfg` without the per-device rate limit: a bench that measures how fast one device can be
    served (bench/abuse.py measures the limit itself)."""
    limits = msgspec.structs.replace(cfg.limits, device_rate_per_s=1e9, device_burst=1_000_000_000)
    return msgspec.structs.replace(cfg, limits=limits)


@dataclass(frozen=True)
class Served:
    broker: MosquittoBroker
    core: Any  # the core's multiprocessing.Process (pid, is_alive())


@contextmanager
def served(cfg: BranchConfig, tmp: Path) -> Iterator[Served]:
    """The started broker and the core's process, serving `cfg` and journaling into `tmp`."""
    ctx = multiprocessing.get_context("fork")
    broker = MosquittoBroker(tmp / "mosq", persistence=False).start()
    ready, stop = ctx.Event(), ctx.Event()
    core = ctx.Process(target=_core_process, args=(cfg, tmp / "journal.db", broker.host, broker.port, ready, stop))
    core.start()
    try:
        if not ready.wait(30):
            raise SystemExit("core service did not start")
        yield Served(broker, core)
    finally:
        stop.set()
        core.join(30)
        broker.close()


@contextmanager
def branch_server(cfg: BranchConfig, tmp: Path) -> Iterator[MosquittoBroker]:
    """Yield the started broker; the core serves `cfg` on it, journaling into `tmp`."""
    with served(cfg, tmp) as s:
        yield s.broker


def web_branch_file(tmp: Path, listen: int, web_keys: str = "") -> Path:
    """The example branch as a file in `tmp` with its [web] table replaced: the web service
    listening on `listen` (plus `web_keys`, TOML lines of that table)."""
    example = (ROOT / "examples" / "branch.toml").read_text(encoding="utf-8").split("\n[web]\n")[0]
    config = tmp / "branch.toml"
    config.write_text(example + f"\n[web]\nport = {listen}\n{web_keys}", encoding="utf-8")
    return config


def start_web(config: Path, broker: MosquittoBroker, url: str, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """`qcall web` as its own process (the figure includes its own event loop and RSS), returned
    once `url`/healthz answers; the caller terminates it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcall.cli", "web", "--config", str(config), "--host", broker.host,
         "--port", str(broker.port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("qcall web did not start")
            time.sleep(0.05)
    except BaseException:
        proc.terminate()
        proc.wait(10)
        raise


def quantile(xs: list[float], q: float, digits: int = 2) -> float:
    """The q-quantile of `xs` (nearest rank), rounded; -1 when there is none."""
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], digits) if xs else -1.0


def hwm_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


class CallTimes:
    """A `called` event subscriber: when (monotonic) each number's call arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, msg: Received[object]) -> None:
        ev = msg.value
        if isinstance(ev, m.TicketCalled):
            with self._lock:
                self.at[ev.number] = time.monotonic()
