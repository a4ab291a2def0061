"""`qcall provision` output running in a real Mosquitto: each role is held to its topics by the
broker itself, and a wrong password is refused.

A refused publish is silent in MQTT 3.1.1 (the broker acks and drops it), so each test publishes
the forbidden message and then an allowed marker on the same connection: once the marker arrives,
the forbidden one would have arrived before it if the broker had let it through.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, load, loads
from qbus.config.sections import BusSection
from qbus.errors import BusError, ConfigError
from qbus.provision import Provisioned, broker_gid, password_hash, provision, verify_password
from qbus.roles import may_send
from qbus.topics import Topics
from tests.bus_helpers import FakeCore, Inbox, provisioned_broker

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"
Login = Callable[..., BusClient]
SERIAL = """
[[serial]]
port = "/dev/ttyUSB0"
rs485 = true
devices = [{ address = 1, counter = 1 }, { address = 2, counter = 2, kind = "rating" }]
"""


@pytest.fixture(scope="module")
def cfg() -> BranchConfig:
    return loads(EXAMPLE.read_text(encoding="utf-8") + SERIAL)


@pytest.fixture(scope="module")
def secured(cfg: BranchConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, Provisioned]]:
    """The example branch provisioned, its own mosquitto.conf running on a free loopback port."""
    with provisioned_broker(cfg, tmp_path_factory.mktemp("secured")) as secured:
        yield secured


@pytest.fixture
def login(secured: tuple[MosquittoBroker, Provisioned], cfg: BranchConfig) -> Iterator[Login]:
    """`login(device, password=None, connect=True, **kw)`: a client with the device's credential."""
    broker, prov = secured
    made: list[BusClient] = []

    def make(device: str, password: str | None = None, connect: bool = True, **kw: Any) -> BusClient:
        client = BusClient(host=broker.host, port=broker.port, topics=Topics(cfg.bus.prefix, cfg.branch.id),
                           device=device, username=device,
                           password=prov.password(device) if password is None else password, **kw)
        made.append(client)
        return client.connect(5) if connect else client

    yield make
    for client in made:
        client.close()


def _commands_seen_by_core(login: Login) -> tuple[BusClient, Inbox]:
    core: BusClient = login("core", connect=False)
    inbox = Inbox()
    core.subscribe(core.topics.all_commands(), m.decode_request, inbox)
    core.subscribe(core.topics.all_presence(), m.Presence, inbox)
    core.connect(5)
    return core, inbox


def _req(cmd: m.Command, rid: str) -> bytes:
    return m.encode(m.Request(id=rid, cmd=cmd))


def test_a_kiosk_cannot_call_a_number_for_a_counter(login: Login) -> None:
    core, seen = _commands_seen_by_core(login)
    kiosk: BusClient = login("kiosk1")
    t = kiosk.topics
    kiosk.publish_raw(t.cmd("counter3"), _req(m.CallNext(counter=3), "forbidden"))
    kiosk.publish_raw(t.cmd("kiosk1"), _req(m.Issue(business="cash"), "marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "id", "") == "marker" for r in items))
    assert [r.value.id for r in seen.items if isinstance(r.value, m.Request)] == ["marker"]


def test_a_kiosk_payload_the_acl_cannot_see_is_left_to_the_core(login: Login) -> None:
    """The broker lets a kiosk's own topic through whatever it says; may_send is the core's check."""
    core, seen = _commands_seen_by_core(login)
    kiosk: BusClient = login("kiosk1")
    kiosk.publish_raw(kiosk.topics.cmd("kiosk1"), _req(m.CallNext(counter=3), "sneaky"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "id", "") == "sneaky" for r in items))
    assert not may_send("kiosk1", m.CallNext(counter=3))


def test_the_display_cannot_rate(login: Login) -> None:
    core, seen = _commands_seen_by_core(login)
    display: BusClient = login("display1")
    t = display.topics
    display.publish_raw(t.cmd("display1"), _req(m.Rate(counter=3, stars=1), "rate-own"))
    display.publish_raw(t.cmd("counter3"), _req(m.Rate(counter=3, stars=1), "rate-counter"))
    display.publish(t.presence("display1"), m.Presence(device="display1", online=True, detail="marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "detail", "") == "marker" for r in items))
    assert not [r for r in seen.items if isinstance(r.value, m.Request)]


def test_counter_2_cannot_command_counter_3_nor_read_its_replies(login: Login) -> None:
    core, seen = _commands_seen_by_core(login)
    counter2: BusClient = login("counter2", connect=False)
    overheard = Inbox()
    counter2.subscribe(counter2.topics.reply("counter3"), m.Reply, overheard)
    counter2.connect(5)
    counter3: BusClient = login("counter3")
    own = Inbox()
    counter3.subscribe(counter3.topics.reply("counter3"), m.Reply, own)
    t = counter2.topics
    counter2.publish_raw(t.cmd("counter3"), _req(m.CallNext(counter=3), "forbidden"))
    counter2.publish_raw(t.cmd("counter2"), _req(m.CallNext(counter=2), "marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "id", "") == "marker" for r in items))
    assert [r.value.id for r in seen.items if isinstance(r.value, m.Request)] == ["marker"]

    core.publish(t.reply("counter3"), m.Reply(id="for-3", ok=True))
    assert own.wait_count(1)
    mine = Inbox()
    counter2.subscribe(t.reply("counter2"), m.Reply, mine)
    core.publish(t.reply("counter2"), m.Reply(id="for-2", ok=True))
    assert mine.wait_for(lambda items: any(r.value.id == "for-2" for r in items))
    assert not overheard.items


def test_the_bridge_speaks_only_for_its_wired_counters(login: Login) -> None:
    core, seen = _commands_seen_by_core(login)
    bridge: BusClient = login("bridge1", act_as=("counter1", "counter2"))
    t = bridge.topics
    bridge.publish_raw(t.cmd("counter5"), _req(m.CallNext(counter=5), "forbidden"))
    bridge.publish_raw(t.cmd("counter1"), _req(m.CallNext(counter=1), "marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "id", "") == "marker" for r in items))
    assert [r.value.id for r in seen.items if isinstance(r.value, m.Request)] == ["marker"]


def test_the_bridge_reports_only_its_own_counters_pads_and_hears_ratings(login: Login) -> None:
    core, seen = _commands_seen_by_core(login)
    bridge: BusClient = login("bridge1", connect=False, act_as=("counter1", "counter2"))
    heard = Inbox()
    bridge.subscribe(bridge.topics.event("rated"), m.decode_event, heard)
    bridge.subscribe(bridge.topics.event("called"), m.decode_event, heard)
    bridge.connect(5)
    t = bridge.topics
    bridge.publish(t.presence("pad5"), m.Presence(device="pad5", online=True, detail="forbidden"))
    bridge.publish(t.presence("pad2"), m.Presence(device="pad2", online=True, detail="marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "detail", "") == "marker" for r in items))
    assert not [r for r in seen.items if getattr(r.value, "detail", "") == "forbidden"]

    core.publish(t.event("called"), m.TicketCalled(at=1.0, number="A001", counter=1, business="cash",
                                                   tier="normal", waited_s=0.0))
    core.publish(t.event("rated"), m.ServiceRated(at=2.0, number="A001", counter=1, stars=5))
    assert heard.wait_count(1)
    assert [type(x) for x in heard.values()] == [m.ServiceRated]  # it reads ratings, not every event


def test_ratings_come_only_through_the_rating_pads_topic(login: Login) -> None:
    """Counter 2 has a rating pad on bridge1's line, counter 1 only a keypad: the bridge may rate
    for counter 2 alone, and no counter credential may rate at all."""
    core, seen = _commands_seen_by_core(login)
    counter2: BusClient = login("counter2")
    bridge: BusClient = login("bridge1", act_as=("counter1", "counter2", "pad2"))
    t = bridge.topics
    counter2.publish_raw(t.cmd("pad2"), _req(m.Rate(counter=2, stars=1), "teller-rates-self"))
    bridge.publish_raw(t.cmd("pad1"), _req(m.Rate(counter=1, stars=1), "no-pad-there"))
    bridge.publish_raw(t.cmd("pad2"), _req(m.Rate(counter=2, stars=5), "marker"))
    assert seen.wait_for(lambda items: any(getattr(r.value, "id", "") == "marker" for r in items))
    assert [r.value.id for r in seen.items if isinstance(r.value, m.Request)] == ["marker"]
    heard = Inbox()
    bridge.subscribe(t.reply("pad2"), m.Reply, heard)
    core.publish(t.reply("pad2"), m.Reply(id="marker", ok=True))
    assert heard.wait_count(1)  # the bridge hears the core's answer to the pad


def test_provisioned_devices_work_end_to_end(login: Login) -> None:
    core = login("core", connect=False)
    FakeCore(core)
    core.connect(5)
    kiosk: BusClient = login("kiosk1")
    assert kiosk.request(m.Issue(business="cash"), timeout=5).ok
    bridge: BusClient = login("bridge1", act_as=("counter1", "counter2"))
    assert bridge.request(m.CallNext(counter=2), timeout=5, device="counter2").ok


@pytest.mark.parametrize(("device", "password"), [("kiosk1", "wrong"), ("nobody", "x"), ("kiosk1", "")])
def test_a_wrong_password_is_refused(login: Login, device: str, password: str) -> None:
    with pytest.raises(BusError, match="refused: Not authorized") as caught:
        login(device, password=password, connect=False).connect(timeout=3)
    assert isinstance(caught.value, ConnectionError)


def test_provision_keeps_passwords_private_and_stable(cfg: BranchConfig, tmp_path: Path) -> None:
    first = provision(cfg, tmp_path)
    devices = set(first.credentials)
    assert {"core", "manager1", "display1", "kiosk1", "bridge1"} <= devices
    assert {f"counter{c.id}" for c in cfg.counter} <= devices
    for path in first.credentials.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    gid = broker_gid()  # as root: mosquitto's group may read what it reads after dropping root
    for path in (first.passwd, first.acl, first.conf):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == (0o640 if gid is not None else 0o600), path
        assert gid is None or st.st_gid == gid
    passwords = {d: first.password(d) for d in devices}
    assert len(set(passwords.values())) == len(devices)
    for line in first.passwd.read_text().splitlines():
        user, hashed = line.split(":", 1)
        assert verify_password(passwords[user], hashed)
        assert passwords[user] not in first.passwd.read_text()

    again = provision(cfg, tmp_path)
    assert again.created == ()
    assert {d: again.password(d) for d in devices} == passwords
    rotated = provision(cfg, tmp_path, rotate=True)
    assert set(rotated.created) == devices
    assert all(rotated.password(d) != passwords[d] for d in devices)


def test_listener_is_loopback_unless_the_config_names_a_lan_address(cfg: BranchConfig, tmp_path: Path) -> None:
    text = provision(cfg, tmp_path / "a").conf.read_text()
    assert "listener 1883 127.0.0.1" in text and "allow_anonymous false" in text
    # a drop-in for Debian's conf.d: the main mosquitto.conf already sets these (a second
    # persistence_location stops mosquitto 2.0 from starting)
    assert "persistence_location" not in text and "log_dest" not in text and "pid_file" not in text
    assert "use_username_as_clientid true" in text
    lan = provision(cfg, tmp_path / "b", listen_host="192.168.10.2").conf.read_text()
    assert "listener 1883 192.168.10.2" in lan


def test_our_hashes_and_mosquitto_passwd_agree(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd not installed")
    pwfile = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(pwfile), "teller", "s3cret-密码"], check=True, capture_output=True)
    theirs = pwfile.read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret-密码", theirs)
    assert not verify_password("s3cret", theirs)
    ours = password_hash("s3cret-密码")
    assert ours.startswith("$7$101$") and verify_password("s3cret-密码", ours)


def test_the_shipped_example_files_match_the_generator(tmp_path: Path) -> None:
    """deploy/mosquitto/ holds what `qcall provision` writes for examples/branch.toml."""
    deploy = EXAMPLE.parents[1] / "deploy" / "mosquitto"
    prov = provision(load(EXAMPLE), tmp_path)
    shipped_acl = (deploy / "acl.example").read_text()
    assert shipped_acl == prov.acl.read_text()
    shipped_conf = (deploy / "mosquitto.conf.example").read_text()
    assert shipped_conf == prov.conf.read_text().replace(str(tmp_path), "/etc/mosquitto/qcall")


def test_one_branch_bus_section_serves_every_device(secured: tuple[MosquittoBroker, Provisioned],
                                                    cfg: BranchConfig) -> None:
    """[bus] password_file may name `{device}`: the same branch file configures each device."""
    broker, prov = secured
    section = BusSection(host=broker.host, port=broker.port,
                         password_file=str(prov.out_dir / "credentials" / "{device}.password"))
    for device in ("kiosk1", "counter4", "display1"):
        client = BusClient.from_config(section, cfg.branch.id, device)
        try:
            client.connect(5)
        finally:
            client.close()
    with pytest.raises(ConfigError, match="cannot read"):
        BusClient.from_config(section, cfg.branch.id, "kiosk9")
    with pytest.raises(ConfigError, match="embedded broker"):
        BusClient.from_config(BusSection(), cfg.branch.id, "kiosk1")
