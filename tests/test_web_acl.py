"""The broker holds the web service's lobby identity to the lobby's rights, whatever the web code
does: on the real Mosquitto with `qcall provision`'s ACL and the real core, a lobby request
published as the manager's identity never reaches the core, and a manager-only op sent on the
lobby's own topic is refused by the core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.client import BusClient
from qbus.config import BranchConfig, load
from qbus.provision import Provisioned, provision
from qbus.topics import Topics
from qserver.runner import CoreRunner

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[BranchConfig, MosquittoBroker, Provisioned, CoreRunner]]:
    cfg = load(EXAMPLE)
    prov = provision(cfg, tmp_path / "etc", listen_port=free_port())
    with MosquittoBroker(tmp_path / "run", conf=prov.settings).start() as broker:
        core = CoreRunner(cfg, tmp_path / "journal.db", broker.host, broker.port, username="core",
                          password=prov.password("core")).start()
        try:
            yield cfg, broker, prov, core
        finally:
            core.stop()


def client(cfg: BranchConfig, broker: MosquittoBroker, prov: Provisioned, device: str, *,
           as_user: str = "") -> BusClient:
    user = as_user or device
    return BusClient(host=broker.host, port=broker.port, topics=Topics(cfg.bus.prefix, cfg.branch.id),
                     device=device, username=user, password=prov.password(user), command_timeout_s=3)


def test_the_lobby_identity_cannot_act_as_the_manager(secured: tuple[BranchConfig, MosquittoBroker, Provisioned, CoreRunner]) -> None:
    cfg, broker, prov, core = secured
    manager = client(cfg, broker, prov, "web1").connect(5)
    lobby = client(cfg, broker, prov, "web_lobby1").connect(5)
    try:
        assert manager.request(m.OpenCounter(counter=1, by="zhou")).ok
        # 1. The broker: a close published on the manager's command topic with the lobby's login.
        forged = m.Request(id="forged-close", cmd=m.CloseCounter(counter=1, by="zhao"))
        lobby.publish_raw(manager.topics.cmd("web1"), m.encode(forged))
        # ... then an allowed request on the same connection: once its reply is back, the forged
        # one would have reached the core before it (one connection, in order) had the ACL let it.
        assert lobby.request(m.AckAlert(key="paper:kiosk1:1", by="zhao")).ok
        # 2. The core: a close on the lobby's own topic is refused, whoever it names.
        reply = lobby.request(m.CloseCounter(counter=1, by="zhou"))
        assert not reply.ok and reply.error is not None and reply.error.code == "forbidden"
        # 3. And a command from the web service that names nobody is refused too.
        nobody = manager.request(m.Cancel(number="A001"))
        assert not nobody.ok and nobody.error is not None and "name the person" in nobody.error.en
        assert core.service.store.core.counters[1].status == "idle"
        rids = [row.rid for row in core.store.journal.rows(0)]
        assert "forged-close" not in rids
    finally:
        lobby.close()
        manager.close()


def test_the_lobby_identity_reads_nothing_of_the_branch(secured: tuple[BranchConfig, MosquittoBroker, Provisioned, CoreRunner]) -> None:
    cfg, broker, prov, core = secured
    got: list[str] = []
    lobby = client(cfg, broker, prov, "web_lobby1")
    lobby.subscribe(lobby.topics.all_state(), bytes, lambda msg: got.append(msg.topic))
    lobby.connect(5)
    reader = client(cfg, broker, prov, "web1")
    seen: list[str] = []
    reader.subscribe(reader.topics.all_state(), bytes, lambda msg: seen.append(msg.topic))
    reader.connect(5)
    try:
        # web1 gets the retained state; by the time its own request is answered the lobby's
        # subscription (made earlier) would have had it too.
        assert reader.request(m.AckAlert(key="k", by="zhou")).ok
        assert any(t.endswith("/state/hall") for t in seen)
        assert got == []
    finally:
        lobby.close()
        reader.close()


def test_the_door_posters_identity_only_takes_walk_in_numbers(tmp_path: Path) -> None:
    """[web] poster on: `web_poster1` gets its own credential; the broker keeps it off the other
    identities' topics and the core allows it a walk-in `issue` and nothing else."""
    base = load(EXAMPLE)
    cfg = msgspec.structs.replace(base, web=msgspec.structs.replace(base.web, poster=True,
                                                                   base_url="https://q.bank.example"))
    prov = provision(cfg, tmp_path / "etc", listen_port=free_port())
    with MosquittoBroker(tmp_path / "run", conf=prov.settings).start() as broker:
        core = CoreRunner(cfg, tmp_path / "journal.db", broker.host, broker.port, username="core",
                          password=prov.password("core")).start()
        poster = client(cfg, broker, prov, "web_poster1").connect(5)
        try:
            forged = m.Request(id="forged-grant", cmd=m.Issue(business="cash", tier="priority", granted_by="zhao",
                                                              via="staff"))
            poster.publish_raw(poster.topics.cmd("web_lobby1"), m.encode(forged))  # as the lobby: dropped
            ticket = poster.request(m.Issue(business="cash"))
            assert ticket.ok and ticket.ticket is not None and ticket.ticket.via == "poster"
            for cmd in (m.Issue(business="cash", tier="vip"), m.Cancel(number=ticket.ticket.number, by="zhao")):
                refused = poster.request(cmd)
                assert not refused.ok and refused.error is not None and refused.error.code == "forbidden"
            assert "forged-grant" not in [row.rid for row in core.store.journal.rows(0)]
            assert [t.number for t in core.service.store.core.waiting_list()] == [ticket.ticket.number]
        finally:
            poster.close()
            core.stop()
