"""Shared fixtures: real brokers (Mosquitto on a free loopback port, the embedded amqtt) and bus
clients that are closed after the test."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

import pytest
from selenium import webdriver

import qserver.clock
from qbus.broker import EmbeddedBroker, MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, load
from qbus.topics import Topics
from qserver.clock import BranchClock
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.browser import open_chromium
from tests.pg_cluster import PgCluster

TEST_BRANCH = "testbranch"


class Broker(Protocol):
    host: str
    port: int


@pytest.fixture(autouse=True)
def synced_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS's "clock is synchronised" answer, stood in as yes: this container's kernel clock is
    never NTP-disciplined (a boundary no machine here has). Tests of an unconfirmed clock inject
    their own `synced` probe into BranchClock."""
    monkeypatch.setattr(qserver.clock, "system_time_synced", lambda *_: True)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real Mosquitto (anonymous, persistence on) on a free loopback port.
    `mosquitto.restart()` kills it (-9) and starts it again on the same port."""
    broker = MosquittoBroker(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def volatile_mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Mosquitto with persistence off: a restart loses every retained message (the worst case)."""
    broker = MosquittoBroker(tmp_path / "volatile", persistence=False).start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The demo's in-process amqtt broker on a free loopback port."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topics() -> Topics:
    return Topics("qcall", TEST_BRANCH)


class BusOptions(TypedDict, total=False):
    """BusClient's optional keywords, as tests hand them through make_bus and core_on."""

    kind: str
    username: str
    password: str
    keepalive_s: int
    command_timeout_s: float
    retry_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    act_as: Iterable[str]
    clean_session: bool
    ca_file: str
    max_packet_size: int
    max_inflight: int


class MakeBus(Protocol):
    """The `make_bus` fixture: a client for `device` on `broker` (connected unless told not)."""

    def __call__(self, broker: Broker, device: str, *, connect: bool = True, topics: Topics | None = None,
                 **options: Unpack[BusOptions]) -> BusClient: ...


class CoreOn(Protocol):
    """The `core_on` fixture: the real core service started on `broker`."""

    def __call__(self, broker: Broker, cfg: BranchConfig | None = None, pins: PinBook | None = None, *,
                 clock: BranchClock | None = None, **options: Unpack[BusOptions]) -> CoreRunner: ...


def with_topics(make_bus: MakeBus, default: Topics) -> MakeBus:
    """`make_bus` whose clients use `default` topics unless told otherwise (e.g. the example branch's)."""

    def make(broker: Broker, device: str, *, connect: bool = True, topics: Topics | None = None,
             **options: Unpack[BusOptions]) -> BusClient:
        return make_bus(broker, device, connect=connect, topics=topics or default, **options)

    return make


@pytest.fixture
def make_bus(topics: Topics) -> Iterator[MakeBus]:
    default_topics = topics
    """`make_bus(broker, "kiosk1", connect=True, **BusClient kwargs)`: a client closed at teardown."""
    made: list[BusClient] = []

    def make(broker: Broker, device: str, *, connect: bool = True, topics: Topics | None = None,
             **options: Unpack[BusOptions]) -> BusClient:
        client = BusClient(host=broker.host, port=broker.port, device=device, topics=topics or default_topics,
                           **options)
        made.append(client)
        return client.connect(10.0) if connect else client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def core_on(tmp_path: Path) -> Iterator[CoreOn]:
    """`core_on(broker, cfg=example branch, clock=None)`: the real core service on that broker,
    journaling to a fresh SQLite file (the same file for every start in one test); stopped after
    the test. Pass a BranchClock with an injected monotonic clock to move branch time by hand."""
    runners: list[CoreRunner] = []

    def start(broker: Broker, cfg: BranchConfig | None = None, pins: PinBook | None = None, *,
              clock: BranchClock | None = None, **options: Unpack[BusOptions]) -> CoreRunner:
        cfg = cfg or load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
        r = CoreRunner(cfg, tmp_path / "journal.db", broker.host, broker.port, clock=clock,
                       pins=pins or PinBook.example_for(cfg, CHEAP_COST), **options).start()
        runners.append(r)
        return r

    yield start
    for r in runners:
        r.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """One real throw-away PostgreSQL cluster for the whole run (`postgres.dsn`); tests that use
    it make their own schema or database, so they do not see each other's rows."""
    with PgCluster() as pg:
        yield pg


@pytest.fixture
def chromium() -> Iterator[webdriver.Chrome]:
    """A real headless Chromium (1920×1080) with a fresh profile, quit after the test."""
    driver = open_chromium()
    try:
        yield driver
    finally:
        driver.quit()
