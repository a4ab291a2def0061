"""The head-office drill rig: real Mosquitto brokers (one per branch, bridged by Mosquitto's own
bridge to a central one), the real core service per branch on a virtual clock, real PostgreSQL.

Everything is written by the real provisioning code (`qcall provision` with an [hq] section,
`qcall hq provision`), so the drills run the settings a bank ships.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from qbus import hqlink
from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.client import BusClient
from qbus.config import BranchConfig, load
from qbus.provision import MANAGER, Provisioned, provision
from qbus.topics import Topics
from qcore import stats
from qhq.config import HqConfig, parse
from qhq.ingest import Ingest
from qserver.clock import BranchClock
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.test_config import EXAMPLE

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_772_416_800.0  # 2026-03-02 10:00 in Shanghai: the branches are open
COUNTERS = (1, 2)  # both serve cash


class VirtualTime:
    """Branch time that moves only when the drill says so (BranchClock's monotonic source)."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def clock(self) -> BranchClock:
        return BranchClock(wall=lambda: T0, mono=lambda: self.elapsed)


def until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait for something another process does (a broker forwarding, the ingest committing)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


class CentralSite:
    def __init__(self, root: Path, branches: list[str], workers: int = 1, share: str = "") -> None:
        data = root / "central-data"
        data.mkdir(parents=True, exist_ok=True)
        self.files = hqlink.provision_central(branches, root / "central", local_port=free_port(),
                                              persistence_dir=str(data), workers=workers)
        self.broker = MosquittoBroker(root / "central-run", conf=self.files.settings)
        self.broker.start()
        for w in range(1, workers + 1):
            self.open_ingest_session(hqlink.ingest_user(w), share)

    def open_ingest_session(self, user: str = "hq-ingest1", share: str = "") -> None:
        """Head office's ingest session exists before any branch publishes (as in production,
        where it is made once at installation): the broker queues for it from then on."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from qhq.ingest import filters

        done = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, clean_session=False,
                        protocol=mqtt.MQTTv311)
        c.username_pw_set(user, self.files.password(user))
        c.on_subscribe = lambda *_a: done.set()
        c.connect("127.0.0.1", self.port)
        c.subscribe([(f, 1) for f in filters("qcall", share)])
        c.loop_start()
        try:
            assert done.wait(10), "the central broker did not acknowledge the ingest's subscriptions"
        finally:
            c.disconnect()
            c.loop_stop()

    @property
    def port(self) -> int:
        return self.broker.port


@dataclass
class BranchSite:
    """One branch: its broker (bridged to head office), its core, a kiosk and two counters."""

    cfg: BranchConfig
    files: Provisioned
    broker: MosquittoBroker
    runner: CoreRunner
    time: VirtualTime
    clients: dict[str, BusClient] = field(default_factory=dict)
    served: int = 0
    seen: set[tuple[int, int]] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.cfg.branch.id

    def client(self, device: str) -> BusClient:
        if device not in self.clients:
            self.clients[device] = BusClient(
                host=self.broker.host, port=self.broker.port, topics=Topics(self.cfg.bus.prefix, self.id),
                device=device, username=device, password=self.files.password(device)).connect(10)
        return self.clients[device]

    def open_counters(self) -> None:
        for c in COUNTERS:
            teller = self.cfg.teller[c - 1].id
            assert self.client(f"counter{c}").request(m.Login(counter=c, teller=teller, pin=teller), 10).ok

    def busy(self, steps: int, arrivals: int = 3, step_s: float = 120.0) -> None:
        """A busy stretch in virtual time: each step `arrivals` customers (every third a VIP) take a
        number, and each counter finishes (the customer rates it), then calls and starts the next."""
        kiosk = self.client("kiosk1")
        for step in range(steps):
            self.time.elapsed += step_s
            for k in range(arrivals):
                tier = "vip" if (step + k) % 3 == 0 else "normal"
                assert kiosk.request(m.Issue(business="cash", tier=tier), 10).ok
            for c in COUNTERS:
                pad = self.client(f"counter{c}")
                if pad.request(m.FinishService(counter=c), 10).ok:
                    self.served += 1
                    rater = self.client(f"pad{c}")  # the customer's rating pad: tellers cannot rate
                    assert rater.request(m.Rate(counter=c, stars=5 if self.served % 4 else 2), 10).ok
                if pad.request(m.CallNext(counter=c), 10).ok:
                    assert pad.request(m.StartService(counter=c), 10).ok

    def kpis(self) -> dict[str, Any]:
        return stats.kpis(self.runner.store.core, T0 + self.time.elapsed)

    def watch(self) -> None:
        """The branch's own record of what its core published (a manager on the branch broker)."""
        watcher = BusClient(host=self.broker.host, port=self.broker.port,
                            topics=Topics(self.cfg.bus.prefix, self.id), device=MANAGER,
                            username=MANAGER, password=self.files.password(MANAGER))
        watcher.subscribe(watcher.topics.all_events(), m.decode_event,
                          lambda msg: None if isinstance(msg.value, m.Advice)  # not journaled
                          else self.seen.add((msg.value.seq, msg.value.n)))
        self.clients[MANAGER] = watcher.connect(10)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.runner.stop()
        self.broker.close()


def branch_config(branch: str, central_port: int, password_file: Path, cafile: str = "") -> BranchConfig:
    cfg = load(EXAMPLE)
    hq = msgspec.structs.replace(cfg.hq, host="127.0.0.1", port=central_port, password_file=str(password_file),
                                 reconnect_min_s=1, reconnect_max_s=1, cafile=cafile)
    return msgspec.structs.replace(cfg, branch=msgspec.structs.replace(cfg.branch, id=branch), hq=hq)


def start_branch(root: Path, branch: str, central: CentralSite) -> BranchSite:
    cfg = branch_config(branch, central.port, central.files.credentials[hqlink.branch_user(branch)])
    data = root / branch / "data"
    data.mkdir(parents=True, exist_ok=True)
    # Each counter's customer rating pad has its own credential here (a rating tablet): the core
    # takes stars only from `pad<N>`.
    files = provision(cfg, root / branch / "broker", listen_port=free_port(),
                      extra_devices=[f"pad{c}" for c in COUNTERS])
    broker = MosquittoBroker(root / branch / "run",
                             conf=dataclasses.replace(files.settings, persistence_dir=str(data))).start()
    vt = VirtualTime()
    runner = CoreRunner(cfg, root / branch / "journal.db", broker.host, broker.port, clock=vt.clock(),
                        username="core", password=files.password("core"), pins=PinBook.example_for(cfg, CHEAP_COST))
    site = BranchSite(cfg, files, broker, runner, vt)
    site.watch()  # before the core starts: its very first event (the day's reset) is recorded too
    runner.start()
    return site


def hq_config(central: CentralSite, dsn: str, schema: str, branches: list[str], *, user: str = "hq-ingest1",
              **db: Any) -> HqConfig:
    return parse({
        "broker": {"host": "127.0.0.1", "port": central.port, "username": user,
                   "password_file": str(central.files.credentials[user])},
        "database": {"dsn": dsn, "schema": schema, **db},
        "targets": {"wait_minutes": {"vip": 10, "normal": 20}},
        "branch": [{"id": b, "name": f"{b} 支行", "region": "south" if k % 2 == 0 else "east"}
                   for k, b in enumerate(branches)],
    })


def write_hq_toml(cfg: HqConfig, path: Path) -> Path:
    import tomllib  # noqa: F401  (the file is read back by `qcall hq`, which uses tomllib)

    def toml_value(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(toml_value(x) for x in v) + "]"
        return repr(v)

    data = msgspec.to_builtins(cfg)
    out: list[str] = []
    for section in ("hq", "broker", "database", "targets", "web"):
        out.append(f"[{section}]")
        out += [f"{k} = {toml_value(v)}" for k, v in data[section].items()]
    for b in data["branch"]:
        out.append("[[branch]]")
        out += [f"{k} = {toml_value(v)}" for k, v in b.items()]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


class IngestProcess:
    """`qcall hq ingest` as its own process, so a drill can kill it with -9."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "qcall.cli", "hq", "ingest", "--config",
                                      str(self.config)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


def in_process_ingest(cfg: HqConfig, share: str = "") -> Ingest:
    return Ingest(cfg, share=share).start()


def db_rows(dsn: str, schema: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return list(conn.execute(sql, params).fetchall())
