"""TLS on the branch broker and client ids tied to users (issue 10, sections 2 and 3), on a real
Mosquitto started from `qcall provision`'s output (any user; the root-only run of the documented
set-up is tests/test_operations_doc.py)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, loads
from qbus.errors import BusError, ConfigError
from qbus.provision import Provisioned, provision
from qbus.topics import Topics
from tests.bus_helpers import Inbox, provisioned_broker
from tests.conftest import CoreOn
from tests.test_config import EXAMPLE

TLS_BUS = 'tls = true\nca_file = "ca.crt"'


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert 'tls = false\nca_file = ""' in text
    return loads(text.replace('tls = false\nca_file = ""', TLS_BUS))


@pytest.fixture(scope="module")
def tls_broker(cfg: BranchConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, Provisioned]]:
    with provisioned_broker(cfg, tmp_path_factory.mktemp("tls")) as secured:
        yield secured


def _client(cfg: BranchConfig, broker: MosquittoBroker, prov: Provisioned, device: str, **kw: Any) -> BusClient:
    kw.setdefault("ca_file", str(prov.ca))
    return BusClient(host=broker.host, port=broker.port, topics=Topics(cfg.bus.prefix, cfg.branch.id),
                     device=device, username=device, password=prov.password(device), **kw)


def test_provision_makes_a_ca_and_a_tls_only_listener(tls_broker: tuple[MosquittoBroker, Provisioned],
                                                      cfg: BranchConfig, tmp_path: Path) -> None:
    _, prov = tls_broker
    conf = prov.conf.read_text()
    assert f"cafile {prov.ca}" in conf and "certfile" in conf and "tls_version tlsv1.2" in conf
    assert (prov.out_dir / "ca.key").stat().st_mode & 0o077 == 0
    again = provision(cfg, tmp_path / "again")
    assert again.ca is not None
    ca = again.ca.read_bytes()
    third = provision(cfg, tmp_path / "again")
    assert third.ca is not None and third.ca.read_bytes() == ca  # the CA is kept: devices trust it


def test_a_client_connects_over_tls_and_a_plain_one_is_refused(tls_broker: tuple[MosquittoBroker, Provisioned],
                                                               cfg: BranchConfig) -> None:
    broker, prov = tls_broker
    good = _client(cfg, broker, prov, "display1")
    try:
        good.connect(10)
    finally:
        good.close()
    plain = _client(cfg, broker, prov, "display1", ca_file="")
    with pytest.raises(BusError):
        plain.connect(1.5)
    plain.close()
    with pytest.raises(ConfigError, match="ca_file"):
        _client(cfg, broker, prov, "display1", ca_file="/nonexistent/ca.crt")


def test_core_and_kiosk_over_tls_and_nobody_kicks_the_core_off(tls_broker: tuple[MosquittoBroker, Provisioned],
                                                                cfg: BranchConfig, core_on: CoreOn) -> None:
    """The attack of the issue: connecting with the core's client id (`qcall-<branch>-core`) in a
    loop. The broker now names every client after its user, so the impostor only replaces a
    session of its own user; the core stays connected and the kiosk keeps getting tickets."""
    broker, prov = tls_broker
    runner = core_on(broker, cfg, ca_file=str(prov.ca), username="core", password=prov.password("core"))
    drops: list[str] = []
    runner.bus.on_offline = lambda: drops.append("core offline")
    kiosk = _client(cfg, broker, prov, "kiosk1").connect(10)
    try:
        assert kiosk.request(m.Issue(business="cash", kiosk="kiosk1"), 10).ok
        for _ in range(5):
            _connect_as(broker, prov, f"qcall-{cfg.branch.id}-core", "counter1")
        assert kiosk.request(m.Issue(business="cash", kiosk="kiosk1"), 10).ok
        assert runner.bus.online and not drops
    finally:
        kiosk.close()


def _connect_as(broker: MosquittoBroker, prov: Provisioned, client_id: str, user: str) -> None:
    """A raw paho client with `user`'s password and someone else's client id, until CONNACK."""
    connected = Inbox()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    c.tls_set_context(ssl.create_default_context(cafile=str(prov.ca)))
    c.username_pw_set(user, prov.password(user))
    c.on_connect = lambda *args: connected(args)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert connected.wait_count(1, timeout=10)
    finally:
        c.disconnect()
        c.loop_stop()
