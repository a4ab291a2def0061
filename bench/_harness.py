"""What the bus-level benches share (not a bench itself): Mosquitto on a free loopback port and
the core service in its own process, tuned as `qcall serve` tunes it, so a figure measured
against them includes the real broker hop and the real journal fsync."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from qbus.broker import MosquittoBroker
from qbus.config import BranchConfig
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from qserver.tuning import tune_gc, tune_latency


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
